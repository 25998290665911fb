/**
 * Per-file databases cloned from the migrated template of the run's embedded Postgres.
 */
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
  const config = await loadConfig({ DATABASE_URL: url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', DATA_DIR: `/tmp/${name}`, ...env });
  const admin = new pg.Pool({ connectionString: url, max: 4 });
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
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
