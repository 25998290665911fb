/**
 * The backup commands as a user runs them (child processes on an embedded DATA_DIR): `backup`
 * prints progress and the backup's path last, `backup verify` checks it and records the result
 * (the health report's last verified restore), `restore` rebuilds another DATA_DIR and refuses
 * one that holds a cluster; and the scheduled backup (BACKUP_SCHEDULE) through the jobs.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { parseCrontab } from 'graphile-worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack } from '../cli/stack.ts';
import { loadConfig } from '../config/load.ts';
import { backupCrontab } from '../jobs/tasks/backup.ts';
import { scheduledCrontab } from '../jobs/index.ts';
import { freePort } from '../test/helpers/net.ts';
import { listBackups } from './manifest.ts';
import { openStore } from './store.ts';
import { fixturePool } from '../test/helpers/db.ts';

const CLI = path.resolve(import.meta.dirname, '../cli/nextmavens.ts');
let root: string;
let env: Record<string, string>;

function run(args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'nm-backup-cli-'));
  await chmod(root, 0o755);
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY', 'BACKUP_TARGET', 'BACKUP_SCHEDULE']) delete process.env[name];
  env = { DATA_DIR: path.join(root, 'data'), PORT: String(await freePort()), POSTGRESQL_PORT: String(await freePort()), LOG_LEVEL: 'warn' };
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('nextmavens backup / backup verify / restore', () => {
  let backupPath: string;

  it('backup prints its progress and, last, the backup\'s path', async () => {
    expect((await run(['migrate'])).code).toBe(0);
    const r = await run(['backup']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/database: .* stored/);
    expect(r.stderr).toMatch(/objects: 0|backup \d{8}T\d{9}Z: database/);
    const lines = r.stdout.trim().split('\n');
    backupPath = lines.at(-1)!;
    expect(backupPath).toMatch(new RegExp(`^${path.join(env.DATA_DIR, 'backups', 'backups')}/\\d{8}T\\d{9}Z$`));
    expect(existsSync(path.join(backupPath, 'manifest.json'))).toBe(true);
  }, 120_000);

  it('backup verify restores it into a throwaway Postgres and records the outcome', async () => {
    const r = await run(['backup', 'verify', backupPath]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/verified \(\d+ tables, \d+ rows, 0 objects\)/);
    expect(r.stdout.trim()).toBe(backupPath);
    // Recorded in the database the stack serves /health from.
    const config = await loadConfig(env);
    const stack = await startStack({ ...config, port: 0, host: '127.0.0.1' }, pino({ level: 'silent' }));
    try {
      const health = (await (await fetch(`${stack.url}/health`)).json()) as { services: { backups: { status: string; detail: { last_verified_backup: string } } } };
      expect(health.services.backups).toMatchObject({ status: 'up', detail: { last_verified_backup: path.basename(backupPath) } });
    } finally {
      await stack.close();
    }
  }, 120_000);

  it('restore rebuilds an empty DATA_DIR and refuses one that holds a cluster; bad arguments are usage errors', async () => {
    const other = { DATA_DIR: path.join(root, 'other'), POSTGRESQL_PORT: String(await freePort()) };
    const r = await run(['restore', backupPath], other);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(path.join(other.DATA_DIR, 'postgres'));
    const again = await run(['restore', backupPath], other);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/holds a database cluster: restore --force moves it aside first/);
    const bad = await run(['restore', '--to', 'yesterday-ish'], other);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/is not a time/);
    // An external database is dumped (backup/dump.test.ts); one that does not answer is an error, not a hang.
    const external = await run(['backup'], { DATABASE_URL: 'postgresql://x:y@127.0.0.1:1/z' });
    expect(external.code).toBe(1);
    expect(external.stderr).toMatch(/ECONNREFUSED 127\.0\.0\.1:1/);
    expect(external.stderr).not.toContain(':y@');
  }, 120_000);
});

describe('scheduled backups (BACKUP_SCHEDULE)', () => {
  it('a configured BACKUP_TARGET gets daily backups at 03:00 UTC in the jobs\' crontab unless BACKUP_SCHEDULE says otherwise', async () => {
    const base = { ...env, DATA_DIR: path.join(root, 'sched-default'), LOG_LEVEL: 'silent' };
    const backupItems = async (extra: Record<string, string>) => scheduledCrontab(await loadConfig({ ...base, ...extra })).filter((i) => i.task === 'nextmavens_backup');
    const daily = await backupItems({ BACKUP_TARGET: path.join(root, 'sched-target') });
    expect(daily).toHaveLength(1);
    const at = (hour: number, min: number, dow: number) => daily[0].match({ min, hour, date: 2, month: 12, dow });
    expect([at(3, 0, 3), at(3, 0, 6), at(3, 1, 3), at(4, 0, 3), at(15, 0, 3)]).toEqual([true, true, false, false, false]);
    expect(await backupItems({})).toEqual([]); // no target configured: nothing scheduled
    expect(await backupItems({ BACKUP_TARGET: path.join(root, 'sched-target'), BACKUP_SCHEDULE: 'off' })).toEqual([]);
    const own = await backupItems({ BACKUP_TARGET: 'telegram:-1001', TELEGRAM_BOT_TOKEN: '1:x', BACKUP_SCHEDULE: '15 */6 * * *' });
    expect(own.map((i) => [i.match({ min: 15, hour: 6, date: 2, month: 12, dow: 3 }), i.match({ min: 0, hour: 3, date: 2, month: 12, dow: 3 })])).toEqual([[true, false]]);
  });

  it('the schedule is a graphile-worker crontab line whose task writes a backup', async () => {
    const config = await loadConfig({ ...env, DATA_DIR: path.join(root, 'sched'), POSTGRESQL_PORT: String(await freePort()), BACKUP_SCHEDULE: '30 3 * * *', LOG_LEVEL: 'silent' });
    const line = backupCrontab(config)!;
    expect(line).toBe('30 3 * * * nextmavens_backup');
    expect(parseCrontab(line)[0]).toMatchObject({ task: 'nextmavens_backup', match: expect.any(Function) });
    const stack = await startStack({ ...config, port: 0, host: '127.0.0.1' }, pino({ level: 'silent' }));
    const pool = fixturePool(config.postgres.url, 1);
    try {
      // What the crontab enqueues at 03:30, enqueued now.
      await pool.query(`select graphile_worker.add_job('nextmavens_backup')`);
      const store = await openStore(config.backup.target);
      for (let i = 0; i < 300 && (await listBackups(store)).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await listBackups(store)).toHaveLength(1);
      await expect(loadConfig({ ...env, BACKUP_SCHEDULE: 'every day' })).rejects.toThrow(/BACKUP_SCHEDULE must be a cron schedule of five fields, e.g. `0 3 \* \* \*`, or off/);
    } finally {
      await pool.end();
      await stack.close();
    }
  }, 120_000);
});
