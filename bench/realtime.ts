/**
 * npm run bench:realtime — realtime delivery figures beside the floor of a bare `ws` server.
 *
 * The servers run in processes of their own (bench/realtime-server.ts): the whole stack on a
 * throwaway embedded Postgres, and the floor. This process only runs the clients — raw `ws`
 * sockets speaking the Phoenix protocol (vsn 2.0.0, as realtime-js does) through the gateway —
 * and reads each server's CPU time (process.cpuUsage() over IPC) around each measurement:
 *   (a) postgres_changes commit-to-client latency p50/p99: BENCH_CLIENTS (1,000) clients over
 *       BENCH_GROUPS (10) claim groups (one tenant each, RLS on), one-row transactions at
 *       BENCH_TX_RATE (100) per second; latency = receipt − the commit timestamp in the event.
 *       Also the SQL statements realtime sent per change (realtime/change-delivery.ts counts
 *       them) beside the bound ⌈claims groups / 100⌉, and the server's CPU per delivered change;
 *   (b) delivered changes/s at that load: concurrent writers commit transactions of one row per
 *       tenant as fast as they can, every client receives its tenant's row of each;
 *   (c) broadcast fan-out: BENCH_SUBSCRIBERS (1,000) sockets in BENCH_ROOMS (10) rooms, and one
 *       sender per room sending BENCH_HZ (20) messages per second; server CPU per delivery,
 *       p50/p99 send-to-receipt, deliveries counted against the expected number, and frames the
 *       stack dropped (rate limit, slow consumers: must be 0). The floor is the same clients on a
 *       bare `ws` server relaying the very frames the stack sends (kind-4 binary broadcasts).
 *       Product and floor alternate BENCH_ROUNDS (3) times; each round is printed, and the median of their ratios.
 * BENCH_SECONDS sets each measurement's duration.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import pg from 'pg';
import WebSocket from 'ws';
import { percentile } from './harness.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SECONDS = env('BENCH_SECONDS', 5);
const CLIENTS = env('BENCH_CLIENTS', 1000);
const GROUPS = env('BENCH_GROUPS', 10);
const TX_RATE = env('BENCH_TX_RATE', 100);
const SUBSCRIBERS = env('BENCH_SUBSCRIBERS', 1000);
const ROOMS = env('BENCH_ROOMS', 10);
const HZ = env('BENCH_HZ', 20);
const ROUNDS = env('BENCH_ROUNDS', 3);
/** BENCH_PHASES=a,c: only those measurements ((b) needs (a)'s clients, so `b` implies `a`). */
const PHASES = new Set((process.env.BENCH_PHASES ?? 'a,b,c').split(',').map((p) => p.trim()));

const tenant = (g: number) => `00000000-0000-4000-8000-${String(g + 1).padStart(12, '0')}`;
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ server processes

interface ServerStats {
  cpu: NodeJS.CpuUsage;
  statements?: number;
  changes?: number;
  drops?: number;
}

interface Server {
  ready: Record<string, any>;
  stats(): Promise<ServerStats>;
  close(): Promise<void>;
}

