/**
 * Who may read operations data: the service_role key (as `apikey` or `Authorization: Bearer`)
 * or a dedicated token (METRICS_TOKEN for /metrics, DEPLOY_HOOK_TOKEN for the deployment hooks).
 * Compared in constant time over SHA-256 digests, so neither length nor prefix leaks.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The token a request presents: `Authorization: Bearer …`, else the `apikey` header. */
export function presentedToken(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const apikey = headers.apikey;
  return typeof apikey === 'string' && apikey.trim() ? apikey.trim() : undefined;
}

/** Whether `presented` equals one of `accepted` (unset entries never match). */
export function tokenMatches(presented: string | undefined, accepted: readonly (string | undefined)[]): boolean {
  if (!presented) return false;
  const p = digest(presented);
  let ok = false;
  for (const a of accepted) if (a && timingSafeEqual(p, digest(a))) ok = true;
  return ok;
}
