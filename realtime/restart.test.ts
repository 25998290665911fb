/**
 * Restarting the realtime server during a burst of inserts loses none of them: the replication
 * slot's position advances only after a transaction was handed to the subscribers' sockets, so the
 * restarted server (same slot, same URL) resumes where the stopped one left off, and the official
 * client — reconnected and rejoined on its own — receives every committed insert (counted;
 * duplicates allowed, none missing). The server is stopped as a restart stops it (SIGTERM: sockets
 * flush what they were handed before closing). A SIGKILL can still lose what sat in a dead
 * socket's buffer; with several instances (realtime/cluster.test.ts) clients of the survivors lose
 * nothing even then.
 */
import type { ChildProcess } from 'node:child_process';
import { RealtimeClient } from '@supabase/realtime-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { spawnRealtime } from '../test/helpers/realtime-process.ts';
import { freePort } from '../test/helpers/net.ts';
import { until } from '../test/helpers/wait.ts';

const TOTAL = 200;
const KILL_AT = 60;
let db: TestDatabase;
let port: number;
let server: ChildProcess | undefined;
let client: RealtimeClient | undefined;


async function startServer(): Promise<ChildProcess> {
  const proc = spawnRealtime(db, port);
  await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)), 60_000, 'the realtime server to start');
  return proc;
}

function stop(proc: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill(signal);
  return exited;
}

beforeAll(async () => {
  db = await createTestDatabase();
  await db.admin.query(`
    create table public.ticks (id int primary key);
    grant select on public.ticks to anon;
    alter publication nextmavens_realtime add table public.ticks;`);
  port = await freePort();
  server = await startServer();
}, 60_000);

afterAll(async () => {
  client?.disconnect();
  await stop(server, 'SIGTERM');
  await db?.drop();
}, 30_000);

it('a server restarted during a burst of inserts delivers every committed insert', async () => {
  client = new RealtimeClient(`ws://127.0.0.1:${port}`, { params: { apikey: db.config.anonKey }, reconnectAfterMs: () => 200 });
  const seen = new Set<number>();
  const channel = client.channel('ticks').on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'ticks' }, (p) => seen.add((p.new as { id: number }).id));
  await new Promise<void>((resolve, reject) => channel.subscribe((status, err) => (status === 'SUBSCRIBED' ? resolve() : status === 'CHANNEL_ERROR' && reject(err))));

  for (let id = 1; id <= TOTAL; id++) {
    await db.admin.query('insert into public.ticks (id) values ($1)', [id]);
    if (id === KILL_AT) {
      await stop(server, 'SIGTERM');
      server = await startServer();
    }
  }
  await until(() => seen.size === TOTAL, 30_000, `all ${TOTAL} inserts (have ${seen.size})`);
  expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
}, 90_000);