async function startServer(role: 'stack' | 'floor'): Promise<Server> {
  // BENCH_PROF=<dir>: a CPU profile of each server process (node --cpu-prof), written when it exits.
  const execArgv = process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`, `--cpu-prof-name=${role}.cpuprofile`] : [];
  const child: ChildProcess = fork(fileURLToPath(new URL('./realtime-server.ts', import.meta.url)), [role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  const exited = once(child, 'exit');
  const next = async (): Promise<Record<string, any>> => {
    const [m] = (await Promise.race([once(child, 'message'), exited.then(() => Promise.reject(new Error(`the ${role} server exited`)))])) as [Record<string, any>];
    return m;
  };
  const ready = await next();
  return {
    ready,
    async stats() {
      child.send({ t: 'cpu' });
      return (await next()) as unknown as ServerStats;
    },
    async close() {
      child.send({ t: 'close' });
      await exited;
    },
  };
}

const cpuMicros = (a: ServerStats, b: ServerStats) => b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);

// ------------------------------------------------------------------ clients

/** Opens `n` sockets to `url`, `batch` at a time. */
async function openSockets(url: (i: number) => string, n: number, onMessage: (i: number, data: WebSocket.RawData, isBinary: boolean) => void, batch = 200): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let start = 0; start < n; start += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, n - start) }, (_, k) => {
        const i = start + k;
        return new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url(i), { perMessageDeflate: false });
          ws.on('message', (data, isBinary) => onMessage(i, data, isBinary));
          ws.once('open', () => resolve());
          ws.once('error', reject);
          sockets[i] = ws;
        });
      }),
    );
  }
  return sockets;
}

/** Resolves when `count()` reaches `n` (throws after a minute). */
async function until(what: string, count: () => number, n: number): Promise<void> {
  const end = Date.now() + 60_000;
  while (count() < n) {
    if (Date.now() > end) throw new Error(`${what} timed out: ${count()} of ${n}`);
    await sleep(20);
  }
}

/** Joins every socket to its topic and resolves when all join replies came back ok. */
async function joinAll(sockets: WebSocket[], topic: (i: number) => string, payload: (i: number) => unknown, replies: { ok: number; error: number }): Promise<void> {
  sockets.forEach((ws, i) => ws.send(JSON.stringify(['1', '1', topic(i), 'phx_join', payload(i)])));
  await until('joins', () => replies.ok + replies.error, sockets.length);
  if (replies.error) throw new Error(`${replies.error} joins failed`);
}

const closeAll = async (sockets: WebSocket[]) => {
  await Promise.all(sockets.map((ws) => new Promise<void>((r) => (ws.readyState === ws.CLOSED ? r() : (ws.once('close', () => r()), ws.terminate())))));
};

/** Kind-4 user broadcast frame → its JSON payload. */
function broadcastPayload(buf: Buffer): { t: number } | undefined {
  if (buf[0] !== 4) return undefined;
  const at = 5 + buf[1] + buf[2] + buf[3];
  return JSON.parse(buf.subarray(at).toString('utf8'));
}

/** A kind-3 client broadcast push of a JSON payload (what realtime-js sends). */
function broadcastPush(topic: string, event: string, payload: unknown): Buffer {
  const [j, r, t, e] = ['1', '', topic, event].map((s) => Buffer.from(s));
  return Buffer.concat([Buffer.from([3, j.length, r.length, t.length, e.length, 0, 1]), j, r, t, e, Buffer.from(JSON.stringify(payload))]);
}

/** The kind-4 frame the stack sends its subscribers for that push (what the floor relays). */
function broadcastFrame(topic: string, event: string, payload: unknown): Buffer {
  const [t, e] = [topic, event].map((s) => Buffer.from(s));
  return Buffer.concat([Buffer.from([4, t.length, e.length, 0, 1]), t, e, Buffer.from(JSON.stringify(payload))]);
}

// ------------------------------------------------------------------ (c) fan-out

interface FanoutFigures {
  delivered: number;
  expected: number;
  cpuUsPerDelivery: number;
  p50: number;
  p99: number;
  drops?: number;
}

/** Where receivers report a broadcast's send time (set by the running fan-out measurement). */
let recordFanout: (sentAt: number) => void = () => undefined;

/**
 * Every room's sender sends HZ messages per second for SECONDS (rooms staggered over the
 * period), after one second of warm-up; SUBSCRIBERS / ROOMS sockets receive each. CPU is the
 * server's from the first measured send until the last expected delivery arrived.
 */
async function fanout(server: Server, send: (room: number, sentAt: number) => void): Promise<FanoutFigures> {
  let delivered = 0;
  let latencies: number[] = [];
  recordFanout = (t: number) => {
    delivered++;
    latencies.push(performance.now() - t);
  };
  const perRoom = SUBSCRIBERS / ROOMS;
  const period = 1000 / HZ;
  /** Sends for `seconds`; resolves once every delivery arrived (or 10 s passed), with the number expected. */
  const run = async (seconds: number) => {
    const t0 = performance.now();
    let sent = 0;
    for (let k = 0; k < Math.round(seconds * HZ); k++) {
      for (let r = 0; r < ROOMS; r++) {
        const wait = t0 + k * period + (r * period) / ROOMS - performance.now();
        if (wait > 1) await sleep(wait);
        send(r, performance.now());
        sent++;
      }
    }
    const expected = sent * perRoom;
    const end = performance.now() + 10_000;
    while (delivered < expected && performance.now() < end) await sleep(5);
    return expected;
  };
  // One second of warm-up (JIT, buffers) not counted, for the product and the floor alike.
  await run(1);
  delivered = 0;
  latencies = [];
  const before = await server.stats();
  const expected = await run(SECONDS);
  const after = await server.stats();
  latencies.sort((a, b) => a - b);
  return {
    delivered,
    expected,
    cpuUsPerDelivery: cpuMicros(before, after) / delivered,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    drops: after.drops !== undefined ? after.drops - before.drops! : undefined,
  };
}

const room = (r: number) => `room-${r}`;
const roomOf = (i: number) => i % ROOMS;

async function productFanout(stack: Server, wsBase: string): Promise<FanoutFigures> {
  const replies = { ok: 0, error: 0 };
  // Sockets 0 … SUBSCRIBERS-1 subscribe; the last ROOMS ones send, one per room (self: false).
  const sockets = await openSockets(() => wsBase, SUBSCRIBERS + ROOMS, (_i, data, isBinary) => {
    if (isBinary) {
      const p = broadcastPayload(data as Buffer);
      if (p) recordFanout(p.t);
      return;
    }
    const [, , , event, payload] = JSON.parse(data.toString());
    if (event === 'phx_reply') {
      if (payload.status === 'ok') replies.ok++;
      else replies.error++;
    }
  });
  const topic = (i: number) => `realtime:${room(i < SUBSCRIBERS ? roomOf(i) : i - SUBSCRIBERS)}`;
  await joinAll(sockets, topic, () => ({ config: { broadcast: { self: false, ack: false }, presence: { key: '', enabled: false }, postgres_changes: [], private: false } }), replies);
  try {
    return await fanout(stack, (r, t) => sockets[SUBSCRIBERS + r].send(broadcastPush(`realtime:${room(r)}`, 'tick', { t })));
  } finally {
    await closeAll(sockets);
  }
}

async function floorFanout(floor: Server): Promise<FanoutFigures> {
  let joined = 0;
  const sockets = await openSockets(() => `ws://127.0.0.1:${floor.ready.port}`, SUBSCRIBERS + ROOMS, (_i, data, isBinary) => {
    if (!isBinary) return void joined++;
    const p = broadcastPayload(data as Buffer);
    if (p) recordFanout(p.t);
  });
  sockets.forEach((ws, i) => ws.send(room(i < SUBSCRIBERS ? roomOf(i) : i - SUBSCRIBERS)));
  await until('floor joins', () => joined, sockets.length);
  try {
    return await fanout(floor, (r, t) => sockets[SUBSCRIBERS + r].send(broadcastFrame(`realtime:${room(r)}`, 'tick', { t })));
  } finally {
    await closeAll(sockets);
  }
}

