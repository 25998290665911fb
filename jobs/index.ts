/**
 * The background jobs of the stack: one graphile-worker over the owner pool with every task the
 * services queue (auth's `send_email` and `send_tenant_invitation`; database automation's webhooks,
 * net.http_* and cron, automation/index.ts; ops' `ops_alert`; the scheduled backup and audit
 * retention), and the mail transport those tasks deliver with.
 * Started by the composition root (cli/stack.ts: the embedded stack, and the auth service when
 * it runs alone), never by a service; services only enqueue, in SQL, in their own transaction.
 */
import type pg from 'pg';
import { parseCrontab, type ParsedCronItem } from 'graphile-worker';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import { createTransport, SEND_EMAIL_TASK } from '../auth/mailer.ts';
import { deliverTenantInvitation, TENANT_INVITATION_TASK, type TenantInvitationJob } from '../auth/tenant-invitations.ts';
import { automationTasks } from '../automation/index.ts';
import { AUDIT_RETENTION_TASK, auditRetentionCrontab, auditRetentionTask } from './tasks/audit-retention.ts';
import { BACKUP_TASK, backupCrontab, backupTask } from './tasks/backup.ts';
import { sendEmailTask } from './tasks/send-email.ts';
import { ALERT_TASK, alertDeliveryTask } from '../ops/alerts/task.ts';
import { startWorker, type JobWorker } from './worker.ts';

/** The stack's own recurring jobs (automation's cron jobs aside): scheduled backups and audit retention. */
export function scheduledCrontab(config: Config): ParsedCronItem[] {
  const lines = [backupCrontab(config), auditRetentionCrontab(config)].filter((l) => l !== undefined);
  return lines.length ? parseCrontab(lines.join('\n')) : [];
}

export async function startJobs(opts: { config: Config; pool: pg.Pool; log: Logger }): Promise<JobWorker> {
  const { config, pool, log } = opts;
  const transport = createTransport(config, pool);
  let worker: JobWorker;
  try {
    const automation = automationTasks({ config, pool, log });
    worker = await startWorker({
      pool,
      log,
      tasks: {
        [SEND_EMAIL_TASK]: sendEmailTask({ pool, config, transport }),
        [TENANT_INVITATION_TASK]: async (payload) => deliverTenantInvitation({ pool, config, transport }, payload as TenantInvitationJob),
        [ALERT_TASK]: alertDeliveryTask(config),
        ...automation.tasks,
        [BACKUP_TASK]: backupTask({ config, log }),
        [AUDIT_RETENTION_TASK]: auditRetentionTask({ config, pool, log }),
      },
      crontab: [...automation.crontab, ...scheduledCrontab(config)],
    });
  } catch (err) {
    transport.close();
    throw err;
  }
  return {
    async stop() {
      await worker.stop();
      transport.close();
    },
  };
}
