/**
 * `nextmavens audit verify` (exit code 1 on a break) and `nextmavens audit export [--to DIR|s3://…]`
 * over the configured database (audit/ does the work; docs/audit.md).
 */
import { exportAuditLog } from '../audit/export.ts';
import { describeVerification, verifyAuditLog } from '../audit/verify.ts';
import { openStore } from '../backup/store.ts';
import { parseBackupTarget, type Config } from '../config/load.ts';
import { optionValue } from './args.ts';
import { withDatabase } from './tenants.ts';
import { UsageError } from './usage-error.ts';

export class AuditUsageError extends UsageError {}

export async function commandAudit(config: Config, what: string | undefined, args: string[]): Promise<void> {
  switch (what) {
    case 'verify': {
      const result = await withDatabase(config, 'audit verify', (db) => verifyAuditLog(db));
      process.stdout.write(`${describeVerification(result)}\n`);
      if (!result.ok) process.exitCode = 1;
      return;
    }
    case 'export': {
      if (args.includes('--to') && !optionValue(args, '--to')) throw new AuditUsageError('audit export: --to needs a directory or s3://bucket/prefix');
      const to = optionValue(args, '--to');
      const store = await openStore(to ? parseBackupTarget(to) : config.backup.target);
      try {
        const result = await withDatabase(config, 'audit export', (db) => exportAuditLog(db, store));
        const range = result.count ? ` (entries ${result.first}..${result.last})` : '';
        process.stderr.write(`exported ${result.count} audit entries${range}\n`);
        process.stdout.write(`${store.location}/${result.name}\n`);
      } finally {
        await store.close();
      }
      return;
    }
    default:
      throw new AuditUsageError('audit: expected verify or export [--to DIR|s3://bucket/prefix]');
  }
}
