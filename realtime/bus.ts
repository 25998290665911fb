/**
 * Fan-out between realtime instances. Without REDIS_URL there is one instance and the bus
 * carries nothing (or, in the node:cluster workers of one `nextmavens start`, the primary relays
 * it: clusterBus below); with it, every instance publishes to and subscribes on one Redis pub/sub
 * channel, and keeps a heartbeat key with a TTL so the others can tell when it died (its
 * presences are then removed). A message is delivered to every instance except its sender
 * (which has already delivered it to its own clients). Messages from one instance arrive in
 * the order it published them.
 */
import { randomUUID } from 'node:crypto';
import { newRedis } from '../core/redis.ts';
import type { Logger } from 'pino';
import type { ClusterLink } from '../core/cluster.ts';
import type { Transaction } from './changes.ts';

/** Presence of one topic key: presence key → metas. */
export type PresenceMetas = Record<string, { metas: Record<string, unknown>[] }>;

export type BusMessage =
  | { t: 'broadcast'; key: string; event: string; payload: unknown; binary?: boolean }
  | { t: 'presence'; key: string; joins: PresenceMetas; leaves: PresenceMetas }
  | { t: 'presence_sync' }
  | { t: 'presence_snapshot'; state: [key: string, metas: PresenceMetas][] }
  | { t: 'tx'; tx: Transaction };

export interface Bus {
  readonly instanceId: string;
  readonly clustered: boolean;
  /** Resolves once Redis accepted the message (instantly without Redis). */
  publish(m: BusMessage): Promise<void>;
  onMessage(handler: (from: string, m: BusMessage) => void): void;
  /** Called after the connection to Redis came back (messages published meanwhile are lost). */
  onReconnect(handler: () => void): void;
  /** Which of these instances still have their heartbeat key. */
  alive(instanceIds: string[]): Promise<Set<string>>;
  close(): Promise<void>;
}

const HEARTBEAT_MS = 1000;
const HEARTBEAT_TTL_MS = 3500;

export function localBus(): Bus {
  return {
    instanceId: randomUUID(),
    clustered: false,
    publish: async () => undefined,
    onMessage: () => undefined,
    onReconnect: () => undefined,
    alive: async (ids) => new Set(ids),
    close: async () => undefined,
  };
}

/** Connects to Redis and subscribes before resolving. `namespace` separates deployments. */
export async function redisBus(url: string, namespace: string, log: Logger): Promise<Bus> {
  const instanceId = randomUUID();
  const channel = `nextmavens:realtime:${namespace}`;
  const aliveKey = (id: string) => `${channel}:instance:${id}`;
  const options = { lazyConnect: true, maxRetriesPerRequest: 3, enableOfflineQueue: true };
  const pub = newRedis(url, options);
  const sub = newRedis(url, options);
  for (const r of [pub, sub]) r.on('error', (err) => log.warn({ err }, 'realtime: redis connection error'));
  const handlers: ((from: string, m: BusMessage) => void)[] = [];
  await Promise.all([pub.connect(), sub.connect()]);
  sub.on('messageBuffer', (_ch: Buffer, raw: Buffer) => {
    let env: { from: string; m: BusMessage };
    try {
      env = JSON.parse(raw.toString('utf8'));
    } catch {
      return;
    }
    if (env.from === instanceId) return;
    for (const h of handlers) {
      try {
        h(env.from, env.m);
      } catch (err) {
        log.error({ err }, 'realtime: bus message failed');
      }
    }
  });
  await sub.subscribe(channel);
  const beat = () => pub.set(aliveKey(instanceId), '1', 'PX', HEARTBEAT_TTL_MS).catch(() => undefined);
  // ioredis reconnects (and re-subscribes) by itself; 'ready' then fires again.
  const reconnected: (() => void)[] = [];
  sub.on('ready', async () => {
    await beat(); // alive again before announcing anything, so no peer reaps this instance meanwhile
    for (const h of reconnected) {
      try {
        h();
      } catch (err) {
        log.error({ err }, 'realtime: reconnect handler failed');
      }
    }
  });
  await beat();
  const heartbeat = setInterval(beat, HEARTBEAT_MS);
  return {
    instanceId,
    clustered: true,
    async publish(m) {
      await pub.publish(channel, JSON.stringify({ from: instanceId, m }));
    },
    onMessage: (h) => void handlers.push(h),
    onReconnect: (h) => void reconnected.push(h),
    async alive(ids) {
      if (!ids.length) return new Set();
      const values = await pub.mget(...ids.map(aliveKey));
      return new Set(ids.filter((_, i) => values[i] !== null));
    },
    async close() {
      clearInterval(heartbeat);
      await pub.del(aliveKey(instanceId)).catch(() => undefined);
      sub.disconnect();
      await pub.quit().catch(() => pub.disconnect());
    },
  };
}

/**
 * The workers of one `nextmavens start` with WEB_CONCURRENCY > 1 and no REDIS_URL: the same
 * fan-out over the primary's IPC relay (core/cluster.ts). A worker that exits is no longer
 * `alive`, so the others drop its presences as they do for an instance whose heartbeat lapsed.
 */
export function clusterBus(link: ClusterLink, namespace: string): Bus {
  const channel = `realtime:${namespace}`;
  const unsubscribe: (() => void)[] = [];
  return {
    instanceId: link.instanceId,
    clustered: true,
    publish: async (m) => link.publish(channel, m),
    onMessage: (h) => void unsubscribe.push(link.subscribe(channel, (from, m) => h(from, m as BusMessage))),
    onReconnect: () => undefined, // the IPC channel does not come back: a worker whose primary is gone stops
    alive: (ids) => (ids.length ? link.alive(ids) : Promise.resolve(new Set())),
    close: async () => {
      for (const u of unsubscribe.splice(0)) u();
    },
  };
}
