/**
 * The background job runner: graphile-worker in the stack's process (jobs/index.ts says which
 * tasks), over the owner pool. It installs/migrates the `graphile_worker` schema itself on start,
 * wakes up on LISTEN/NOTIFY as soon as a job is committed (the poll interval only matters for
 * retries and scheduled jobs) and retries failed jobs with exponential back-off.
 *
 * Jobs are added in SQL (`graphile_worker.add_job`, e.g. auth/store/mail.ts) inside the
 * transaction that decides to send, so a rolled-back request never sends anything.
 */
import { Logger, run, type ParsedCronItem, type Runner, type TaskList } from 'graphile-worker';
import type pg from 'pg';
import type { Logger as Pino } from 'pino';

export interface WorkerOptions {
  pool: pg.Pool;
  tasks: TaskList;
  /** Recurring jobs (graphile-worker's crontab: each runs once per due minute across instances). */
  crontab?: ParsedCronItem[];
  log: Pino;
  concurrency?: number;
  pollIntervalMs?: number;
}

export interface JobWorker {
  stop(): Promise<void>;
}

function pinoLogger(log: Pino): Logger {
  const child = log.child({ component: 'jobs' });
  return new Logger((scope) => (level, message, meta) => {
    const fields = { ...scope, ...meta };
    if (level === 'error') child.error(fields, message);
    else if (level === 'warning') child.warn(fields, message);
    else if (level === 'info') child.debug(fields, message);
    else child.trace(fields, message);
  });
}

export async function startWorker(opts: WorkerOptions): Promise<JobWorker> {
  // A connection lost while checked out must not crash the process (graphile-worker checks this).
  const onConnect = (client: pg.PoolClient) => client.on('error', (err) => opts.log.warn({ err }, 'jobs: database connection error'));
  if (opts.pool.listenerCount('connect') === 0) opts.pool.on('connect', onConnect);
  const runner: Runner = await run({
    pgPool: opts.pool,
    taskList: opts.tasks,
    parsedCronItems: opts.crontab ?? [],
    concurrency: opts.concurrency ?? 2,
    pollInterval: opts.pollIntervalMs ?? 1000,
    noHandleSignals: true,
    logger: pinoLogger(opts.log),
  });
  let stopped: Promise<void> | undefined;
  return {
    stop: () => (stopped ??= runner.stop().catch((err: Error) => opts.log.error({ err }, 'jobs: stop failed'))),
  };
}
