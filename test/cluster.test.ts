/**
 * `nextmavens start` with WEB_CONCURRENCY=2 (cli/cluster.ts), without Redis: one primary with the
 * embedded Postgres and two node:cluster workers on one port. Both workers run (the primary's
 * children in the process list); the gateway's rate limit holds for the stack, not per worker
 * (connections alternate between the workers, so per-worker counting would let twice the limit
 * through); realtime broadcast, presence and postgres_changes (read from the slot by one worker)
 * reach clients whichever worker their socket landed on (the official @supabase/realtime-js, four
 * sockets over two workers); a worker killed is
 * replaced; Ctrl-C stops everything.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { RealtimeClient, type RealtimeChannel } from '@supabase/realtime-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnStart, type StartProcess } from './helpers/cli.ts';
import { freePort } from './helpers/net.ts';
import { until } from './helpers/wait.ts';

const RATE_LIMIT = 6;

let dir: string;
let port: number;
let child: ChildProcess;
let started: StartProcess;
let anonKey = '';
const clients: RealtimeClient[] = [];

/** The node processes the primary forked (its other child is Postgres). */
function workerPids(): number[] {
  const ps = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(child.pid)], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .filter((line) => line.includes('nextmavens.ts start'))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

/** One request on a connection of its own (fetch would keep reusing one, i.e. one worker). */
function freshRequest(pathname: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, agent: false, headers: { apikey: anonKey, connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
  });
}

function subscribed(ch: RealtimeChannel): Promise<void> {
  return new Promise((resolve, reject) => ch.subscribe((status, err) => (status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(err ?? new Error(status)))));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nm-cluster-'));
  port = await freePort();
  const env: Record<string, string> = {
    DATA_DIR: path.join(dir, 'data'),
    PORT: String(port),
    POSTGRESQL_PORT: String(await freePort()),
    WEB_CONCURRENCY: '2',
    RATE_LIMIT_REST: String(RATE_LIMIT),
    LOG_LEVEL: 'warn',
  };
  const inherited = { ...process.env };
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY', 'REDIS_URL']) delete inherited[name];
  started = await spawnStart({ ...inherited, ...env }, { timeoutMs: 180_000 });
  child = started.child;
  anonKey = started.output().match(/anon key: (\S+)/)![1];
}, 200_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    for (const pid of workerPids()) process.kill(pid, 'SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
});

describe('WEB_CONCURRENCY=2', () => {
  it('runs two workers besides Postgres, both serving the one port', async () => {
    expect(started.output()).toContain('2 workers (WEB_CONCURRENCY)');
    expect(new Set(workerPids()).size).toBe(2);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
  });

  it('counts the gateway rate limit in the primary, across the workers', async () => {
    const statuses: number[] = [];
    // A table that does not exist: 404 from REST, still counted by the edge first.
    for (let i = 0; i < RATE_LIMIT + 4; i++) statuses.push(await freshRequest('/rest/v1/cluster_nothing_here'));
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    expect(statuses.slice(0, RATE_LIMIT).every((s) => s !== 429)).toBe(true);
  });

  it('delivers broadcast and presence between sockets on different workers', async () => {
    const received: string[][] = [];
    const channels: RealtimeChannel[] = [];
    for (let i = 0; i < 4; i++) {
      // One socket each: the primary hands the connections to the workers in turn.
      const c = new RealtimeClient(`ws://127.0.0.1:${port}/realtime/v1`, { params: { apikey: anonKey } });
      clients.push(c);
      const got: string[] = [];
      received.push(got);
      const ch = c.channel('cluster-room', { config: { broadcast: { self: false }, presence: { key: `client-${i}` } } });
      ch.on('broadcast', { event: 'say' }, (m) => got.push(String(m.payload.text)));
      channels.push(ch);
      await subscribed(ch);
    }
    await channels[0].send({ type: 'broadcast', event: 'say', payload: { text: 'hello from 0' } });
    await channels[3].send({ type: 'broadcast', event: 'say', payload: { text: 'hello from 3' } });
    await until(() => received.every((got, i) => got.length === (i === 0 || i === 3 ? 1 : 2)), 15_000, 'every broadcast on every socket');
    expect(received[1].sort()).toEqual(['hello from 0', 'hello from 3']);
    expect(received[0]).toEqual(['hello from 3']);

    for (const [i, ch] of channels.entries()) await ch.track({ n: i });
    await until(() => channels.every((ch) => Object.keys(ch.presenceState()).length === 4), 15_000, 'every presence on every socket');
  });

  it('delivers postgres_changes from the one slot reader to sockets on every worker, once each', async () => {
    const db = new pg.Client({ connectionString: started.output().match(/DB URL: (postgresql:\/\/\S+)/)![1] });
    await db.connect();
    try {
      await db.query(`create table public.cluster_notes (id serial primary key, body text not null);
        grant select on public.cluster_notes to anon;
        alter publication nextmavens_realtime add table public.cluster_notes;`);
      const got: string[][] = [];
      for (let i = 0; i < 4; i++) {
        const c = new RealtimeClient(`ws://127.0.0.1:${port}/realtime/v1`, { params: { apikey: anonKey } });
        clients.push(c);
        const mine: string[] = [];
        got.push(mine);
        await subscribed(c.channel(`notes-${i}`).on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'cluster_notes' }, (p) => mine.push((p.new as { body: string }).body)));
      }
      // Until the subscriptions are live (the first insert may precede them): one row every 500 ms.
      let n = 0;
      let last = 0;
      await until(async () => {
        if (Date.now() - last > 500) {
          last = Date.now();
          await db.query('insert into public.cluster_notes (body) values ($1)', [`note ${++n}`]);
        }
        return got.every((mine) => mine.length > 0);
      }, 30_000, `a change on every socket (${JSON.stringify(got)})`);
      await db.query(`insert into public.cluster_notes (body) values ('last')`);
      await until(() => got.every((mine) => mine.includes('last')), 15_000, `the last change on every socket (${JSON.stringify(got)})`);
      for (const mine of got) expect(new Set(mine).size).toBe(mine.length);
    } finally {
      await db.end();
    }
  }, 40_000);

  it('replaces a worker that dies', async () => {
    const [first] = workerPids();
    process.kill(first, 'SIGKILL');
    await until(() => workerPids().length === 2 && !workerPids().includes(first), 120_000, 'a new worker');
    // The new worker serves too: enough fresh connections reach both.
    await until(async () => (await freshRequest('/health')) === 200, 60_000, 'health');
  }, 130_000);

  it('stops the workers and Postgres on Ctrl-C', async () => {
    const pids = workerPids();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);
});
