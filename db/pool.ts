/**
 * Connection pools. Two kinds, both over the same database:
 * - `admin`: the configured owner/superuser, for migrations, introspection and internal work
 *   (auth, storage, realtime bookkeeping) that must not depend on the caller's role.
 * - `request`: the `authenticator` role (NOINHERIT). It has no privileges of its own and can only
 *   switch to roles granted to it (anon, authenticated, service_role), so a request can never
 *   become the superuser whatever its token says. See withRequestContext.
 */
import pg from 'pg';
import type { PostgresConfig } from '../config/load.ts';
import { registerPreparedStatements } from './prepared.ts';
import { RoleSettings, registerRoleSettings } from './role-settings.ts';

export interface Pools {
  admin: pg.Pool;
  request: pg.Pool;
  /** `ALTER ROLE … SET` values that requests on `request` apply for the role they switch to. */
  roleSettings: RoleSettings;
  end(): Promise<void>;
}

export const AUTHENTICATOR_ROLE = 'authenticator';

export function createPools(cfg: PostgresConfig, applicationName: string): Pools {
  const common = { max: cfg.poolMax, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 };
  const admin = new pg.Pool({ ...common, connectionString: cfg.url, application_name: `${applicationName} (admin)` });
  const request = new pg.Pool({
    ...common,
    host: cfg.host,
    port: cfg.port,
    database: cfg.database,
    user: AUTHENTICATOR_ROLE,
    password: cfg.authenticatorPassword,
    ssl: sslFromUrl(cfg.url),
    application_name: applicationName,
    // Requests send BEGIN, their context statement and their query without waiting in between
    // (db/request-context.ts): pipelining saves two round trips per request.
    pipeline: true,
  });
  // An idle client that loses its connection (e.g. Postgres restarted) must not crash the process.
  for (const pool of [admin, request]) pool.on('error', () => undefined);
  // A checked-out client has no listener of the pool's: a connection the server drops while it is
  // in use (shutdown, pg_terminate_backend) would be an uncaught 'error' that ends the process.
  // Its query rejects on its own, and the pool discards the dead client when it comes back.
  for (const pool of [admin, request]) pool.on('connect', (client) => client.on('error', () => undefined));
  const roleSettings = new RoleSettings(admin);
  registerRoleSettings(request, roleSettings);
  if (cfg.preparedStatements !== false) registerPreparedStatements(request);
  let ended: Promise<void> | undefined;
  return {
    admin,
    request,
    roleSettings,
    end: () => (ended ??= Promise.all([admin.end(), request.end()]).then(() => undefined)),
  };
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
