/**
 * The scheduled backup (BACKUP_SCHEDULE, or daily when only BACKUP_TARGET is set; graphile-worker's crontab): `nextmavens backup` to
 * BACKUP_TARGET with BACKUP_KEEP retention, from the stack's own process (a base backup of the
 * embedded Postgres, a dump of an external one: backup/run.ts). graphile-worker runs
 * a crontab item once per schedule slot across every worker, and retries a failed one.
 */
import type { Task } from 'graphile-worker';
import type { Logger } from 'pino';
import { backupFor } from '../../backup/run.ts';
import { openStore } from '../../backup/store.ts';
import { directUrlOf, type Config } from '../../config/load.ts';
import { createBackend } from '../../storage/backend/index.ts';

export const BACKUP_TASK = 'nextmavens_backup';

/** The crontab line of BACKUP_SCHEDULE (daily by default when BACKUP_TARGET is set; no backlog: a missed slot is not made up). */
export function backupCrontab(config: Config): string | undefined {
  return config.backup.schedule ? `${config.backup.schedule} ${BACKUP_TASK}` : undefined;
}

export function backupTask(opts: { config: Config; log: Logger }): Task {
  return async () => {
    const { config, log } = opts;
    const store = await openStore(config.backup.target);
    const backend = await createBackend(config);
    try {
      const result = await backupFor(config, { url: directUrlOf(config.postgres), store, backend, progress: (line) => log.debug({ component: 'backup' }, line) });
      log.info({ component: 'backup', backup: result.id, bytes: result.manifest.bytes }, `scheduled backup written to ${result.location}`);
    } finally {
      backend.close?.();
      await store.close();
    }
  };
}
