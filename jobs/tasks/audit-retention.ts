/**
 * AUDIT_RETENTION_DAYS > 0: once a day, the audit entries older than that are exported to
 * BACKUP_TARGET/audit/removed/ and removed, the chain continuing from its anchor (audit/retention.ts).
 */
import type { Task } from 'graphile-worker';
import type pg from 'pg';
import type { Logger } from 'pino';
import { removeExpired, retentionCutoff } from '../../audit/retention.ts';
import { openStore } from '../../backup/store.ts';
import type { Config } from '../../config/load.ts';

export const AUDIT_RETENTION_TASK = 'nextmavens_audit_retention';

/** Daily at 04:17 UTC; none when entries are kept forever. */
export function auditRetentionCrontab(config: Config): string | undefined {
  return config.audit.retentionDays > 0 ? `17 4 * * * ${AUDIT_RETENTION_TASK}` : undefined;
}

export function auditRetentionTask(opts: { config: Config; pool: pg.Pool; log: Logger }): Task {
  return async () => {
    const { config, pool, log } = opts;
    const store = await openStore(config.backup.target);
    try {
      const result = await removeExpired(pool, store, retentionCutoff(config.audit.retentionDays));
      if (result) log.info({ component: 'audit', ...result }, `audit retention: ${result.removed} entries exported to ${store.location}/${result.name} and removed`);
    } finally {
      await store.close();
    }
  };
}
