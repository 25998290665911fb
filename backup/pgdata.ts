/**
 * The embedded Postgres's data directory as backups copy it: a tar stream of the directory taken
 * between pg_backup_start and pg_backup_stop (what PostgreSQL's "making a base backup with the
 * low level API" describes: docs/backups.md), the WAL segments that make it consistent, and the
 * way back (unpacking into an empty directory with backup_label and recovery settings).
 * GNU tar does the archiving: it is on every system the embedded Postgres runs on.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';

/** What a base backup leaves out (their contents are rebuilt at start), as PostgreSQL's documentation lists them. */
const EXCLUDED = [
  './pg_wal/*', './pg_replslot/*', './pg_dynshmem/*', './pg_notify/*', './pg_serial/*', './pg_snapshots/*', './pg_stat_tmp/*', './pg_subtrans/*',
  './postmaster.pid', './postmaster.opts', './backup_label', './tablespace_map', './recovery.signal', './standby.signal', '*/pgsql_tmp*',
];

const WAL_FILE = /^[0-9A-F]{24}$/;
const HISTORY_FILE = /^[0-9A-F]{8}\.history$/;

/** A tar process's output (or input) and how it ended; GNU tar's exit 1 ("file changed as we read it") is expected of a live cluster. */
function tar(args: string[], stdio: 'read' | 'write'): { stream: Readable | Writable; done: Promise<void> } {
  const child = spawn('tar', args, { stdio: stdio === 'read' ? ['ignore', 'pipe', 'pipe'] : ['pipe', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 || (code === 1 && stdio === 'read') ? resolve() : reject(new Error(`tar failed (exit ${code}): ${errors.trim().slice(0, 2000)}`))));
  });
  return { stream: (stdio === 'read' ? child.stdout : child.stdin)!, done };
}

/** The data directory as a tar stream (to be taken between pg_backup_start and pg_backup_stop). */
export function tarDataDir(dataDir: string): { stream: Readable; done: Promise<void> } {
  const t = tar(['-C', dataDir, '-cf', '-', '--warning=no-file-changed', '--warning=no-file-removed', '--ignore-failed-read', ...EXCLUDED.map((e) => `--exclude=${e}`), '.'], 'read');
  return { stream: t.stream as Readable, done: t.done };
}

/** The WAL segments from `firstWal` to `lastWal` (same timeline) and every timeline history file, as a tar stream. */
export async function tarWal(dataDir: string, firstWal: string, lastWal: string): Promise<{ stream: Readable; done: Promise<void>; files: string[] }> {
  const names = (await readdir(`${dataDir}/pg_wal`)).filter((n) => HISTORY_FILE.test(n) || (WAL_FILE.test(n) && n >= firstWal && n <= lastWal)).sort();
  if (!names.includes(firstWal) || !names.includes(lastWal)) throw new Error(`the WAL of the backup (${firstWal} … ${lastWal}) is not in ${dataDir}/pg_wal`);
  const t = tar(['-C', `${dataDir}/pg_wal`, '-cf', '-', ...names], 'read');
  return { stream: t.stream as Readable, done: t.done, files: names };
}

/**
 * Unpacks a tar stream into `dir` (which exists). tar stops reading at the archive's end marker
 * and may leave the padding after it unread: what comes after tar has closed its input is
 * consumed and dropped, so the stream feeding it (and its checksum) still sees every byte.
 */
export function untar(dir: string): { stream: Writable; done: Promise<void> } {
  const t = tar(['-C', dir, '-xf', '-'], 'write');
  const stdin = t.stream as Writable;
  let closed = false;
  let waiting: (() => void) | undefined;
  const gone = () => {
    closed = true;
    waiting?.();
  };
  stdin.on('error', gone);
  stdin.on('close', gone);
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (closed || stdin.write(chunk)) return done();
      waiting = () => {
        waiting = undefined;
        done();
      };
      stdin.once('drain', () => waiting?.());
    },
    final(done) {
      if (!closed) stdin.end();
      done();
    },
  });
  return { stream, done: t.done };
}
