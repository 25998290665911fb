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

export interface Hook {
  url: string;
  headers: Record<string, unknown>;
  timeout_ms: number;
  max_attempts: number;
  secret: string;
  enabled: boolean;
}

export async function hook(pool: pg.Pool, id: number): Promise<Hook | undefined> {
  const { rows } = await pool.query<Hook>(`select url, headers, timeout_ms, max_attempts, secret, enabled from webhooks.hooks where id = $1`, [id]);
  return rows[0];
}

export interface DueDelivery {
  id: string;
  payload: unknown;
  attempts: number;
  /** Attempts made before the last webhooks.retry (max_attempts counts from there). */
  retried_after: number;
}

/**
 * Up to `limit` deliveries of the hook that are due, leased for `leaseMs` (no other worker
 * claims them meanwhile; a worker that dies lets the lease run out).
 */
export async function claimDeliveries(pool: pg.Pool, hookId: number, limit: number, leaseMs: number): Promise<DueDelivery[]> {
  const { rows } = await pool.query<DueDelivery>(
    `with due as (
       select d.id from webhooks.deliveries d
        where d.hook_id = $1 and d.status in ('pending', 'retrying') and d.next_attempt_at <= now()
          and (d.leased_until is null or d.leased_until < now())
        order by d.id limit $2 for update skip locked)
     update webhooks.deliveries d set leased_until = now() + make_interval(secs => $3::float8 / 1000)
       from due where d.id = due.id
     returning d.id::text, d.payload, d.attempts, d.retried_after`,
    [hookId, limit, leaseMs],
  );
  return rows.sort((x, y) => Number(x.id) - Number(y.id));
}

export interface AttemptOutcome {
  id: string;
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
 * Logs a batch of attempts and moves each delivery on, in one statement, which also queues the
 * hook's next job for the earliest retry. An attempt another run already recorded is skipped.
 */
export async function recordAttempts(pool: pg.Pool, hookId: number, outcomes: AttemptOutcome[]): Promise<void> {
  const col = <K extends keyof AttemptOutcome>(k: K) => outcomes.map((o) => o[k]);
  await pool.query(
    `with o as (
       select * from unnest($2::bigint[], $3::int[], $4::text[], $5::int[], $6::int[], $7::text[], $8::text[], $9::float8[])
         as o(id, attempt, status, status_code, latency_ms, excerpt, error, retry_ms)),
     moved as (
       update webhooks.deliveries d
          set attempts = o.attempt, status = o.status, status_code = o.status_code, latency_ms = o.latency_ms,
              response_excerpt = o.excerpt, error = o.error, leased_until = null,
              next_attempt_at = case when o.status = 'retrying' then now() + make_interval(secs => o.retry_ms / 1000) else d.next_attempt_at end,
              delivered_at = case when o.status = 'delivered' then now() end
         from o where d.id = o.id and d.attempts = o.attempt - 1
       returning d.id, o.attempt, o.status_code, o.latency_ms, o.excerpt, o.error, d.status, d.next_attempt_at),
     logged as (
       insert into webhooks.attempts (delivery_id, attempt, status_code, latency_ms, response_excerpt, error)
       select id, attempt, status_code, latency_ms, excerpt, error from moved)
     select webhooks._dispatch($1, min(next_attempt_at)) from moved where status = 'retrying' having count(*) > 0`,
    [hookId, col('id'), col('attempt'), col('status'), col('statusCode'), col('latencyMs'), col('excerpt'), col('error'), col('retryInMs')],
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

/**
 * Drops what has outlived its use: broadcast messages (3 days, as Supabase), net responses (6
 * hours, as pg_net), old cron claims and delivered webhooks (7 days); re-queues stranded deliveries.
 */
export async function cleanup(pool: pg.Pool): Promise<void> {
  await pool.query(`
    delete from realtime.messages where inserted_at < now() - interval '3 days';
    delete from net._http_response where created < now() - interval '6 hours';
    delete from cron.job_claims where scheduled_at < now() - interval '1 day';
    delete from webhooks.deliveries where status = 'delivered' and delivered_at < now() - interval '7 days';
    -- deliveries whose job was lost (a worker died holding it): queue their hook again
    select webhooks._dispatch(hook_id, null) from (
      select distinct hook_id from webhooks.deliveries
       where status in ('pending', 'retrying') and next_attempt_at < now() - interval '10 minutes'
         and (leased_until is null or leased_until < now())) lost;`);
}
