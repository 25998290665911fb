/**
 * Database automation's background work (docs/automation.md): the graphile-worker tasks and
 * crontab behind net.http_*, database webhooks, pg_cron-style schedules and their cleanup.
 * Registered with the stack's worker by jobs/index.ts; the SQL side is
 * sql/0019_automation.sql. Outgoing HTTP goes through one egress policy (core/egress.ts).
 */
import type { ParsedCronItem, TaskList } from 'graphile-worker';
import type pg from 'pg';
import type { Logger } from 'pino';
import { directUrlOf, type Config } from '../config/load.ts';
import { egressPolicy } from '../core/egress.ts';
import { authenticatorUrl } from '../db/pool.ts';
import { AUTOMATION_CRONTAB, CLEANUP_TASK, CRON_RUN_TASK, CRON_TICK_TASK, cleanupTask, cronRunTask, cronTickTask } from './cron.ts';
import { NET_HTTP_TASK, netHttpTask } from './net.ts';
import { WEBHOOK_DELIVER_TASK, webhookDeliverTask } from './webhooks.ts';

export function automationTasks(deps: { config: Config; pool: pg.Pool; log: Logger }): { tasks: TaskList; crontab: ParsedCronItem[] } {
  const { config, pool, log } = deps;
  const policy = egressPolicy(config.automation.allowedHosts);
  return {
    tasks: {
      [WEBHOOK_DELIVER_TASK]: webhookDeliverTask({ pool, policy, retryBaseMs: config.automation.retryBaseMs }),
      [NET_HTTP_TASK]: netHttpTask({ pool, policy }),
      [CRON_TICK_TASK]: cronTickTask({ pool, log }),
      [CRON_RUN_TASK]: cronRunTask({ pool, ownerUrl: directUrlOf(config.postgres), ownerUser: config.postgres.user, authenticatorUrl: authenticatorUrl({ ...config.postgres, url: directUrlOf(config.postgres) }), log }),
      [CLEANUP_TASK]: cleanupTask({ pool }),
    },
    crontab: AUTOMATION_CRONTAB,
  };
}
