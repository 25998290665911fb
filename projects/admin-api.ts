/**
 * The projects' admin API on the default project's URL, for its service_role key (and, with
 * ADMIN_IP_ALLOWLIST, from an allowed address only):
 *
 *   GET    /projects/v1/projects             the projects (never their keys)
 *   POST   /projects/v1/projects             {"ref", "server"?, "settings"?, "limits"?} → 201, with its keys
 *   GET    /projects/v1/projects/<ref>       one project
 *   GET    /projects/v1/projects/<ref>/keys  its URL, anon and service_role keys, JWT secret
 *   POST   /projects/v1/projects/<ref>/pause | /resume
 *   DELETE /projects/v1/projects/<ref>       backup first (?backup=false: none), then deleted
 *
 * Errors are `{code, message}` with a 4xx (a 503 when the backup before a delete fails).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { verifyRequest } from '../core/caller.ts';
import type { JwtVerifier } from '../core/jwt.ts';
import type { EdgeGuard } from '../gateway/edge.ts';
import type { ProjectsAdmin } from './manage.ts';
import { ProjectError } from './names.ts';
import type { ProjectLimits, ProjectSettings } from './store.ts';

export const ADMIN_API_PREFIX = '/projects/v1';
const MAX_BODY = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store' });
  res.end(payload);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new ProjectError(413, 'payload_too_large', `The body is over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  if (!size) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ProjectError(400, 'invalid_json', 'The body is not JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ProjectError(400, 'invalid_body', 'The body must be a JSON object');
  return value as Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const count = (v: unknown) => v === undefined || (Number.isSafeInteger(v) && (v as number) >= 0);

/** The settings and limits of a create request, checked field by field. */
export function parseCreate(body: Record<string, unknown>): { ref: string; server?: string; settings: ProjectSettings; limits: ProjectLimits } {
  const bad = (m: string) => new ProjectError(400, 'invalid_body', m);
  if (typeof body.ref !== 'string') throw bad('"ref" (a string) is required');
  if (body.server !== undefined && typeof body.server !== 'string') throw bad('"server" must be a string');
  const s = body.settings ?? {}, l = body.limits ?? {};
  if (!isObject(s) || !isObject(l)) throw bad('"settings" and "limits" must be objects');
  if (s.site_url !== undefined && (typeof s.site_url !== 'string' || !URL.canParse(s.site_url))) throw bad('settings.site_url must be an absolute URL');
  if (s.autoconfirm !== undefined && typeof s.autoconfirm !== 'boolean') throw bad('settings.autoconfirm must be true or false');
  for (const k of ['db_bytes', 'storage_bytes', 'connections'] as const) if (!count(l[k])) throw bad(`limits.${k} must be a whole number ≥ 0`);
  const rates = l.rate_limits ?? {};
  if (!isObject(rates) || !Object.entries(rates).every(([k, v]) => ['rest', 'graphql', 'storage', 'realtime', 'auth'].includes(k) && count(v))) {
    throw bad('limits.rate_limits maps rest, graphql, storage, realtime and auth to requests per minute');
  }
  const settings: ProjectSettings = { ...(s.site_url !== undefined && { site_url: s.site_url as string }), ...(s.autoconfirm !== undefined && { autoconfirm: s.autoconfirm as boolean }) };
  const limits: ProjectLimits = {};
  for (const k of ['db_bytes', 'storage_bytes', 'connections'] as const) if (l[k] !== undefined) limits[k] = l[k] as number;
  if (Object.keys(rates).length) limits.rate_limits = rates as ProjectLimits['rate_limits'];
  return { ref: body.ref, server: body.server as string | undefined, settings, limits };
}

/**
 * `evict` forgets this instance's cached record and service set of a project whose status or
 * existence the API just changed, before the answer goes out: a pause holds from the next request
 * here, not only once the registry's NOTIFY arrives (which evicts it on the other instances).
 */
export function projectsAdminApi(opts: { admin: ProjectsAdmin; verifier: JwtVerifier; guard: EdgeGuard; log: Logger; evict?: (ref: string) => Promise<void> }) {
  const evicted = async <T>(ref: string, result: T): Promise<T> => (await opts.evict?.(ref), result);
  async function route(req: IncomingMessage, path: string, query: URLSearchParams): Promise<[number, unknown]> {
    const result = await verifyRequest(opts.verifier, req.headers, req.url);
    if (!result.ok) return [result.status, result.body];
    if (result.identity.role !== 'service_role') return [403, { code: 'forbidden', message: 'The projects API needs the service_role key of the default project' }];
    if (!opts.guard.adminAllowed(path, 'service_role', opts.guard.clientAddress(req))) return [403, { code: 'address_not_allowed', message: 'Not allowed from this address' }];
    const parts = path.slice(ADMIN_API_PREFIX.length).split('/').filter(Boolean);
    const method = req.method ?? 'GET';
    if (parts[0] !== 'projects' || parts.length > 3) return [404, { code: 'not_found', message: 'No such endpoint' }];
    const [, ref, action] = parts;
    const { admin } = opts;
    if (!ref) {
      if (method === 'GET') return [200, await admin.list()];
      if (method === 'POST') {
        const body = parseCreate(await readJson(req));
        const created = await admin.create(body.ref, body);
        return [201, created];
      }
    } else if (!action) {
      if (method === 'GET') return [200, await admin.get(ref)];
      if (method === 'DELETE') return [200, await evicted(ref, await admin.delete(ref, { backup: query.get('backup') !== 'false' }))];
    } else if (action === 'keys' && method === 'GET') return [200, await admin.keys(ref)];
    else if ((action === 'pause' || action === 'resume') && method === 'POST') return [200, await evicted(ref, await admin.setStatus(ref, action === 'pause' ? 'paused' : 'active'))];
    return [405, { code: 'method_not_allowed', message: `${method} is not allowed here` }];
  }

  /** Handles `/projects/v1/…` (true), else false. */
  return function handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== ADMIN_API_PREFIX && !path.startsWith(`${ADMIN_API_PREFIX}/`)) return false;
    route(req, path, new URLSearchParams(q === -1 ? '' : url.slice(q + 1))).then(
      ([status, body]) => send(res, status, body),
      (err: Error) => {
        if (err instanceof ProjectError) return send(res, err.status, { code: err.code, message: err.message });
        opts.log.error({ err }, 'projects API failed');
        send(res, 500, { code: 'internal_error', message: 'The projects API failed' });
      },
    );
    return true;
  };
}
