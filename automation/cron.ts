/**
 * pg_cron on graphile-worker (sql/0019_automation.sql). graphile-worker's crontab runs
 * `cron_tick` once a minute across every instance (its known_crontabs bookkeeping); the tick
 * matches each active cron.job's schedule against that minute with graphile-worker's own cron
 * matcher and claims the due runs in cron.job_claims, one row per (job, minute), so a run is
 * queued exactly once however many instances tick. `cron_run` runs a job's command as the job's
 * role, on a connection of its own (as pg_cron does; several statements run as one implicit
 * transaction), logging it in cron.job_run_details with pg_cron's statuses and messages. A job of
 * the owner runs on an owner connection; any other job's connection logs in as `authenticator`
 * (no privileges of its own, db/pool.ts) and switches to the job's role, so a command that resets
 * its role cannot become the owner.
 * Schedules changed by cron.schedule / unschedule take effect at the next minute.
 */
import { parseCronItem, parseCronItems, type ParsedCronItem, type Task } from 'graphile-worker';
import pg from 'pg';
import type { Logger } from 'pino';
import { activeCronJobs, claimCronRuns, cleanup, cronJob, finishCronRun, startCronRun } from './store.ts';

export const CRON_TICK_TASK = 'cron_tick';
export const CRON_RUN_TASK = 'cron_run';
export const CLEANUP_TASK = 'automation_cleanup';

/** The crontab of the automation tasks: the minute tick, and an hourly cleanup. */
export const AUTOMATION_CRONTAB: ParsedCronItem[] = parseCronItems([
  { task: CRON_TICK_TASK, match: '* * * * *', identifier: 'nextmavens_cron_tick', options: { backfillPeriod: 0 } },
  { task: CLEANUP_TASK, match: '23 * * * *', identifier: 'nextmavens_automation_cleanup', options: { backfillPeriod: 0 } },
]);

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0', '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};

const matchers = new Map<string, ParsedCronItem['match'] | null>();

/** Whether `schedule` (five fields or a macro, UTC) is due at the minute `ts`; false for one that does not parse. */
export function scheduleMatches(schedule: string, ts: Date): boolean {
  let match = matchers.get(schedule);
  if (match === undefined) {
    const trimmed = schedule.trim();
    try {
      match = parseCronItem({ task: CRON_RUN_TASK, match: MACROS[trimmed.toLowerCase()] ?? trimmed.replace(/\s+/g, ' '), identifier: 'schedule' }).match;
    } catch {
      match = null;
    }
    if (matchers.size > 10_000) matchers.clear();
    matchers.set(schedule, match);
  }
  return match !== null && match({ min: ts.getUTCMinutes(), hour: ts.getUTCHours(), date: ts.getUTCDate(), month: ts.getUTCMonth() + 1, dow: ts.getUTCDay() });
}

export function cronTickTask(deps: { pool: pg.Pool; log: Logger }): Task {
  return async (payload) => {
    const ts = new Date(String((payload as { _cron?: { ts?: string } })?._cron?.ts ?? ''));
    if (Number.isNaN(ts.getTime())) return;
    ts.setUTCSeconds(0, 0);
    const due = (await activeCronJobs(deps.pool)).filter((j) => scheduleMatches(j.schedule, ts)).map((j) => j.jobid);
    if (due.length) await claimCronRuns(deps.pool, due, ts);
  };
}

/** pg_cron's return_message for the last statement's result. */
function returnMessage(result: pg.QueryResult | pg.QueryResult[]): string {
  const last = Array.isArray(result) ? result[result.length - 1] : result;
  if (!last?.command) return '';
  if (last.command === 'SELECT') return `${last.rowCount ?? 0} row${last.rowCount === 1 ? '' : 's'}`;
  if (last.command === 'INSERT') return `INSERT ${last.oid ?? 0} ${last.rowCount ?? 0}`;
  return last.rowCount === null ? last.command : `${last.command} ${last.rowCount}`;
}

export interface CronRunDeps {
  pool: pg.Pool;
  /** The owner's connection URL and user name (config.postgres). */
  ownerUrl: string;
  ownerUser: string;
  /** The `authenticator` role's connection URL. */
  authenticatorUrl: string;
  log: Logger;
}

export function cronRunTask(deps: CronRunDeps): Task {
  return async (payload) => {
    const jobid = Number((payload as { jobid?: unknown })?.jobid);
    if (!Number.isSafeInteger(jobid)) return;
    const job = await cronJob(deps.pool, jobid);
    if (!job?.active) return;
    const url = new URL(job.username === deps.ownerUser ? deps.ownerUrl : deps.authenticatorUrl);
    url.pathname = `/${encodeURIComponent(job.database)}`;
    const client = new pg.Client({ connectionString: url.toString(), application_name: `nextmavens cron job ${jobid}` });
    client.on('error', () => undefined);
    let runid: string | undefined;
    try {
      await client.connect();
      const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
      runid = await startCronRun(deps.pool, job, pid);
      await client.query(`select set_config('role', $1, false)`, [job.username]);
      const result = (await client.query(job.command)) as pg.QueryResult | pg.QueryResult[];
      await finishCronRun(deps.pool, runid, 'succeeded', returnMessage(result));
    } catch (err) {
      const message = (err as Error).message || String(err);
      if (runid) await finishCronRun(deps.pool, runid, 'failed', message);
      else await finishCronRun(deps.pool, await startCronRun(deps.pool, job, null), 'failed', `connection failed: ${message}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
}

export function cleanupTask(deps: { pool: pg.Pool }): Task {
  return async () => cleanup(deps.pool);
}
