/**
 * /health while the database is away: the database and every service that needs it (graphql and
 * realtime included) report "down" and the answer is 503; once it is back, /health is 200 again.
 * The database is taken away by cutting a TCP proxy in front of it (test/helpers/db-outage.ts).
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveOne, type RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from './helpers/db.ts';
import { startStackBehindProxy, type DbProxy, type StackBehindProxy } from './helpers/db-outage.ts';

let db: TestDatabase;
let proxy: DbProxy;
let stack: RunningStack;

let running: StackBehindProxy;

beforeAll(async () => {
  running = await startStackBehindProxy();
  ({ db, proxy, stack } = running);
});

afterAll(async () => {
  await running?.close();
});

async function health(): Promise<{ status: number; services: Record<string, { status: string }> }> {
  const res = await fetch(`${stack.url}/health`);
  return { status: res.status, services: ((await res.json()) as { services: Record<string, { status: string }> }).services };
}

describe('/health during a database outage', () => {
  it('reports graphql and realtime down (not just the database) while Postgres is unreachable, and up again after', async () => {
    const before = await health();
    expect(before.status).toBe(200);
    for (const name of ['database', 'rest', 'auth', 'storage', 'graphql', 'realtime']) expect(before.services[name]?.status, name).toBe('up');

    for (const outage of ['cut', 'shutDown'] as const) {
      await proxy[outage]();
      try {
        const during = await health();
        expect(during.status, outage).toBe(503);
        for (const name of ['database', 'rest', 'auth', 'storage', 'graphql', 'realtime']) {
          expect(during.services[name]?.status, `${outage}: ${name}`).toBe('down');
        }
      } finally {
        await proxy.restore();
      }
      const deadline = Date.now() + 10_000;
      let after = await health();
      while (after.status !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        after = await health();
      }
      expect(after.status, `${outage}: recovered ${JSON.stringify(after.services)}`).toBe(200);
    }
  }, 40_000);

  it('compose: the graphql service alone answers its /health 503 while the database is unreachable', async () => {
    const alone = await serveOne('graphql', { ...db.config, ports: { ...db.config.ports, graphql: 0 } }, pino({ level: 'silent' }));
    try {
      expect((await fetch(`${alone.url}/health`)).status).toBe(200);
      await proxy.cut();
      try {
        const res = await fetch(`${alone.url}/health`);
        expect(res.status).toBe(503);
        expect(await res.json()).toEqual({ status: 'down' });
      } finally {
        await proxy.restore();
      }
    } finally {
      await alone.close();
    }
  });
});
