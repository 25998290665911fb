/**
 * `nextmavens start` with WEB_CONCURRENCY = N > 1: the HTTP side in N node:cluster workers sharing
 * PORT (the primary accepts connections and hands them out round-robin, Node's default outside
 * Windows). The primary starts the embedded Postgres (unless DATABASE_URL is set) and applies the
 * migrations once, then forks the workers; each worker runs the stack of cli/stack.ts `startStack`
 * without Postgres and migrations (slot 1 also runs the job worker). The primary relays what the
 * workers share without Redis (core/cluster.ts), restarts a worker that dies, and on SIGINT/SIGTERM
 * stops the workers first, Postgres last.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import { createClusterHub, WORKER_SLOT_ENV } from '../core/cluster.ts';
import { startMigratedDatabase, type RunningStack } from './stack.ts';

/** What a worker sends once it listens (or when its start failed). */
export type WorkerReport = { nm: 'worker'; ready: true; port: number } | { nm: 'worker'; ready: false; error: string };

/** A worker that dies sooner than this after its start is not restarted at once (a crash loop). */
const RESTART_DELAY_MS = 1000;
/** How long the workers get to finish their requests and close before they are killed. */
const STOP_GRACE_MS = 30_000;

export async function startCluster(config: Config, log: Logger): Promise<RunningStack> {
  const database = await startMigratedDatabase(config, log);
  const hub = createClusterHub(log);
  const workers = new Map<number, Worker>();
  let stopping = false;
  try {
    // The workers run this same command (process.argv) with their slot in the environment.
    cluster.setupPrimary({ serialization: 'json' });

    const fork = (slot: number): Promise<number> => {
      const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot) });
      workers.set(slot, worker);
      hub.add(worker);
      const forkedAt = Date.now();
      let ready = false;
      worker.on('exit', (code, signal) => {
        if (workers.get(slot) === worker) workers.delete(slot);
        if (stopping || !ready) return;
        const delay = Date.now() - forkedAt < 10_000 ? RESTART_DELAY_MS : 0;
        log.error(`worker ${slot} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}); restarting it`);
        setTimeout(() => {
          if (!stopping) fork(slot).catch((err) => stopping || log.error({ err }, `worker ${slot} did not start again`));
        }, delay);
      });
      return new Promise<number>((resolve, reject) => {
        worker.on('message', (m: WorkerReport) => {
          if (m?.nm !== 'worker') return;
          if (m.ready) {
            ready = true;
            resolve(m.port);
          } else reject(new Error(`worker ${slot}: ${m.error}`));
        });
        worker.once('exit', (code, signal) => reject(new Error(`worker ${slot} exited during its start (${signal ?? `code ${code}`})`)));
      });
    };
    // Slot 1 first: it is the job worker, and the others then start on a warm catalog.
    const port = await fork(1);
    const slots = Array.from({ length: config.webConcurrency - 1 }, (_, i) => i + 2);
    await Promise.all(slots.map(fork));
    log.info(`${config.webConcurrency} workers listen on port ${port}`);
    return { url: `http://localhost:${port}`, port, close: () => stop() };
  } catch (err) {
    await stop();
    throw err;
  }

  async function stop(): Promise<void> {
    stopping = true;
    await Promise.all(
      [...workers.values()].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const timer = setTimeout(() => {
              log.error(`worker pid ${w.process.pid} did not stop within ${STOP_GRACE_MS} ms; killing it`);
              w.process.kill('SIGKILL');
            }, STOP_GRACE_MS);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
    hub.close();
    await database.stop().catch((err) => log.error({ err }, 'shutdown: postgres failed'));
  }
}
