/**
 * The servers of bench/realtime.ts, each in a process of its own (forked by it), so that the CPU
 * time they report is theirs alone, not the clients':
 *   `node bench/realtime-server.ts stack`: the whole stack on a throwaway embedded Postgres
 *     (bench/harness.ts), the per-socket message limit left at its default
 *     (REALTIME_MAX_EVENTS_PER_SECOND=100: the bench's senders send 20 per second);
 *   `node bench/realtime-server.ts floor`: the floor, a bare `ws` server (perMessageDeflate off)
 *     whose sockets each join one room with their first (text) message and whose binary frames
 *     are relayed as they came to every other socket of the room.
 * IPC: the server sends `{ t: 'ready', … }` once listening; it answers `{ t: 'cpu' }` with its
 * process.cpuUsage() and (stack) the realtime counters, and exits on `{ t: 'close' }`.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

type Request = { t: 'cpu' } | { t: 'close' };
const send = (m: unknown) => process.send!(m);

async function stack(): Promise<void> {
  const { startBenchStack } = await import('./harness.ts');
  const { deliveryStats } = await import('../realtime/change-delivery.ts');
  const { counters } = await import('../core/metrics.ts');
  const { config, stack, close } = await startBenchStack();
  send({ t: 'ready', url: stack.url, anonKey: config.anonKey, jwtSecret: config.jwtSecret, pgUrl: config.postgres.url });
  let closing: Promise<void> | undefined;
  const stop = () => (closing ??= close().finally(() => process.exit(0)));
  process.on('disconnect', stop); // the bench ended without saying so
  process.on('message', async (m: Request) => {
    if (m.t === 'cpu') {
      send({ t: 'cpu', cpu: process.cpuUsage(), statements: deliveryStats.statements, changes: deliveryStats.changes, drops: counters.realtimeDrops.value });
    } else if (m.t === 'close') await stop();
  });
}

async function floor(): Promise<void> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  const rooms = new Map<string, Set<WebSocket>>();
  server.on('connection', (ws) => {
    let room: Set<WebSocket> | undefined;
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        const name = data.toString();
        room = rooms.get(name) ?? rooms.set(name, new Set()).get(name)!;
        room.add(ws);
        ws.send('joined');
        return;
      }
      if (!room) return;
      for (const other of room) if (other !== ws && other.readyState === other.OPEN) other.send(data, { binary: true });
    });
    ws.on('close', () => room?.delete(ws));
  });
  await new Promise((r) => server.once('listening', r));
  send({ t: 'ready', port: (server.address() as AddressInfo).port });
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: Request) => {
    if (m.t === 'cpu') send({ t: 'cpu', cpu: process.cpuUsage() });
    else if (m.t === 'close') process.exit(0);
  });
}

const role = process.argv[2];
if (role === 'stack') await stack();
else if (role === 'floor') await floor();
else throw new Error('usage: node bench/realtime-server.ts stack|floor');
