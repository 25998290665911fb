/**
 * The one log line per request of the embedded gateway: who (tenant, user, role, client address),
 * what (method, route name and group, the URL without secrets), the answer (status) and the time it
 * took. Tokens and one-time codes travel in query strings (`?apikey=`, signed storage URLs, email
 * links, OAuth callbacks): their values never reach the log.
 */
import type { EdgeIdentity } from '../core/caller.ts';
import { NO_TENANT } from '../core/caller.ts';
import type { RouteDef } from './routes.ts';
import type { RequestLogEntry } from '../ops/request-log-store.ts';

/** Query parameters whose values are secrets (compared case-insensitively). */
export const SECRET_QUERY_PARAMS = new Set([
  'apikey',
  'access_token',
  'refresh_token',
  'id_token',
  'provider_token',
  'provider_refresh_token',
  'token',
  'token_hash',
  'code',
  'code_verifier',
  'nonce',
  'password',
  'secret',
  'state',
  'jwt',
]);

/** Any secret name anywhere (case-insensitively): SECRET_QUERY_PARAMS as one regular expression. */
const SECRET_NAME = new RegExp([...SECRET_QUERY_PARAMS].join('|'), 'i');

/** `url` with the value of every secret query parameter replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  // Printable ASCII without escapes or `+`: the names are as written, and when none of the
  // secret names appears in the query at all (most requests), there is nothing to redact.
  const query = url.slice(q + 1);
  if (!/[^\x21-\x7e]|[%+]/.test(query) && !SECRET_NAME.test(query)) return url;
  const parts = query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const raw = eq === -1 ? pair : pair.slice(0, eq);
    let name = raw;
    try {
      name = decodeURIComponent(raw.replace(/\+/g, ' '));
    } catch {
      // a malformed escape: judged as written
    }
    return SECRET_QUERY_PARAMS.has(name.toLowerCase()) && eq !== -1 ? `${raw}=[redacted]` : pair;
  });
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

/** The fields of the line (and of a row of nextmavens.request_log, ops/request-log-store.ts). */
export type RequestLogFields = Omit<RequestLogEntry, 'at' | 'method'> & { method: string | undefined };

export function requestLogFields(p: {
  reqId: string;
  method: string | undefined;
  url: string;
  route: RouteDef | undefined;
  status: number;
  started: number;
  identity?: EdgeIdentity;
  ip?: string;
}): RequestLogFields {
  const { identity } = p;
  return {
    reqId: p.reqId,
    method: p.method,
    url: redactUrl(p.url),
    route: p.route?.name ?? 'gateway',
    service: p.route?.service,
    group: p.route?.group,
    status: p.status,
    ms: Math.round((performance.now() - p.started) * 10) / 10,
    tenant: identity && identity.tenantId !== NO_TENANT ? identity.tenantId : undefined,
    user: identity?.userId || undefined,
    role: identity?.role,
    ip: p.ip,
  };
}
