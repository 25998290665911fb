/**
 * Alert state transitions. Each tick of the monitor (ops/monitor.ts) the rules (rules.ts) say
 * which conditions hold; a condition that starts is recorded in nextmavens.alerts and its
 * "firing" messages queued as graphile-worker jobs in the same transaction, one that ends is
 * resolved there and its "resolved" messages queued. The table's unique indexes decide which
 * instance sends (sql/0018_ops_alerts.sql), so several instances never send twice, and a
 * condition that persists sends nothing more.
 *
 * The database being unreachable cannot go through the database: it is tracked in memory. After
 * ALERT_DB_DOWN_SECONDS of failed checks this process sends "firing" itself (retried with
 * back-off in memory); when the database answers again the episode is recorded and "resolved"
 * queued as a job. Several instances that all lose the database each send this one (they cannot
 * coordinate without it); one alerting instance is the usual set-up.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.ts';
import type { History, Sample } from '../history.ts';
import {
  enqueueDelivery,
  failedJobs,
  inTransaction,
  openCondition,
  openConditions,
  recordEpisode,
  recordEvent,
  resolveCondition,
  type AlertRecord,
  type NewAlert,
} from '../store.ts';
import { configuredChannels, deliver, type AlertMessage, type ChannelName } from './channels.ts';
import { evaluateRules } from './rules.ts';

/** The payload of an `ops_alert` job (jobs/index.ts runs them). */
export interface AlertJob {
  channel: ChannelName;
  message: AlertMessage;
}

export interface AlertEngine {
  tick(sample: Sample): Promise<void>;
  /** Records a one-off event (deployment, failed job) and queues its messages; undefined if recorded before. */
  event(a: NewAlert): Promise<AlertRecord | undefined>;
  /** Since when the database has been unreachable, as this process sees it. */
  databaseDownSince(): Date | undefined;
  stop(): void;
}

const DB_DOWN: Omit<NewAlert, 'summary'> = { rule: 'database_down', key: 'database', severity: 'critical' };
const DIRECT_ATTEMPTS = 8;

export function messageOf(r: AlertRecord, status: AlertMessage['status']): AlertMessage {
  return {
    status,
    rule: r.rule,
    key: r.key,
    severity: r.severity,
    summary: r.summary,
    started_at: r.started_at.toISOString(),
    ...(r.resolved_at && status !== 'firing' ? { resolved_at: r.resolved_at.toISOString() } : {}),
    details: r.details,
  };
}

export function createAlertEngine(deps: { config: Config; pool: pg.Pool; log: Logger; history: History }): AlertEngine {
  const { config, pool, history } = deps;
  const log = deps.log.child({ component: 'alerts' });
  const cfg = config.ops.alerts;
  const channels = configuredChannels(config);
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  let downSince: Date | undefined;
  let downSent: AlertMessage | undefined;

  const queue = async (c: pg.PoolClient, r: AlertRecord, status: AlertMessage['status']) => {
    for (const channel of channels) await enqueueDelivery(c, { channel, message: messageOf(r, status) } satisfies AlertJob);
  };

  /** Sends without the database: retried in memory with back-off (1 s, 2 s, 4 s … 60 s). */
  function sendDirect(message: AlertMessage): void {
    const attempt = (channel: ChannelName, n: number) => {
      deliver(config, channel, message).catch((err: Error) => {
        if (stopped || n + 1 >= DIRECT_ATTEMPTS) return log.error({ channel, err: err.message }, 'alerts: delivery failed for good');
        log.warn({ channel, err: err.message }, 'alerts: delivery failed; retrying');
        const timer = setTimeout(() => (timers.delete(timer), attempt(channel, n + 1)), Math.min(60_000, 1000 * 2 ** n));
        timers.add(timer);
      });
    };
    for (const channel of channels) attempt(channel, 0);
  }

  async function database(sample: Sample): Promise<boolean> {
    const up = sample.health.database?.status === 'up';
    const now = new Date(sample.t);
    if (!up) {
      downSince ??= now;
      const seconds = (now.getTime() - downSince.getTime()) / 1000;
      if (!downSent && seconds >= cfg.dbDownSeconds) {
        downSent = {
          ...DB_DOWN,
          status: 'firing',
          summary: `the database is unreachable (no answer for ${Math.round(seconds)} s: ${sample.health.database?.error ?? 'down'})`,
          started_at: downSince.toISOString(),
        };
        log.error({ since: downSince }, 'alerts: database unreachable');
        sendDirect(downSent);
      }
      return false;
    }
    if (downSent) {
      const fired = downSent;
      const record = await inTransaction(pool, async (c) => {
        const r = await recordEpisode(c, { ...DB_DOWN, summary: fired.summary }, new Date(fired.started_at));
        await queue(c, r, 'resolved');
        return r;
      });
      log.info({ since: record.started_at }, 'alerts: database reachable again');
      downSent = undefined;
    }
    downSince = undefined;
    return true;
  }

  async function conditions(): Promise<void> {
    const { conditions, judged } = evaluateRules(cfg, history);
    const holding = new Set(conditions.map((c) => `${c.rule}\0${c.key}`));
    for (const cond of conditions) {
      await inTransaction(pool, async (c) => {
        const r = await openCondition(c, cond);
        if (r) {
          log.warn({ rule: r.rule, key: r.key }, `alerts: ${r.summary}`);
          await queue(c, r, 'firing');
        }
      });
    }
    for (const open of await openConditions(pool)) {
      if (!judged(open.rule, open.key) || holding.has(`${open.rule}\0${open.key}`)) continue;
      await inTransaction(pool, async (c) => {
        const r = await resolveCondition(c, open.rule, open.key);
        if (r) await queue(c, r, 'resolved');
      });
    }
  }

  async function event(a: NewAlert): Promise<AlertRecord | undefined> {
    return inTransaction(pool, async (c) => {
      const r = await recordEvent(c, a);
      if (r) await queue(c, r, 'event');
      return r;
    });
  }

  async function jobFailures(): Promise<void> {
    for (const job of await failedJobs(pool, { unalerted: true, limit: 20 })) {
      await event({
        rule: 'job_failed',
        key: job.id,
        severity: 'warning',
        summary: `job ${job.id} (${job.task}) failed its last attempt (${job.attempts}): ${(job.lastError ?? '').split('\n')[0].slice(0, 300)}`,
        details: { job_id: job.id, task: job.task, attempts: job.attempts },
      });
    }
  }

  return {
    async tick(sample) {
      if (stopped) return;
      try {
        if (!(await database(sample))) return;
        await conditions();
        await jobFailures();
      } catch (err) {
        // The database went away mid-tick: the next tick sees it in the health check.
        log.warn({ err: (err as Error).message }, 'alerts: evaluation failed');
      }
    },
    event,
    databaseDownSince: () => downSince,
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
