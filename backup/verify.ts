/**
 * `nextmavens backup verify [<id>]`: a backup is trusted once it has been restored. The backup
 * (default: the latest) is unpacked into a throwaway directory and recovered by a throwaway
 * Postgres on a free port (a dump of an external Postgres: into a throwaway database on that
 * server, backup/dump.ts); every table's row count must equal the manifest's, and every object's
 * stored bytes must decompress to the manifest's size and SHA-256. The outcome is written beside
 * the backup (verified.json) and, when the live database is reachable, into
 * nextmavens.backup_verifications (the health report's "last verified restore").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import type { Config } from '../config/load.ts';
import { readArchivedBlob, sha256Meter } from '../storage/backend/archive.ts';
import { freePort } from '../core/free-port.ts';
import { chooseBackup } from './restore.ts';
import { restoreDumpInto, scratchDatabase } from './dump.ts';
import { isDump } from './manifest.ts';
import { startRecovered, unpackBackup } from './recovery.ts';
import type { BackupStore } from './store.ts';

export interface VerifyResult {
  backup: string;
  ok: boolean;
  verifiedAt: string;
  tables: number;
  rows: number;
  objects: number;
  objectBytes: number;
  problems: string[];
  seconds: number;
}

export async function verifyBackup(opts: { config: Config; store: BackupStore; id?: string; progress?: (line: string) => void }): Promise<VerifyResult> {
  const { config, store, progress } = opts;
  const started = Date.now();
  const m = await chooseBackup(store, opts.id);
  const problems: string[] = [];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-verify-'));
  let rows = 0;
  try {
    if (isDump(m)) {
      // A dump restores into a database of its own on the configured server.
      if (config.postgres.embedded) throw new Error('a dump of an external Postgres is verified with DATABASE_URL / POSTGRESQL_HOST set (its restore needs that server)');
      progress?.(`verify: restoring ${m.id} into a throwaway database`);
      const scratch = await scratchDatabase(config.postgres.url);
      try {
        await restoreDumpInto(scratch.url, store, m, { binDir: config.backup.pgBinDir });
        rows = await checkRows(scratch.url, m.rows, problems);
      } finally {
        await scratch.drop();
      }
    } else {
      const pgDir = path.join(dir, 'pg');
      progress?.(`verify: restoring ${m.id} into a throwaway Postgres`);
      const password = await secretPassword(store, m.id, config.postgres.password);
      await unpackBackup(store, m, pgDir, { name: m.restorePoint.name });
      const recovered = await startRecovered({ pgDir, port: await freePort(), user: config.postgres.user, password, binDir: config.postgres.embedded ? undefined : config.backup.pgBinDir });
      try {
        rows = await checkRows(recovered.url(m.postgres.database), m.rows, problems);
      } finally {
        await recovered.server.stop();
      }
    }
    progress?.(`verify: ${Object.keys(m.rows).length} tables, ${rows} rows checked; checking ${m.objects.length} objects`);
    for (const o of m.objects) {
      const archived = await readArchivedBlob(store, o.key).catch(() => undefined);
      if (!archived) {
        problems.push(`object ${o.key}: missing from the backup`);
        continue;
      }
      const meter = sha256Meter();
      try {
        await pipeline(archived.body, meter, new Writable({ write: (_c, _e, done) => done() }));
      } catch (err) {
        problems.push(`object ${o.key}: unreadable (${(err as Error).message})`);
        continue;
      }
      if (meter.digest() !== o.sha256 || meter.size !== o.size) problems.push(`object ${o.key}: checksum mismatch`);
    }
  } catch (err) {
    problems.push(`restore failed: ${(err as Error).message}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const result: VerifyResult = {
    backup: m.id,
    ok: problems.length === 0,
    verifiedAt: new Date().toISOString(),
    tables: Object.keys(m.rows).length,
    rows,
    objects: m.objects.length,
    objectBytes: m.objects.reduce((n, o) => n + o.size, 0),
    problems,
    seconds: (Date.now() - started) / 1000,
  };
  await store.write(`backups/${m.id}/verified.json`, PassThrough.from([Buffer.from(JSON.stringify(result, null, 2) + '\n')]) as Readable);
  return result;
}

/** Every table's row count in the restored database against the manifest's; the rows counted. */
async function checkRows(url: string, expected: Record<string, number>, problems: string[]): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  let rows = 0;
  try {
    for (const [table, want] of Object.entries(expected)) {
      const [schema, name] = table.split(/\.(.*)/s);
      const got = Number((await c.query<{ n: string }>(`select count(*) as n from ${c.escapeIdentifier(schema)}.${c.escapeIdentifier(name)}`)).rows[0].n);
      rows += got;
      if (got !== want) problems.push(`${table}: ${got} rows, the manifest says ${want}`);
    }
  } finally {
    await c.end();
  }
  return rows;
}

/** The superuser password of the backed-up cluster: the backup's generated secrets, else the configured one. */
async function secretPassword(store: BackupStore, id: string, configured: string): Promise<string> {
  const file = `backups/${id}/secrets.json`;
  if (!(await store.exists(file))) return configured;
  const { readJson } = await import('../storage/backend/archive.ts');
  return (await readJson<{ postgresPassword?: string }>(store, file)).postgresPassword ?? configured;
}

/** Records a verification in the live database (nextmavens.backup_verifications). */
export async function recordVerification(url: string, r: VerifyResult): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('insert into nextmavens.backup_verifications (backup, ok, detail, verified_at) values ($1, $2, $3, $4)', [r.backup, r.ok, JSON.stringify(r), r.verifiedAt]);
  } finally {
    await c.end();
  }
}

/** The latest recorded verification, for the health report. */
export async function lastVerification(q: pg.Pool): Promise<{ backup: string; ok: boolean; verified_at: Date } | undefined> {
  const { rows } = await q.query<{ backup: string; ok: boolean; verified_at: Date }>('select backup, ok, verified_at from nextmavens.backup_verifications order by verified_at desc limit 1');
  return rows[0];
}
