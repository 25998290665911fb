/**
 * PostgreSQL's client tools for backups of an external Postgres (backup/dump.ts): `pg_dump` and
 * `pg_restore` of the server's major version or newer (pg_dump refuses a newer server; an older
 * pg_restore cannot read a newer archive). Looked for in BACKUP_PG_BIN_DIR, then Debian's
 * /usr/lib/postgresql/<major>/bin (newest first), then PATH. The password goes to the child in
 * PGPASSWORD, never on its command line (which `ps` shows).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

export type PgTool = 'pg_dump' | 'pg_restore';

export class PgToolMissing extends Error {}

/** The major version a tool reports (`pg_dump (PostgreSQL) 15.20 (Debian …)` → 15), or undefined when it does not run. */
function toolMajor(bin: string): Promise<{ major: number; version: string } | undefined> {
  return new Promise((resolve) => {
    const child = spawn(bin, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      const m = /\(PostgreSQL\)\s+(\d+)(?:\.\d+)?/.exec(out);
      resolve(code === 0 && m ? { major: Number(m[1]), version: out.trim() } : undefined);
    });
  });
}

function candidates(tool: PgTool): string[] {
  const list: string[] = [];
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const majors = readdirSync(debian).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
    for (const major of majors) list.push(path.join(debian, major, 'bin', tool));
  }
  list.push(tool);
  return list;
}

/** The first `tool` of `serverMajor` or newer; with BACKUP_PG_BIN_DIR set, only that one. */
export async function findPgTool(tool: PgTool, serverMajor: number, binDir?: string): Promise<{ bin: string; version: string }> {
  const found: string[] = [];
  for (const bin of binDir ? [path.join(binDir, tool)] : candidates(tool)) {
    if (bin.includes('/') && !existsSync(bin)) continue;
    const v = await toolMajor(bin);
    if (!v) continue;
    if (v.major >= serverMajor) return { bin, version: v.version };
    found.push(`${bin} is ${v.major}`);
  }
  throw new PgToolMissing(
    `a backup of this Postgres ${serverMajor} needs ${tool} ${serverMajor} or newer${found.length ? ` (${found.join('; ')})` : ''}: ` +
      `install postgresql-client-${serverMajor} or set BACKUP_PG_BIN_DIR`,
  );
}

/** libpq's environment for `url`: the connection without the password on the command line. */
export function libpqEnv(url: string): Record<string, string> {
  const u = new URL(url);
  const env: Record<string, string> = {
    PGHOST: decodeURIComponent(u.hostname.replace(/^\[|\]$/g, '')) || 'localhost',
    PGPORT: u.port || '5432',
    PGDATABASE: decodeURIComponent(u.pathname.slice(1)),
    PGUSER: decodeURIComponent(u.username),
    PGAPPNAME: 'nextmavens backup',
  };
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

/**
 * Runs a tool against `url`; resolves when it exits 0, rejects with the end of its stderr
 * otherwise. `stdio` is passed through (stdout a pipe for pg_dump, stdin for pg_restore).
 */
export function runPgTool(bin: string, args: string[], url: string, stdio: ('pipe' | 'ignore')[] = ['ignore', 'pipe', 'pipe']): { child: ChildProcess; done: Promise<void> } {
  const child = spawn(bin, args, { env: { ...process.env, ...libpqEnv(url) }, stdio: stdio as ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c).slice(-4000);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(bin)} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-5).join(' | ') || 'no message'}`));
    });
  });
  return { child, done };
}
