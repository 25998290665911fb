/**
 * Per-file databases cloned from the migrated template of the run's embedded Postgres.
 */
import { SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../config/load.ts';

export interface TestDatabase {
  name: string;
  /** Superuser URL of the cloned database. */
  url: string;
  /** A full stack configuration pointing at this database. */
  config: Config;
  /** Superuser client pool on this database, for fixtures and assertions. */
  admin: pg.Pool;
  drop(): Promise<void>;
}

export const TEST_JWT_SECRET = 'test-secret-of-at-least-thirty-two-characters';

/** An HS256 token signed with TEST_JWT_SECRET, issued now, expiring after `expiresIn` (jose time span or epoch seconds). */
export function testToken(claims: Record<string, unknown>, expiresIn: string | number = '1h'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(expiresIn).sign(new TextEncoder().encode(TEST_JWT_SECRET));
}

function serverUrl(database: string): string {
  const p = inject('postgres');
  return `postgresql://${p.user}:${encodeURIComponent(p.password)}@${p.host}:${p.port}/${database}`;
}

export async function createTestDatabase(env: Record<string, string> = {}): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const root = new pg.Client({ connectionString: serverUrl('postgres') });
  await root.connect();
  try {
    await root.query(`create database ${name} template ${inject('postgres').template}`);
  } finally {
    await root.end();
  }
  const url = serverUrl(name);
  const config = await loadConfig({
    DATABASE_URL: url,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    DATA_DIR: `/tmp/${name}`,
    POSTGRESQL_REPLICATION_SLOT: name, // slots are cluster-wide: one per test database
    // The edge's per-tenant rate limits count per client address for anon callers: every request of
    // a test or bench comes from 127.0.0.1, so they are off unless a test sets them (gateway-limits).
    RATE_LIMIT_REST: '0',
    RATE_LIMIT_GRAPHQL: '0',
    RATE_LIMIT_STORAGE: '0',
    RATE_LIMIT_REALTIME: '0',
    RATE_LIMIT_AUTH: '0',
    ...env,
  });
  // Connections the drop below ends must not surface as uncaught errors of the run.
  const admin = fixturePool(url, 4);
  return {
    name,
    url,
    config,
    admin,
    async drop() {
      await admin.end();
      const c = new pg.Client({ connectionString: serverUrl('postgres') });
      await c.connect();
      try {
        // A database with a replication slot cannot be dropped: end its consumer, drop the slot.
        await c.query(`select pg_terminate_backend(active_pid) from pg_replication_slots where database = $1 and active_pid is not null`, [name]);
        for (let i = 0; i < 50; i++) {
          const { rows } = await c.query(`select slot_name, active from pg_replication_slots where database = $1`, [name]);
          if (!rows.length) break;
          for (const r of rows) if (!r.active) await c.query('select pg_drop_replication_slot($1)', [r.slot_name]).catch(() => undefined);
          await new Promise((res) => setTimeout(res, 20));
        }
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * A pool for a test's own fixtures and assertions on a stack's database: a connection that the
 * server ends when the test stops or restores that stack's Postgres must not become an uncaught
 * error of the test run (its query, if any, still rejects).
 */
export function fixturePool(url: string, max = 2): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}
