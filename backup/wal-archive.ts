/**
 * BACKUP_PITR for the embedded Postgres: archive_mode on, and archive_command copying each
 * finished WAL segment into BACKUP_TARGET/wal (written to a temporary name, then renamed; never
 * over an existing file, as PostgreSQL's documentation asks). archive_timeout bounds how much
 * recent history a lost data directory could take with it: a segment is switched and archived at
 * least every minute while anything is written.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.ts';

export const ARCHIVE_TIMEOUT_SECONDS = 60;

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The WAL archive directory of a PITR configuration, or undefined. */
export function walArchiveDir(config: Config): string | undefined {
  return config.backup.pitr && config.backup.target.kind === 'dir' ? path.join(config.backup.target.dir, 'wal') : undefined;
}

/** The server settings that archive WAL for `config` (none without BACKUP_PITR); creates the directory, writable by Postgres. */
export function walArchiveSettings(config: Config): Record<string, string> {
  const dir = walArchiveDir(config);
  if (!dir) return {};
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.getuid?.() === 0) {
    // The embedded server runs as postgres under root (db/embedded.ts): the folder is its own, and reachable.
    execFileSync('chown', ['postgres:postgres', dir]);
    for (let d = path.dirname(dir); d !== path.dirname(d); d = path.dirname(d)) {
      const mode = statSync(d).mode;
      if ((mode & 0o001) === 0) chmodSync(d, mode | 0o001);
    }
  }
  return { archive_mode: 'on', archive_command: archiveCommand(dir), archive_timeout: String(ARCHIVE_TIMEOUT_SECONDS) };
}

/** The archive_command that copies WAL into `dir` (the embedded server's, and compose's db in docker-compose.pitr.yml). */
export function archiveCommand(dir: string): string {
  const to = (name: string) => sh(path.join(dir, name));
  return `test ! -f ${to('%f')} && cp %p ${to('%f.tmp')} && mv ${to('%f.tmp')} ${to('%f')}`;
}
