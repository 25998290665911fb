/**
 * The whole embedded stack over a fresh cloned database, for end-to-end tests with the
 * official clients: `const t = await startTestStack({ fixtures: 'rest-basic.sql' })`.
 */
import { readFile } from 'node:fs/promises';
import pino from 'pino';
import { startStack, type RunningStack } from '../../cli/stack.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface TestStack {
  db: TestDatabase;
  stack: RunningStack;
  close(): Promise<void>;
}

export interface TestStackOptions {
  fixtures?: string;
  sql?: string;
  env?: Record<string, string>;
  /** Last changes to the configuration before the stack starts (e.g. its Postgres through a proxy). */
  configure?: (db: TestDatabase) => void;
}

export async function startTestStack(opts: TestStackOptions = {}): Promise<TestStack> {
  // The ops monitor probes every service's health each ALERT_INTERVAL; tests of other features
  // run without it (their connection counts stay their own) unless they set ALERT_INTERVAL.
  const db = await createTestDatabase({ ALERT_INTERVAL: '3600', ...opts.env });
  if (opts.fixtures) await db.admin.query(await readFile(new URL(`../fixtures/${opts.fixtures}`, import.meta.url), 'utf8'));
  if (opts.sql) await db.admin.query(opts.sql);
  db.config.port = 0;
  db.config.host = '127.0.0.1';
  opts.configure?.(db);
  const stack = await startStack(db.config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }, pino.destination(2)));
  return {
    db,
    stack,
    async close() {
      await stack.close();
      await db.drop();
    },
  };
}
