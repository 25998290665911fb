/**
 * Bringing a backup's cluster back (restore.ts into DATA_DIR, verify.ts into a throwaway
 * directory): unpack the base backup and its WAL into an empty data directory, checking the
 * stored checksums; write backup_label and the recovery settings (stop at the backup's restore
 * point, or at a time with the archived WAL); start Postgres and wait until recovery has
 * promoted it. See docs/backups.md.
 */
import { spawn } from 'node:child_process';
import { appendFile, chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { EmbeddedPostgres } from '../db/embedded.ts';
import { decompress, sha256Meter } from '../storage/backend/archive.ts';
import type { BaseManifest, StoredPart } from './manifest.ts';
import { untar } from './pgdata.ts';
import type { BackupStore } from './store.ts';

export type RecoveryTarget = { name: string } | { time: Date };

export class ChecksumMismatch extends Error {}

/** Unpacks a stored tar.zst part into `dir`, failing when its bytes are not the manifest's. */
async function unpackPart(store: BackupStore, part: StoredPart, dir: string): Promise<void> {
  const meter = sha256Meter();
  const out = untar(dir);
  await Promise.all([pipeline(await store.read(part.file), meter, decompress(), out.stream), out.done]);
  if (meter.digest() !== part.sha256 || meter.size !== part.size) throw new ChecksumMismatch(`${part.file}: checksum mismatch (the stored file is damaged)`);
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Fills the empty `pgDir` from the backup and sets it up to recover to `target`; `walSources`
 * are directories restore_command looks in for WAL past the backup's own (the WAL archive, an
 * old cluster's pg_wal).
 */
export async function unpackBackup(store: BackupStore, m: BaseManifest, pgDir: string, target: RecoveryTarget, walSources: string[] = []): Promise<void> {
  await mkdir(pgDir, { recursive: true, mode: 0o700 });
  await chmod(pgDir, 0o700);
  await unpackPart(store, m.base, pgDir);
  await mkdir(path.join(pgDir, 'pg_wal'), { recursive: true });
  await unpackPart(store, m.wal, path.join(pgDir, 'pg_wal'));
  await writeFile(path.join(pgDir, 'backup_label'), m.backupLabel);
  if (m.tablespaceMap) await writeFile(path.join(pgDir, 'tablespace_map'), m.tablespaceMap);
  await writeFile(path.join(pgDir, 'recovery.signal'), '');
  // Copy from the first source that has the file; `false` when there is none (the backup's own pg_wal is read anyway).
  const restoreCommand = walSources.length ? walSources.map((d) => `cp ${JSON.stringify(path.join(d, '%f'))} "%p" 2>/dev/null`).join(' || ') : 'false';
  const lines = [
    '',
    '# nextmavens restore (removed once recovery is done)',
    `restore_command = ${quote(restoreCommand)}`,
    'name' in target ? `recovery_target_name = ${quote(target.name)}` : `recovery_target_time = ${quote(target.time.toISOString().replace('T', ' ').replace('Z', '+00'))}`,
    `recovery_target_action = 'promote'`,
    '',
  ];
  await appendFile(path.join(pgDir, 'postgresql.auto.conf'), lines.join('\n'));
  if (process.getuid?.() === 0) await chownToPostgres(pgDir);
}

/** Embedded Postgres runs as `postgres` when started by root (db/embedded.ts): the unpacked files must be its own. */
const chownToPostgres = (dir: string) => chownTree(dir, 'postgres', 'postgres');

/** `chown -R user:group dir` (names or ids). */
export function chownTree(dir: string, user: string | number, group: string | number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('chown', ['-R', `${user}:${group}`, dir], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`chown -R ${user}:${group} ${dir} failed (exit ${code})`))));
  });
}

export interface RecoveredPostgres {
  server: EmbeddedPostgres;
  port: number;
  url(database: string): string;
}

/**
 * Starts Postgres on a recovering `pgDir` and waits until it has reached its target and promoted,
 * then drops the recovery settings. Fails with Postgres's own words when recovery cannot reach the target.
 */
export async function startRecovered(opts: { pgDir: string; port: number; user: string; password: string; ownerFile?: string; command?: string; timeoutMs?: number; binDir?: string }): Promise<RecoveredPostgres> {
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    dataDir: opts.pgDir,
    port: opts.port,
    user: opts.user,
    password: opts.password,
    ownerFile: opts.ownerFile,
    command: opts.command,
    binDir: opts.binDir,
    onLog: (line) => {
      log.push(line);
      if (log.length > 40) log.shift();
    },
    settings: { archive_mode: 'off', log_min_messages: 'log' },
  });
  const url = (database: string) => `postgresql://${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.password)}@127.0.0.1:${opts.port}/${encodeURIComponent(database)}`;
  try {
    await server.start();
    const deadline = Date.now() + (opts.timeoutMs ?? 60 * 60 * 1000);
    for (;;) {
      const c = new pg.Client({ connectionString: url('postgres') });
      c.on('error', () => undefined);
      const inRecovery = await c.connect().then(
        () => c.query<{ r: boolean }>('select pg_is_in_recovery() as r').then((r) => r.rows[0].r),
        () => undefined,
      );
      if (inRecovery === false) {
        for (const s of ['restore_command', 'recovery_target_name', 'recovery_target_time', 'recovery_target_action']) await c.query(`alter system reset ${s}`);
        await c.end();
        break;
      }
      await c.end().catch(() => undefined);
      if (!alive(server.pid) || Date.now() > deadline) throw new Error('recovery did not finish');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw new Error(`${(err as Error).message}\n${log.filter((l) => /FATAL|ERROR|recovery|target/i.test(l)).slice(-8).join('\n')}`);
  }
  return { server, port: opts.port, url };
}
