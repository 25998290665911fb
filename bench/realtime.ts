/**
 * npm run bench:realtime — realtime delivery figures against the floor of a bare `ws` server.
 *
 * Starts the whole stack on a throwaway embedded Postgres, then with raw `ws` clients speaking
 * the Phoenix protocol (vsn 2.0.0, as realtime-js does) through the gateway:
 *   (a) postgres_changes commit-to-client latency p50/p99: BENCH_CLIENTS (1,000) clients over
 *       BENCH_GROUPS (10) claim groups (one tenant each, RLS on), one-row transactions at
 *       BENCH_TX_RATE per second; latency = receipt − the commit timestamp in the event;
 *   (b) delivered changes/s at that load: concurrent writers commit transactions of one row per
 *       tenant as fast as they can, every client receives its tenant's row of each;
 *   (c) broadcast fan-out with BENCH_FANOUT (5,000) connections on one topic: one sender sends
 *       bursts of messages, every other connection receives each; delivered msgs/s and p50/p99;
 *       the floor is the same fan-out through a bare `ws` server that relays each frame.
 * Clients and server share this process (and its cores), so figures include the clients' work.
 * BENCH_SECONDS sets each phase's duration.
 */
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { SignJWT } from 'jose';
import pg from 'pg';
import WebSocket, { WebSocketServer } from 'ws';
import { percentile, startBenchStack } from './harness.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SECONDS = env('BENCH_SECONDS', 5);
const CLIENTS = env('BENCH_CLIENTS', 1000);
const GROUPS = env('BENCH_GROUPS', 10);
const TX_RATE = env('BENCH_TX_RATE', 50);
const FANOUT = env('BENCH_FANOUT', 5000);
const BURST = env('BENCH_BURST', 10);

const tenant = (g: number) => `00000000-0000-4000-8000-${String(g + 1).padStart(12, '0')}`;

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');

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

