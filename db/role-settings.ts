/**
 * Per-role settings (`ALTER ROLE … SET statement_timeout = '3s'`) for requests.
 *
 * Postgres applies a role's settings at login, not on `SET ROLE`, so a request that switches from
 * `authenticator` to `anon` would otherwise keep the authenticator's settings. PostgREST reads the
 * impersonated roles' `pg_db_role_setting` entries and applies them with `set_config(…, true)` in
 * each request's context statement; so do we. Entries for the current database override entries
 * for all databases, and only settings a role may change itself (context `user`, or granted with
 * `GRANT SET ON PARAMETER`) are applied, so a superuser-only entry cannot break every request.
 *
 * The settings are read once and cached; `invalidate()` (called on schema reload, i.e. on
 * `NOTIFY pgrst` and after DDL) makes the next request read them again.
 */
import type pg from 'pg';

export type RoleSettingsMap = ReadonlyMap<string, Readonly<Record<string, string>>>;

const QUERY = `
  select r.rolname as role, split_part(kv, '=', 1) as name, substr(kv, strpos(kv, '=') + 1) as value
  from pg_db_role_setting s
  join pg_roles r on r.oid = s.setrole
  cross join lateral unnest(s.setconfig) as kv
  join pg_settings p on p.name = split_part(kv, '=', 1)
  where s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
    and (p.context = 'user' or (p.context = 'superuser' and has_parameter_privilege(r.oid, p.name, 'SET')))
  order by s.setdatabase`;

export async function loadRoleSettings(db: pg.Pool | pg.ClientBase): Promise<RoleSettingsMap> {
  const { rows } = await db.query<{ role: string; name: string; value: string }>(QUERY);
  const map = new Map<string, Record<string, string>>();
  // Ordered by database oid: entries for all databases (0) first, the current database's last, so they win.
  for (const { role, name, value } of rows) {
    const settings = map.get(role) ?? {};
    settings[name] = value;
    map.set(role, settings);
  }
  return map;
}

export class RoleSettings {
  private readonly pool: pg.Pool;
  private loading: Promise<RoleSettingsMap> | undefined;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** The settings of `role` (empty when it has none). */
  async of(role: string): Promise<Readonly<Record<string, string>>> {
    this.loading ??= loadRoleSettings(this.pool).catch((err: unknown) => {
      this.loading = undefined;
      throw err;
    });
    return (await this.loading).get(role) ?? {};
  }

  invalidate(): void {
    this.loading = undefined;
  }
}

const registry = new WeakMap<pg.Pool, RoleSettings>();

/** Declares where requests on `requestPool` find their roles' settings (see db/pool.ts). */
export function registerRoleSettings(requestPool: pg.Pool, settings: RoleSettings): void {
  registry.set(requestPool, settings);
}

export function roleSettingsFor(requestPool: pg.Pool): RoleSettings | undefined {
  return registry.get(requestPool);
}
