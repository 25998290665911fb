/**
 * Runs work as the caller: one transaction in which `role`, `request.jwt.claims` and the request
 * GUCs are set transaction-locally (set_config(..., true)) in a single statement, exactly as
 * PostgREST does, so the same RLS policies decide for REST, GraphQL, realtime and storage.
 */
import type pg from 'pg';
import { prepared } from './prepared.ts';
import { roleSettingsFor } from './role-settings.ts';
import { claimedTenant } from './tenants.ts';

export type JwtClaims = Record<string, unknown>;

export interface RequestInfo {
  method?: string;
  path?: string;
  /** Request headers with lower-cased names (Cookie excluded, as PostgREST does). */
  headers?: Record<string, string>;
  cookies?: Record<string, string>;
}

export interface RequestContextOptions {
  /** GET/HEAD requests run READ ONLY. */
  readOnly?: boolean;
  request?: RequestInfo;
  /** The role for claims without a `role` claim (and for no claims at all). */
  anonRole?: string;
  /** More transaction-local settings, set in the same statement (e.g. search_path, timezone). */
  settings?: Record<string, string>;
  /** The role's own settings (ALTER ROLE … SET), applied first; withRequestContext looks them up. */
  roleSettings?: Readonly<Record<string, string>>;
  /** Roll back instead of committing (Prefer: tx=rollback). */
  rollback?: boolean;
  /**
   * `fn` sends its one query before its first await, and nothing it checks afterwards needs the
   * transaction rolled back: the COMMIT then goes out right behind it, so the whole request is a
   * single round trip (for a write too; when the query fails, Postgres ends the aborted
   * transaction at that COMMIT, and a COMMIT that fails, e.g. on a deferred constraint, fails the
   * request).
   */
  singleQuery?: boolean;
}

export const DEFAULT_ANON_ROLE = 'anon';

/**
 * The per-request check every transaction as the caller starts with (sql/0026_tenant_rbac.sql):
 * auth.check_tenant(tenant) raises SQLSTATE PT403 (detail `tenant_suspended`) for a suspended
 * tenant's caller. It is the last call of the context statement, so it costs no statement of its
 * own. Compose's PostgREST runs auth.check_request(), the same check, as its db-pre-request.
 */
export const CHECK_REQUEST = 'auth.check_request()';

/** Is this the error auth.check_tenant() / auth.check_request() raise for a suspended tenant? */
export const isTenantSuspended = (err: unknown): boolean =>
  (err as { code?: unknown })?.code === 'PT403' && (err as { detail?: unknown }).detail === 'tenant_suspended';

/** The effective role of a request: the `role` claim when it is a non-empty string, else anon. */
export function roleOf(claims: JwtClaims | null | undefined, anonRole = DEFAULT_ANON_ROLE): string {
  const role = claims?.role;
  return typeof role === 'string' && role.length > 0 ? role : anonRole;
}

/**
 * The text of a context statement of `pairs` set_config calls (and the tenant check): it depends
 * on their number only, so each is built once and every request of that shape reuses the same
 * string (db/prepared.ts names it by a map lookup of that string, not a rebuilt copy).
 */
const settingsTexts: string[] = [];
const contextTexts: string[] = [];
function settingsText(pairs: number): string {
  let text = settingsTexts[pairs];
  if (text === undefined) {
    const calls: string[] = [];
    for (let i = 1; i <= pairs; i++) calls.push(`set_config($${2 * i - 1}, $${2 * i}, true)`);
    settingsTexts[pairs] = text = `select ${calls.join(', ')}`;
  }
  return text;
}

/** The statement that sets the request context, and its parameters (every value bound); no tenant check. */
export function settingsStatement(claims: JwtClaims | null | undefined, opts: RequestContextOptions = {}): pg.QueryConfig & { values: (string | null)[] } {
  const role = roleOf(claims, opts.anonRole);
  const req = opts.request ?? {};
  const values: (string | null)[] = [];
  const merged = opts.roleSettings && opts.settings ? { ...opts.roleSettings, ...opts.settings } : (opts.settings ?? opts.roleSettings);
  if (merged) for (const name of Object.keys(merged)) values.push(name, merged[name]);
  values.push(
    'role',
    role,
    'request.jwt.claims',
    JSON.stringify({ ...claims, role }),
    'request.method',
    req.method ?? '',
    'request.path',
    req.path ?? '',
    'request.headers',
    JSON.stringify(req.headers ?? {}),
    'request.cookies',
    JSON.stringify(req.cookies ?? {}),
  );
  return { text: settingsText(values.length / 2), values };
}