/** Joins every socket to `topic` and resolves when all join replies came back ok. */
async function joinAll(sockets: WebSocket[], topic: string, payload: (i: number) => unknown, replies: { ok: number; error: number }): Promise<void> {
  sockets.forEach((ws, i) => ws.send(JSON.stringify(['1', '1', topic, 'phx_join', payload(i)])));
  const end = Date.now() + 60_000;
  while (replies.ok + replies.error < sockets.length) {
    if (Date.now() > end) throw new Error(`joins timed out: ${replies.ok} ok, ${replies.error} errors of ${sockets.length}`);
    await new Promise((r) => setTimeout(r, 20));
  }
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

/** Kind-3 client broadcast push of a JSON payload. */
function broadcastPush(topic: string, event: string, payload: unknown): Buffer {
  const [j, r, t, e] = ['1', '', topic, event].map((s) => Buffer.from(s));
  return Buffer.concat([Buffer.from([3, j.length, r.length, t.length, e.length, 0, 1]), j, r, t, e, Buffer.from(JSON.stringify(payload))]);
}

interface FanoutFigures {
  msgsPerSec: number;
  p50: number;
  p99: number;
}

/** Where receivers report a broadcast's send time (set by the running fan-out measurement). */
let recordFanout: (sentAt: number) => void = () => undefined;

/** Sends bursts of BURST broadcasts for SECONDS; `receivers` sockets receive each. */
async function fanout(send: (t: number) => void, receivers: number): Promise<FanoutFigures> {
  let delivered = 0;
  const latencies: number[] = [];
  recordFanout = (t: number) => {
    delivered++;
    latencies.push(performance.now() - t);
  };
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < SECONDS * 1000) {
    for (let k = 0; k < BURST; k++) send(performance.now());
    sent += BURST;
    const target = sent * receivers;
    const end = performance.now() + 10_000;
    while (delivered < target && performance.now() < end) await new Promise((r) => setImmediate(r));
  }
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { msgsPerSec: delivered / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function main(): Promise<void> {
  const { config, stack, close } = await startBenchStack();
  const admin = new pg.Pool({ connectionString: config.postgres.url, max: 8 });
  try {
    await admin.query(`
      insert into public.tenants (id, name) select ('00000000-0000-4000-8000-' || lpad((g + 1)::text, 12, '0'))::uuid, 'tenant ' || g from generate_series(0, ${GROUPS - 1}) g;
      create table public.bench_events (id bigint generated by default as identity primary key,
        tenant_id uuid not null default auth.tenant_id() references public.tenants (id), body text not null);
      select public.enable_tenant_isolation('public.bench_events');
      alter publication nextmavens_realtime add table public.bench_events;
    `);
    const secret = new TextEncoder().encode(config.jwtSecret);
    const tokens = await Promise.all(
      Array.from({ length: GROUPS }, (_, g) =>
        new SignJWT({ role: 'authenticated', sub: `11111111-1111-4111-8111-${String(g).padStart(12, '0')}`, tenant_id: tenant(g) })
          .setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('2h').sign(secret),
      ),
    );
    const wsBase = `${stack.url.replace('http', 'ws')}/realtime/v1/websocket?vsn=2.0.0&apikey=${config.anonKey}`;
    process.stderr.write(`phase (a)/(b): ${CLIENTS} clients over ${GROUPS} claim groups, ${SECONDS} s per measurement\n`);

    // ---------------------------------------------------------------- (a) and (b)
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
    await joinAll(clients, 'realtime:bench', (i) => ({
      config: { broadcast: { self: false, ack: false }, presence: { key: '', enabled: false }, postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'bench_events' }], private: false },
      access_token: tokens[i % GROUPS],
    }), replies);
    while (subscribedToPg < CLIENTS) await new Promise((r) => setTimeout(r, 20));

    // (a) paced one-row transactions, round-robin over the tenants.
    const txCount = Math.round(TX_RATE * SECONDS);
    const t0 = performance.now();
    for (let k = 0; k < txCount; k++) {
      const due = t0 + (k * 1000) / TX_RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await admin.query('insert into public.bench_events (tenant_id, body) values ($1, $2)', [tenant(k % GROUPS), 'latency']);
    }
    const clientsIn = (g: number) => Math.floor(CLIENTS / GROUPS) + (g < CLIENTS % GROUPS ? 1 : 0);
    const expectedA = Array.from({ length: txCount }, (_, k) => clientsIn(k % GROUPS)).reduce((x, y) => x + y, 0);
    await waitFor(() => delivered >= expectedA, 30_000);
    latencies.sort((a, b) => a - b);
    const a = { p50: percentile(latencies, 50), p99: percentile(latencies, 99), delivered, expected: expectedA };

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
    const expectedB = txB * CLIENTS;
    await waitFor(() => delivered >= expectedB, 120_000);
    const b = { changesPerSec: delivered / ((lastDelivery - startB) / 1000), tx: txB, txPerSec: txB / ((lastDelivery - startB) / 1000), p99: percentile(latencies.sort((x, y) => x - y), 99) };
    await closeAll(clients);

    // ---------------------------------------------------------------- (c)
    process.stderr.write(`phase (c): ${FANOUT} connections, bursts of ${BURST}\n`);
    const fanReplies = { ok: 0, error: 0 };
    const ours = await openSockets(() => wsBase, FANOUT, (_i, data, isBinary) => {
      if (isBinary) {
        const p = broadcastPayload(data as Buffer);
        if (p) recordFanout(p.t);
        return;
      }
      const [, , , event, payload] = JSON.parse(data.toString());
      if (event === 'phx_reply') {
        if (payload.status === 'ok') fanReplies.ok++;
        else fanReplies.error++;
      }
    });
    await joinAll(ours, 'realtime:fanout', () => ({ config: { broadcast: { self: false, ack: false }, presence: { key: '', enabled: false }, postgres_changes: [], private: false } }), fanReplies);
    const c = await fanout((t) => ours[0].send(broadcastPush('realtime:fanout', 'tick', { t })), FANOUT - 1);
    await closeAll(ours);

    // The floor: a bare ws server relaying each frame to every other socket.
    const floorServer = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    floorServer.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => {
        for (const other of floorServer.clients) if (other !== ws && other.readyState === other.OPEN) other.send(data, { binary: isBinary });
      });
    });
    await new Promise((r) => floorServer.once('listening', r));
    const floorPort = (floorServer.address() as AddressInfo).port;
    const bare = await openSockets(() => `ws://127.0.0.1:${floorPort}`, FANOUT, (_i, data) => recordFanout(JSON.parse(data.toString()).t));
    const f = await fanout((t) => bare[0].send(JSON.stringify({ t })), FANOUT - 1);
    await closeAll(bare);
    await new Promise((r) => floorServer.close(r));

    // ---------------------------------------------------------------- report
    const line = (label: string, value: string) => process.stdout.write(`${label.padEnd(58)} ${value}\n`);
    process.stdout.write(`\nrealtime bench (${os.cpus().length} cores; clients share the process with the server)\n`);
    line(`(a) postgres_changes latency, ${CLIENTS} clients / ${GROUPS} groups, ${TX_RATE} tx/s`, `p50 ${fmt(a.p50)} ms   p99 ${fmt(a.p99)} ms   (${fmt(a.delivered)} of ${fmt(a.expected)} delivered)`);
    line('(b) delivered changes/s (flood, one row per tenant per tx)', `${fmt(b.changesPerSec)} changes/s   (${fmt(b.txPerSec, 1)} tx/s decoded+checked, commit→client p99 ${fmt(b.p99)} ms)`);
    line(`(c) broadcast fan-out, ${FANOUT} connections`, `${fmt(c.msgsPerSec)} msgs/s   p50 ${fmt(c.p50, 1)} ms   p99 ${fmt(c.p99, 1)} ms`);
    line('    floor: bare ws relay, same clients', `${fmt(f.msgsPerSec)} msgs/s   p50 ${fmt(f.p50, 1)} ms   p99 ${fmt(f.p99, 1)} ms`);
    line('    ratio NextMavens / floor', `throughput ${fmt(c.msgsPerSec / f.msgsPerSec, 2)}×   p99 ${fmt(c.p99 / f.p99, 2)}×`);
  } finally {
    await admin.end();
    await close();
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) {
      process.stderr.write('warning: not every expected message arrived in time\n');
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
