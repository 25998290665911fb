/**
 * `nextmavens backup [--to DIR | s3://bucket/prefix | telegram:[<chat>]]`, `nextmavens backup verify [<backup>]`
 * and `nextmavens restore [<backup>] [--force] [--to TIMESTAMP]` (backup/*.ts do the work).
 * Progress goes to stderr; the backup's path is the last line on stdout.
 *
 * <backup> is `latest` (the default), a backup id of BACKUP_TARGET, a backup's own path
 * (`<target>/backups/<id>`), or a target (its latest backup).
 */
import { backupFor } from '../backup/run.ts';
import { restoreBackup } from '../backup/restore.ts';
import { openStore, type BackupStore } from '../backup/store.ts';
import { recordVerification, verifyBackup } from '../backup/verify.ts';
import { parseBackupTarget, type Config } from '../config/load.ts';
import { createLogger } from '../config/logger.ts';
import { createBackend } from '../storage/backend/index.ts';
import { startDatabase } from './stack.ts';
import { UsageError } from './usage-error.ts';

export class BackupUsageError extends UsageError {}

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** `--name value` options and the positional arguments. */
function parseArgs(args: string[], flags: string[], valued: string[]): { positional: string[]; options: Record<string, string | true> } {
  const positional: string[] = [];
  const options: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (flags.includes(a)) options[a] = true;
    else if (valued.includes(a)) {
      if (i + 1 >= args.length) throw new BackupUsageError(`${a} needs a value`);
      options[a] = args[++i];
    } else if (a.startsWith('--')) throw new BackupUsageError(`unknown option ${a}`);
    else positional.push(a);
  }
  return { positional, options };
}

/** The store and backup id `ref` names. */
async function resolveRef(config: Config, ref: string | undefined): Promise<{ store: BackupStore; id?: string }> {
  if (!ref || ref === 'latest') return { store: await openStore(config.backup.target) };
  const own = /^(.*)\/backups\/([^/]+)\/?$/.exec(ref);
  if (own) return { store: await openStore(parseBackupTarget(own[1])), id: own[2] };
  if (/^\d{8}T\d{9}Z$/.test(ref)) return { store: await openStore(config.backup.target), id: ref };
  return { store: await openStore(parseBackupTarget(ref)) };
}

export async function commandBackup(config: Config, args: string[]): Promise<void> {
  if (args[0] === 'verify') return commandVerify(config, args.slice(1));
  const { positional, options } = parseArgs(args, [], ['--to']);
  if (positional.length) throw new BackupUsageError(`backup: unexpected ${positional[0]}`);
  const target = typeof options['--to'] === 'string' ? parseBackupTarget(options['--to']) : config.backup.target;
  const log = createLogger(config);
  const database = await startDatabase(config, log, { command: 'backup', share: true });
  try {
    const cfg = { ...config, postgres: { ...config.postgres, url: database.url } };
    const store = await openStore(target);
    const backend = await createBackend(cfg);
    try {
      const started = performance.now();
      const result = await backupFor(config, { url: database.url, store, backend, progress });
      const b = result.manifest.bytes;
      progress(`backup ${result.id}: database ${(b.database / 1e6).toFixed(1)} MB stored, ${result.manifest.objects.length} objects (${(b.objects / 1e6).toFixed(1)} MB, ${(b.objectsStored / 1e6).toFixed(1)} MB new) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      process.stdout.write(`${result.location}\n`);
    } finally {
      backend.close?.();
      await store.close();
    }
  } finally {
    await database.stop();
  }
}

async function commandVerify(config: Config, args: string[]): Promise<void> {
  const { positional } = parseArgs(args, [], []);
  const { store, id } = await resolveRef(config, positional[0]);
  const result = await verifyBackup({ config, store, id, progress });
  // Recorded in the live database too when there is one (the health report shows it).
  if (config.postgres.embedded || config.postgres.url) {
    const log = createLogger(config);
    try {
      const database = await startDatabase(config, log, { command: 'backup verify', share: true });
      try {
        await recordVerification(database.url, result);
      } finally {
        await database.stop();
      }
    } catch (err) {
      progress(`(not recorded in the database: ${(err as Error).message.split('\n')[0]})`);
    }
  }
  progress(result.ok ? `backup ${result.backup}: verified (${result.tables} tables, ${result.rows} rows, ${result.objects} objects) in ${result.seconds.toFixed(1)} s` : `backup ${result.backup}: FAILED\n  ${result.problems.join('\n  ')}`);
  process.stdout.write(`${store.location}/backups/${result.backup}\n`);
  if (!result.ok) process.exitCode = 1;
}

export async function commandRestore(config: Config, args: string[]): Promise<void> {
  const { positional, options } = parseArgs(args, ['--force'], ['--to']);
  let to: Date | undefined;
  if (typeof options['--to'] === 'string') {
    to = new Date(options['--to']);
    if (Number.isNaN(to.getTime())) throw new BackupUsageError(`restore --to: "${options['--to']}" is not a time (e.g. "2026-12-01 10:00:00Z")`);
  }
  const { store, id } = await resolveRef(config, positional[0]);
  try {
    const result = await restoreBackup({ config, store, id, to, force: options['--force'] === true, progress });
    progress(`restored backup ${result.id}${to ? ` to ${to.toISOString()}` : ''}: ${result.objects} objects; start the stack with \`nextmavens start\``);
    process.stdout.write(`${result.into}\n`);
  } finally {
    await store.close();
  }
}
