/**
 * Connection pools. Two kinds, both over the same database:
 * - `admin`: the configured owner/superuser, for migrations, introspection and internal work
 *   (auth, storage, realtime bookkeeping) that must not depend on the caller's role.
 * - `request`: the `authenticator` role (NOINHERIT). It has no privileges of its own and can only
 *   switch to roles granted to it (anon, authenticated, service_role), so a request can never
 *   become the superuser whatever its token says. See withRequestContext.
 */
import pg from 'pg';
import { registerPreparedStatements } from './prepared.ts';
import { directUrlOf, type PostgresConfig } from '../config/load.ts';
import { ReadPools } from './read-pools.ts';
import { RoleSettings, registerRoleSettings } from './role-settings.ts';

export interface Pools {
  admin: pg.Pool;
  request: pg.Pool;
  /**
   * The owner's pool on `directUrl` (past any transaction pooler), for work that keeps session
   * state: the job worker's LISTEN. `admin` itself when there is no pooler.
   */
  direct: pg.Pool;
  /** Where read-only requests may run: the replicas of DATABASE_READ_URL, else `request` (db/read-pools.ts). */
  reads: ReadPools;
  /** `ALTER ROLE … SET` values that requests on `request` apply for the role they switch to. */
  roleSettings: RoleSettings;
  end(): Promise<void>;
}

export const AUTHENTICATOR_ROLE = 'authenticator';

export function createPools(cfg: PostgresConfig, applicationName: string): Pools {
  const common = { max: cfg.poolMax, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000, Client: clientClass(cfg) };
  const admin = new pg.Pool({ ...common, connectionString: cfg.url, application_name: `${applicationName} (admin)` });
  const request = requestPool(cfg, { host: cfg.host, port: cfg.port, database: cfg.database }, applicationName);
  const directUrl = directUrlOf(cfg);
  const direct = directUrl === cfg.url ? admin : new pg.Pool({ ...common, max: Math.min(cfg.poolMax, 4), connectionString: directUrl, application_name: `${applicationName} (direct)` });
  const owned = [...new Set([admin, request, direct])];
  for (const pool of owned) quietErrors(pool);
  const roleSettings = new RoleSettings(admin);
  registerRoleSettings(request, roleSettings);
  const reads = new ReadPools(cfg, request, roleSettings, (at) => quietErrors(requestPool(cfg, at, `${applicationName} (replica)`)), applicationName);
  let ended: Promise<void> | undefined;
  return {
    admin,
    request,
    direct,
    reads,
    roleSettings,
    end: () => (ended ??= Promise.all([...owned.map((p) => p.end()), reads.end()]).then(() => undefined)),
  };
}

/** Where a pool of the `authenticator` role connects (the primary, or a read replica: db/read-pools.ts). */
export interface ServerAddress {
  host: string;
  port: number;
  database: string;
  /** sslmode, as in a connection URL. */
  ssl?: pg.PoolConfig['ssl'];
}

/** A pool of the `authenticator` role at `at`, pipelining (db/request-context.ts). */
export function requestPool(cfg: PostgresConfig, at: ServerAddress, applicationName: string): pg.Pool {
  const pool = new pg.Pool({
    max: cfg.poolMax,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    Client: clientClass(cfg),
    host: at.host,
    port: at.port,
    database: at.database,
    user: AUTHENTICATOR_ROLE,
    password: cfg.authenticatorPassword,
    ssl: at.ssl ?? sslFromUrl(cfg.url),
    application_name: applicationName,
    // Requests send BEGIN, their context statement and their query without waiting in between
    // (db/request-context.ts): pipelining saves two round trips per request.
    pipeline: true,
  });
  if (cfg.preparedStatements) registerPreparedStatements(pool);
  return pool;
}

/**
 * An idle client that loses its connection (e.g. Postgres restarted) must not crash the process;
 * nor may a checked-out one, which has no listener of the pool's: a connection the server drops
 * while it is in use (shutdown, pg_terminate_backend) would be an uncaught 'error' that ends the
 * process. Its query rejects on its own, and the pool discards the dead client when it comes back.
 */
export function quietErrors(pool: pg.Pool): pg.Pool {
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/**
 * A client that never names a statement. PgBouncer in transaction mode before 1.21 hands each
 * transaction whichever server connection is free: a statement prepared (`name:` in pg's query
 * config, a Parse with a name) on one is unknown on the next ("prepared statement … does not
 * exist"), and an unnamed Parse is all it supports. So the client strips the name from every
 * query config. @dataplan/pg (PostGraphile) keeps an LRU of the names it gave on the connection
 * (`_graphilePreparedStatementCache`, its adaptors/pg.js) and DEALLOCATEs evicted ones; the
 * client gives it a cache that holds everything and never evicts, so it sends no DEALLOCATE of a
 * statement that was never prepared.
 */
const NEVER_EVICTS = Object.freeze({ get: () => true, set: () => undefined });
class UnnamedStatementsClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    Object.defineProperty(this.connection, '_graphilePreparedStatementCache', { value: NEVER_EVICTS });
  }
}
const namedQuery = pg.Client.prototype.query;
(UnnamedStatementsClient.prototype as { query: unknown }).query = function query(this: pg.Client, config: unknown, ...rest: unknown[]) {
  if (config !== null && typeof config === 'object' && Object.getPrototypeOf(config) === Object.prototype && (config as { name?: unknown }).name !== undefined) {
    const { name: _name, ...unnamed } = config as Record<string, unknown>;
    config = unnamed;
  }
  return (namedQuery as (...args: unknown[]) => unknown).call(this, config, ...rest);
};

/** The client class of a configuration's pools: pg's own, or one without named statements (DB_PREPARED_STATEMENTS=false). */
export function clientClass(cfg: Pick<PostgresConfig, 'preparedStatements'>): typeof pg.Client {
  return cfg.preparedStatements ? pg.Client : UnnamedStatementsClient;
}

/** Connection URL of the `authenticator` role (for libraries that manage their own pool). */
export function authenticatorUrl(cfg: PostgresConfig): string {
  const url = new URL(cfg.url);
  url.username = AUTHENTICATOR_ROLE;
  url.password = encodeURIComponent(cfg.authenticatorPassword);
  return url.toString();
}

function sslFromUrl(url: string): pg.PoolConfig['ssl'] {
  const mode = new URL(url).searchParams.get('sslmode');
  if (!mode || mode === 'disable') return undefined;
  return { rejectUnauthorized: mode === 'verify-full' || mode === 'verify-ca' };
}