// ------------------------------------------------------------------ (a) and (b)

async function changes(stack: Server, admin: pg.Pool, wsBase: string, tokens: string[]) {
  const replies = { ok: 0, error: 0 };
  let subscribedToPg = 0;
  let delivered = 0;
  let lastDelivery = 0;
  let latencies: number[] = [];
  const clients = await openSockets(() => wsBase, CLIENTS, (_i, data, isBinary) => {
    if (isBinary) return;
    const [, , , event, payload] = JSON.parse(data.toString());
    if (event === 'postgres_changes') {
      delivered++;
      lastDelivery = performance.now();
      latencies.push(Date.now() - Date.parse(payload.data.commit_timestamp));
    } else if (event === 'phx_reply') {
      if (payload.status === 'ok') replies.ok++;
      else replies.error++;
    } else if (event === 'system' && payload.extension === 'postgres_changes' && payload.status === 'ok') subscribedToPg++;
  });
  try {
    await joinAll(clients, () => 'realtime:bench', (i) => ({
      config: { broadcast: { self: false, ack: false }, presence: { key: '', enabled: false }, postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'bench_events' }], private: false },
      access_token: tokens[i % GROUPS],
    }), replies);
    await until('postgres_changes subscriptions', () => subscribedToPg, CLIENTS);

    // (a) paced one-row transactions, round-robin over the tenants.
    const txCount = Math.round(TX_RATE * SECONDS);
    const beforeA = await stack.stats();
    const t0 = performance.now();
    for (let k = 0; k < txCount; k++) {
      const wait = t0 + (k * 1000) / TX_RATE - performance.now();
      if (wait > 1) await sleep(wait);
      await admin.query('insert into public.bench_events (tenant_id, body) values ($1, $2)', [tenant(k % GROUPS), 'latency']);
    }
    const clientsIn = (g: number) => Math.floor(CLIENTS / GROUPS) + (g < CLIENTS % GROUPS ? 1 : 0);
    const expectedA = Array.from({ length: txCount }, (_, k) => clientsIn(k % GROUPS)).reduce((x, y) => x + y, 0);
    await waitFor(() => delivered >= expectedA, 30_000);
    const afterA = await stack.stats();
    latencies.sort((x, y) => x - y);
    const a = {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      delivered,
      expected: expectedA,
      statementsPerChange: (afterA.statements! - beforeA.statements!) / (afterA.changes! - beforeA.changes!),
      checked: afterA.changes! - beforeA.changes!,
      cpuUsPerDelivery: cpuMicros(beforeA, afterA) / delivered,
    };

    if (!PHASES.has('b')) return { a };
    // (b) flood: WRITERS concurrent writers, each transaction one row per tenant.
    delivered = 0;
    latencies = [];
    const WRITERS = 4;
    let txB = 0;
    const startB = performance.now();
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (performance.now() - startB < SECONDS * 1000) {
          await admin.query(`insert into public.bench_events (tenant_id, body) select ('00000000-0000-4000-8000-' || lpad((g + 1)::text, 12, '0'))::uuid, 'flood' from generate_series(0, ${GROUPS - 1}) g`);
          txB++;
        }
      }),
    );
    await waitFor(() => delivered >= txB * CLIENTS, 120_000);
    const elapsedB = (lastDelivery - startB) / 1000;
    const b: { changesPerSec: number; txPerSec: number; p99: number } | undefined = { changesPerSec: delivered / elapsedB, txPerSec: txB / elapsedB, p99: percentile(latencies.sort((x, y) => x - y), 99) };
    return { a, b };
  } finally {
    await closeAll(clients);
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) {
      process.stderr.write('warning: not every expected message arrived in time\n');
      return;
    }
    await sleep(20);
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const stack = await startServer('stack');
  const floor = await startServer('floor');
  const { url, anonKey, jwtSecret, pgUrl } = stack.ready as { url: string; anonKey: string; jwtSecret: string; pgUrl: string };
  const admin = new pg.Pool({ connectionString: pgUrl, max: 8 });
  try {
    await admin.query(`
      insert into public.tenants (id, name) select ('00000000-0000-4000-8000-' || lpad((g + 1)::text, 12, '0'))::uuid, 'tenant ' || g from generate_series(0, ${GROUPS - 1}) g;
      create table public.bench_events (id bigint generated by default as identity primary key,
        tenant_id uuid not null default auth.tenant_id() references public.tenants (id), body text not null);
      select public.enable_tenant_isolation('public.bench_events');
      alter publication nextmavens_realtime add table public.bench_events;
    `);
    const secret = new TextEncoder().encode(jwtSecret);
    const tokens = await Promise.all(
      Array.from({ length: GROUPS }, (_, g) =>
        new SignJWT({ role: 'authenticated', sub: `11111111-1111-4111-8111-${String(g).padStart(12, '0')}`, tenant_id: tenant(g) })
          .setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('2h').sign(secret),
      ),
    );
    const wsBase = `${url.replace('http', 'ws')}/realtime/v1/websocket?vsn=2.0.0&apikey=${anonKey}`;
    const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

    let a: Awaited<ReturnType<typeof changes>>['a'] | undefined;
    let b: Awaited<ReturnType<typeof changes>>['b'];
    if (PHASES.has('a') || PHASES.has('b')) {
      process.stderr.write(`phase (a)/(b): ${CLIENTS} clients over ${GROUPS} claim groups, ${SECONDS} s per measurement (load ${load()})\n`);
      ({ a, b } = await changes(stack, admin, wsBase, tokens));
    }

    process.stderr.write(`phase (c): ${SUBSCRIBERS} subscribers in ${ROOMS} rooms, ${HZ} Hz per room, ${ROUNDS} rounds (load ${load()})\n`);
    const ours: FanoutFigures[] = [];
    const bare: FanoutFigures[] = [];
    for (let r = 0; r < (PHASES.has('c') ? ROUNDS : 0); r++) {
      ours.push(await productFanout(stack, wsBase));
      bare.push(await floorFanout(floor));
    }

    const line = (label: string, value: string) => process.stdout.write(`${label.padEnd(62)} ${value}\n`);
    const bound = Math.ceil(GROUPS / 100);
    process.stdout.write(`\nrealtime bench (${os.cpus().length} cores, load average ${load()}; servers in their own processes, CPU = the server process's)\n`);
    if (a) {
      line(`(a) postgres_changes, ${CLIENTS} clients / ${GROUPS} groups, ${TX_RATE} tx/s`, `p50 ${fmt(a.p50)} ms   p99 ${fmt(a.p99)} ms   (${fmt(a.delivered)} of ${fmt(a.expected)} delivered)`);
      line('    SQL statements per change (realtime/change-delivery.ts)', `${fmt(a.statementsPerChange, 2)}   bound ⌈groups/100⌉ = ${bound}   (${fmt(a.checked)} changes checked)`);
      line('    server CPU per delivered change', `${fmt(a.cpuUsPerDelivery, 1)} µs`);
    }
    if (b) line('(b) delivered changes/s (flood, one row per tenant per tx)', `${fmt(b.changesPerSec)} changes/s   (${fmt(b.txPerSec, 1)} tx/s decoded+checked, commit→client p99 ${fmt(b.p99)} ms)`);
    for (let r = 0; r < ours.length; r++) {
      const c = ours[r];
      const f = bare[r];
      line(`(c) broadcast fan-out, ${SUBSCRIBERS} subs / ${ROOMS} rooms / ${HZ} Hz, round ${r + 1}`, `CPU ${fmt(c.cpuUsPerDelivery, 2)} µs/delivery   p50 ${fmt(c.p50, 1)} ms   p99 ${fmt(c.p99, 1)} ms   (${fmt(c.delivered)} of ${fmt(c.expected)}, ${fmt(c.drops ?? 0)} dropped)`);
      line('    floor: bare ws relay, same clients', `CPU ${fmt(f.cpuUsPerDelivery, 2)} µs/delivery   p50 ${fmt(f.p50, 1)} ms   p99 ${fmt(f.p99, 1)} ms   (${fmt(f.delivered)} of ${fmt(f.expected)})`);
      line('    ratio NextMavens / floor', `CPU ${fmt(c.cpuUsPerDelivery / f.cpuUsPerDelivery, 2)}×   p99 ${fmt(c.p99 / f.p99, 2)}×`);
    }
    // Every round is printed above; on a shared 2-core machine one round's p99 swings several-fold
    // (CPU steal, the first round right after the stack's start), so the median stands beside them.
    if (ours.length > 1) {
      const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
      const cpu = median(ours.map((c, r) => c.cpuUsPerDelivery / bare[r].cpuUsPerDelivery));
      const p99 = median(ours.map((c, r) => c.p99 / bare[r].p99));
      line(`(c) median of the ${ours.length} rounds' ratios`, `CPU ${fmt(cpu, 2)}×   p99 ${fmt(p99, 2)}×`);
    }
  } finally {
    await admin.end();
    await floor.close();
    await stack.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
