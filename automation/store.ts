/**
 * Every SQL statement of the automation tasks (net.http_*, webhooks, cron, cleanup), over the
 * owner pool. Each write that decides what happens next (a retry, a claimed cron run) is one
 * statement, so it commits or fails as a whole. Tables: sql/0019_automation.sql.
 */
import type pg from 'pg';

// ---- net ---------------------------------------------------------------------------------

export interface NetRequest {
  id: string;
  method: string;
  url: string;
  params: Record<string, unknown>;
  headers: Record<string, unknown>;
  body: Buffer | null;
  timeout_milliseconds: number;
}

export async function netRequest(pool: pg.Pool, id: number): Promise<NetRequest | undefined> {
  const { rows } = await pool.query<NetRequest>(
    `select id::text, method, url, params, headers, body, timeout_milliseconds from net.http_request_queue where id = $1`,
    [id],
  );
  return rows[0];
}

export interface NetResponse {
  statusCode: number | null;
  contentType: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timedOut: boolean;
  error: string | null;
}

/** Records the answer (pg_net's columns) and takes the request off the queue. */
export async function saveNetResponse(pool: pg.Pool, id: number, r: NetResponse): Promise<void> {
  await pool.query(
    `with taken as (delete from net.http_request_queue where id = $1)
     insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg)
     values ($1, $2, $3, $4, $5, $6, $7) on conflict (id) do nothing`,
    [id, r.statusCode, r.contentType, r.headers && JSON.stringify(r.headers), r.content, r.timedOut, r.error],
  );
}

// ---- webhooks ----------------------------------------------------------------------------

export interface PendingDelivery {
  id: string;
  payload: unknown;
  attempts: number;
  /** Attempts made before the last webhooks.retry. */
  retried_after: number;
  url: string;
  headers: Record<string, unknown>;
  timeout_ms: number;
  max_attempts: number;
  secret: string;
}

/** A delivery still to be made, with its hook (undefined: delivered, dead, gone or disabled). */
export async function pendingDelivery(pool: pg.Pool, id: number): Promise<PendingDelivery | undefined> {
  const { rows } = await pool.query<PendingDelivery>(
    `select d.id::text, d.payload, d.attempts, d.retried_after, h.url, h.headers, h.timeout_ms, h.max_attempts, h.secret
       from webhooks.deliveries d join webhooks.hooks h on h.id = d.hook_id
      where d.id = $1 and d.status in ('pending', 'retrying') and h.enabled`,
    [id],
  );
  return rows[0];
}

export interface AttemptOutcome {
  attempt: number;
  status: 'delivered' | 'retrying' | 'dead';
  statusCode: number | null;
  latencyMs: number;
  excerpt: string | null;
  error: string | null;
  /** When status is retrying: delay of the next attempt. */
  retryInMs: number;
}

/**
 * Logs an attempt and moves the delivery on; a retry is queued in the same statement. Nothing
 * happens when another run already recorded this attempt.
 */
export async function recordAttempt(pool: pg.Pool, id: number, o: AttemptOutcome): Promise<void> {
  await pool.query(
    `with moved as (
       update webhooks.deliveries d
          set attempts = $2, status = $3, status_code = $4, latency_ms = $5, response_excerpt = $6, error = $7,
              next_attempt_at = case when $3 = 'retrying' then now() + make_interval(secs => $8::float8 / 1000) end,
              delivered_at = case when $3 = 'delivered' then now() end
        where d.id = $1 and d.attempts = $2 - 1
        returning d.id, d.next_attempt_at),
     logged as (
       insert into webhooks.attempts (delivery_id, attempt, status_code, latency_ms, response_excerpt, error)
       select m.id, $2, $4, $5, $6, $7 from moved m)
     select graphile_worker.add_job('webhook_deliver', json_build_object('id', m.id), run_at => m.next_attempt_at, max_attempts => 5)
       from moved m where $3 = 'retrying'`,
    [id, o.attempt, o.status, o.statusCode, o.latencyMs, o.excerpt, o.error, o.retryInMs],
  );
}

// ---- cron --------------------------------------------------------------------------------

export interface CronJob {
  jobid: string;
  schedule: string;
  command: string;
  database: string;
  username: string;
  active: boolean;
}

export async function activeCronJobs(pool: pg.Pool): Promise<Pick<CronJob, 'jobid' | 'schedule'>[]> {
  const { rows } = await pool.query<Pick<CronJob, 'jobid' | 'schedule'>>(`select jobid::text, schedule from cron.job where active`);
  return rows;
}

/**
 * Claims the run of each job at `scheduledAt` and queues it (once: a (job, minute) already
 * claimed by another instance's tick is skipped). Runs are never retried: at most once each.
 */
export async function claimCronRuns(pool: pg.Pool, jobIds: string[], scheduledAt: Date): Promise<number> {
  const { rowCount } = await pool.query(
    `with claimed as (
       insert into cron.job_claims (jobid, scheduled_at) select unnest($1::bigint[]), $2
       on conflict do nothing returning jobid, scheduled_at)
     select graphile_worker.add_job('cron_run', json_build_object('jobid', c.jobid, 'scheduled_at', c.scheduled_at), max_attempts => 1) from claimed c`,
    [jobIds, scheduledAt],
  );
  return rowCount ?? 0;
}

export async function cronJob(pool: pg.Pool, jobid: number): Promise<CronJob | undefined> {
  const { rows } = await pool.query<CronJob>(`select jobid::text, schedule, command, database, username, active from cron.job where jobid = $1`, [jobid]);
  return rows[0];
}

export async function startCronRun(pool: pg.Pool, job: CronJob, pid: number | null): Promise<string> {
  const { rows } = await pool.query<{ runid: string }>(
    `insert into cron.job_run_details (jobid, job_pid, database, username, command, status, start_time)
     values ($1, $2, $3, $4, $5, 'running', now()) returning runid::text`,
    [job.jobid, pid, job.database, job.username, job.command],
  );
  return rows[0].runid;
}

export async function finishCronRun(pool: pg.Pool, runid: string, status: 'succeeded' | 'failed', message: string): Promise<void> {
  await pool.query(`update cron.job_run_details set status = $2, return_message = $3, end_time = now() where runid = $1`, [runid, status, message]);
}

// ---- cleanup -----------------------------------------------------------------------------

/** Drops what has outlived its use: broadcast messages (3 days, as Supabase), net responses (6 hours, as pg_net), old claims and delivered webhooks (7 days). */
export async function cleanup(pool: pg.Pool): Promise<void> {
  await pool.query(`
    delete from realtime.messages where inserted_at < now() - interval '3 days';
    delete from net._http_response where created < now() - interval '6 hours';
    delete from cron.job_claims where scheduled_at < now() - interval '1 day';
    delete from webhooks.deliveries where status = 'delivered' and delivered_at < now() - interval '7 days';`);
}
