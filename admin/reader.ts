/**
 * The connection a read_only admin's SQL runs on: a login of its own as nextmavens_admin_read
 * (sql/0035_admin.sql), so that not even a role switch inside the SQL (set_config('role', …),
 * which a superuser session would allow) reaches beyond pg_read_all_data. Its password is derived
 * from JWT_SECRET; the owner sets it (and LOGIN) the first time the login is refused. Without the
 * role (a migration run by a non-superuser) read-only SQL is refused, never run as the owner.
 */
import { createHmac } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../config/load.ts';
import { AdminError } from './errors.ts';

export const READ_ROLE = 'nextmavens_admin_read';

export function createReader(config: Config, owner: pg.Pool): { pool(): Promise<pg.Pool>; end(): Promise<void> } {
  const password = createHmac('sha256', config.jwtSecret).update(READ_ROLE).digest('base64url');
  const url = new URL(config.postgres.url);
  url.username = READ_ROLE;
  url.password = encodeURIComponent(password);
  let ready: Promise<pg.Pool> | undefined;
  let made: pg.Pool | undefined;

  async function open(): Promise<pg.Pool> {
    const { rows } = await owner.query<{ ok: boolean }>('select to_regrole($1) is not null as ok', [READ_ROLE]);
    if (!rows[0].ok) throw new AdminError('forbidden', 403, `Read-only SQL needs the role ${READ_ROLE} (sql/0035_admin.sql, migrated by a superuser)`);
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000, application_name: 'nextmavens admin (read only)' });
    pool.on('error', () => undefined);
    pool.on('connect', (c) => c.on('error', () => undefined));
    try {
      (await pool.connect()).release();
    } catch {
      // First use (or another secret set it): give the role its login. Quoted by Postgres.
      const { rows: lit } = await owner.query<{ l: string }>("select format('%L', $1::text) as l", [password]);
      await owner.query(`alter role ${READ_ROLE} with login password ${lit[0].l}`);
      (await pool.connect()).release();
    }
    made = pool;
    return pool;
  }

  return {
    pool() {
      ready ??= open().catch((err) => {
        ready = undefined;
        throw err;
      });
      return ready;
    },
    async end() {
      await made?.end();
    },
  };
}