/**
 * The statement that sets the request context and refuses a suspended tenant's caller: the
 * settings, then auth.check_tenant() of the claims' tenant (bound as a uuid, or null), whose
 * lookup is a primary-key probe.
 */
export function contextStatement(claims: JwtClaims | null | undefined, opts: RequestContextOptions = {}): pg.QueryConfig {
  const { values } = settingsStatement(claims, opts);
  const pairs = values.length / 2;
  values.push(claimedTenant(claims) ?? null);
  const text = (contextTexts[pairs] ??= `${settingsText(pairs)}, auth.check_tenant($${values.length}::uuid)`);
  return { text, values };
}

/** The socket a pg client writes to (pg keeps it on `connection.stream`), when it is one. */
function socketOf(client: pg.PoolClient): { cork(): void; uncork(): void } | undefined {
  const stream = (client as unknown as { connection?: { stream?: { cork?: unknown; uncork?: unknown } } }).connection?.stream;
  return typeof stream?.cork === 'function' && typeof stream.uncork === 'function' ? (stream as { cork(): void; uncork(): void }) : undefined;
}

/**
 * Checks a client out of `pool` (the authenticator pool), opens a transaction as the caller, runs
 * `fn`, and commits; any error rolls back. The connection is destroyed rather than reused when
 * the rollback itself fails.
 */
export async function withRequestContext<T>(
  pool: pg.Pool,
  claims: JwtClaims | null | undefined,
  fn: (client: pg.PoolClient) => Promise<T>,
  opts: RequestContextOptions = {},
): Promise<T> {
  const roleSettings = await roleSettingsFor(pool)?.of(roleOf(claims, opts.anonRole));
  if (roleSettings) opts = { ...opts, roleSettings: { ...roleSettings, ...opts.roleSettings } };
  const client = await pool.connect();
  let broken: Error | undefined;
  // While checked out a client has no 'error' listener of the pool's: a connection the server
  // drops mid-request (shutdown, pg_terminate_backend) would otherwise be an uncaught exception
  // that ends the process. The failing query rejects on its own; this only marks the client broken.
  const onError = (err: Error) => (broken ??= err);
  client.on('error', onError);
  // On a pipelining connection (db/pool.ts) BEGIN and the context statement go out in the same
  // write as fn's first query: one round trip instead of three. Their results are still checked,
  // and their error wins over the "transaction is aborted" error it causes in fn's queries.
  // Corked, those messages (and the COMMIT of a single-query request) leave in one write: pg
  // writes each query on its own, and a syscall per message was a third of a request's CPU.
  const context = prepared(client, contextStatement(claims, opts));
  const stream = socketOf(client);
  stream?.cork();
  const setup = Promise.all([client.query(opts.readOnly ? 'begin read only' : 'begin'), client.query(context)]);
  setup.catch(() => undefined);
  try {
    let result: T;
    let ended: Promise<unknown> | undefined;
    try {
      let pending: Promise<T>;
      try {
        pending = fn(client);
        if (opts.singleQuery && !opts.rollback) {
          ended = client.query('commit');
          ended.catch(() => undefined);
        }
      } finally {
        stream?.uncork();
      }
      result = await pending;
    } catch (err) {
      await setup;
      throw err;
    }
    await setup;
    if (ended) {
      await ended;
      return result;
    }
    // Deferred constraints are checked at commit; a rolled-back request must still report them.
    if (opts.rollback) await client.query('set constraints all immediate');
    await client.query(opts.rollback ? 'rollback' : 'commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch((rollbackErr: Error) => (broken = rollbackErr));
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
