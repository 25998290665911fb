/**
 * What the node:cluster workers of one `nextmavens start` (WEB_CONCURRENCY > 1, cli/cluster.ts)
 * share without Redis, over the IPC channel each worker has to the primary:
 *
 * - pub/sub: a message a worker publishes on a channel reaches every other worker subscribed to
 *   it, in the order that worker published (one pipe to the primary, one from it to each worker);
 *   realtime's bus (realtime/bus.ts clusterBus) carries broadcasts, presence and the leader's
 *   transactions on it, as it does through Redis between compose instances.
 * - fixed-window counters kept in the primary: the gateway's rate limits (gateway/rate-limit.ts)
 *   and auth's (auth/rate-limit.ts SharedWindows), so a limit holds for the stack, not per worker.
 * - which workers are alive (realtime reaps the presences of a worker that died).
 *
 * A worker finds its link with `clusterLink()` (undefined in a single process and in compose,
 * where REDIS_URL is the shared state). Services prefer Redis when REDIS_URL is set.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** The environment variable cli/cluster.ts sets on each worker: its slot, 1..WEB_CONCURRENCY. */
export const WORKER_SLOT_ENV = 'NEXTMAVENS_WORKER_SLOT';

/** Every message of ours carries `nm` so that nothing else on the channel is taken for one. */
type Request = { op: 'hit'; key: string; windowMs: number } | { op: 'reset'; key: string } | { op: 'alive'; ids: string[] };
type ToPrimary = { nm: 1; k: 'pub'; ch: string; data: unknown } | ({ nm: 1; k: 'req'; id: number } & Request);

type ToWorker = { nm: 1; k: 'pub'; ch: string; from: string; data: unknown } | { nm: 1; k: 'res'; id: number; value: unknown };

/** A count of one key in its current window, and the window's remaining milliseconds. */
export interface WindowCount {
  count: number;
  ttlMs: number;
}

/** Counts hits of keys in fixed windows shared by every worker (the same contract as auth/rate-limit.ts SharedWindows). */
export interface SharedCounter {
  hit(key: string, windowMs: number): Promise<WindowCount>;
  reset(key: string): Promise<void>;
}

export interface ClusterLink {
  /** 1..WEB_CONCURRENCY; slot 1 holds the stack's singleton duties (the job worker). */
  readonly slot: number;
  /** Names this worker process among the others (its pid), as realtime's bus instance id. */
  readonly instanceId: string;
  publish(channel: string, data: unknown): void;
  /** Messages other workers publish on `channel`; returns the function that unsubscribes. */
  subscribe(channel: string, handler: (from: string, data: unknown) => void): () => void;
  /** Counters under `prefix` (keys of different prefixes never meet). */
  counter(prefix: string): SharedCounter;
  /** Which of these instance ids are workers still running. */
  alive(ids: string[]): Promise<Set<string>>;
}

/** How long a worker waits for the primary's answer before it treats the request as failed. */
const REQUEST_TIMEOUT_MS = 2000;

let link: ClusterLink | undefined;

/** This process's link to the primary when it is a worker of `nextmavens start`; otherwise undefined. */
export function clusterLink(): ClusterLink | undefined {
  if (link) return link;
  const slot = Number(process.env[WORKER_SLOT_ENV]);
  if (!cluster.isWorker || !Number.isInteger(slot) || slot < 1 || !process.send) return undefined;
  link = createLink(slot);
  return link;
}

function createLink(slot: number): ClusterLink {
  const instanceId = String(process.pid);
  const subscribers = new Map<string, Set<(from: string, data: unknown) => void>>();
  const pending = new Map<number, { resolve: (v: unknown) => void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  const send = (m: ToPrimary) => {
    // process.send throws once the channel is closed (the primary is gone; the worker is stopping).
    try {
      process.send!(m);
      return true;
    } catch {
      return false;
    }
  };
  process.on('message', (m: ToWorker) => {
    if (!m || typeof m !== 'object' || m.nm !== 1) return;
    if (m.k === 'pub') {
      for (const h of subscribers.get(m.ch) ?? []) h(m.from, m.data);
    } else if (m.k === 'res') {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      clearTimeout(p.timer);
      p.resolve(m.value);
    }
  });
  function request<T>(m: Request): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('the cluster primary did not answer'));
      }, REQUEST_TIMEOUT_MS);
      timer.unref();
      pending.set(id, { resolve: resolve as (v: unknown) => void, timer });
      if (!send({ nm: 1, k: 'req', id, ...m })) {
        pending.delete(id);
        clearTimeout(timer);
        reject(new Error('the cluster primary is gone'));
      }
    });
  }
  return {
    slot,
    instanceId,
    publish(ch, data) {
      send({ nm: 1, k: 'pub', ch, data });
    },
    subscribe(ch, handler) {
      let set = subscribers.get(ch);
      if (!set) subscribers.set(ch, (set = new Set()));
      set.add(handler);
      return () => void set.delete(handler);
    },
    counter(prefix) {
      return {
        hit: (key, windowMs) => request<WindowCount>({ op: 'hit', key: `${prefix}\u0000${key}`, windowMs }),
        reset: (key) => request<void>({ op: 'reset', key: `${prefix}\u0000${key}` }),
      };
    },
    alive: async (ids) => new Set(await request<string[]>({ op: 'alive', ids })),
  };
}

/** The primary's side: relays pub/sub between its workers and keeps the counters. */
export interface ClusterHub {
  /** Starts serving a newly forked worker's messages. */
  add(worker: Worker): void;
  close(): void;
}

const SWEEP_MS = 60_000;

export function createClusterHub(log: Logger): ClusterHub {
  const workers = new Set<Worker>();
  const windows = new Map<string, { count: number; resetAt: number }>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, w] of windows) if (w.resetAt <= now) windows.delete(k);
  }, SWEEP_MS);
  sweep.unref();

  const sendTo = (w: Worker, m: ToWorker) => {
    if (!w.isConnected()) return;
    try {
      w.send(m);
    } catch (err) {
      log.debug({ err }, 'cluster: a message to a worker was not sent');
    }
  };
  function answer(m: Request): unknown {
    switch (m.op) {
      case 'hit': {
        const now = Date.now();
        let w = windows.get(m.key);
        if (!w || w.resetAt <= now) windows.set(m.key, (w = { count: 0, resetAt: now + m.windowMs }));
        w.count++;
        return { count: w.count, ttlMs: w.resetAt - now } satisfies WindowCount;
      }
      case 'reset':
        windows.delete(m.key);
        return null;
      case 'alive': {
        const live = new Set([...workers].filter((w) => !w.isDead()).map((w) => String(w.process.pid)));
        return m.ids.filter((id) => live.has(id));
      }
    }
  }
  return {
    add(worker) {
      workers.add(worker);
      worker.on('exit', () => workers.delete(worker));
      worker.on('message', (m: ToPrimary) => {
        if (!m || typeof m !== 'object' || m.nm !== 1) return;
        if (m.k === 'pub') {
          const out: ToWorker = { nm: 1, k: 'pub', ch: m.ch, from: String(worker.process.pid), data: m.data };
          for (const other of workers) if (other !== worker) sendTo(other, out);
        } else if (m.k === 'req') {
          sendTo(worker, { nm: 1, k: 'res', id: m.id, value: answer(m) });
        }
      });
    },
    close() {
      clearInterval(sweep);
      workers.clear();
    },
  };
}
