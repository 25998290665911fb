/**
 * Starts one throwaway embedded Postgres 17 (wal_level=logical) for the whole test run and
 * migrates a template database. Each test file clones the template (test/helpers/db.ts), which
 * takes milliseconds and keeps files isolated from each other.
 */
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { EmbeddedPostgres } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import { freePort } from './helpers/net.ts';

export const TEMPLATE_DB = 'nextmavens_template';

export interface TestPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
  template: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: TestPostgres;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-test-'));
  await chmod(dir, 0o755);
  const pg: TestPostgres = { host: '127.0.0.1', port: await freePort(), user: 'nextmavens', password: 'test-password', template: TEMPLATE_DB };
  const server = new EmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: pg.port, user: pg.user, password: pg.password, settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_replication_slots: 40, max_wal_senders: 40 } });
  await server.start();
  await server.ensureDatabase(TEMPLATE_DB);
  await migrate(`postgresql://${pg.user}:${pg.password}@${pg.host}:${pg.port}/${TEMPLATE_DB}`, { authenticatorPassword: pg.password });
  project.provide('postgres', pg);
  return async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
