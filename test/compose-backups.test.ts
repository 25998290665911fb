/**
 * Backups in compose (README "Backups and restore"): the gateway container runs the job worker, so
 * it takes the scheduled backups — a pg_dump of `db` (backup/dump.ts) with PostgreSQL 17's client
 * tools from the image, and the objects of the same MinIO the storage service writes — into the
 * `backups` volume. Checked on the compose file and the Dockerfile as they are (no Docker engine
 * here), and by loading the gateway's interpolated environment as the stack's configuration.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { COMPOSE_DOT_ENV, interpolate, interpolatedEnv, mergeCompose, ROOT } from './helpers/compose-files.ts';

const compose = await mergeCompose('docker-compose.yml');
const { gateway, storage } = compose.services;
const dotEnv = COMPOSE_DOT_ENV;
const envOf = (env?: Record<string, string>) => interpolatedEnv(env);

describe('backups in compose', () => {
  it('the gateway keeps them in the backups volume by default, on the schedule of BACKUP_SCHEDULE', () => {
    expect(gateway.volumes).toContain('backups:/backups');
    expect(Object.keys(compose.volumes ?? {})).toContain('backups');
    const env = envOf(gateway.environment);
    expect(env.BACKUP_TARGET).toBe('/backups');
    expect(interpolate(gateway.environment!.BACKUP_SCHEDULE, { ...dotEnv, BACKUP_SCHEDULE: '0 3 * * *' })).toBe('0 3 * * *');
  });

  it('the gateway reads the objects where the storage service writes them', () => {
    const keys = ['STORAGE_BACKEND', 'S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'S3_BUCKET'];
    const pick = (env: Record<string, string>) => Object.fromEntries(keys.map((k) => [k, env[k]]));
    expect(pick(envOf(gateway.environment))).toEqual(pick(envOf(storage.environment)));
    expect(envOf(gateway.environment).STORAGE_BACKEND).toBe('s3');
  });

  it('as the stack loads it, the gateway\'s configuration takes dumps of the external db into /backups', async () => {
    const config = await loadConfig({ ...envOf(gateway.environment), DATA_DIR: path.join(ROOT, 'node_modules', '.compose-backups-test') });
    expect(config.postgres.embedded).toBe(false);
    expect(config.postgres.host).toBe('db');
    expect(config.backup.target).toEqual({ kind: 'dir', dir: '/backups' });
    expect(config.backup.pgData).toBeUndefined(); // so backup/run.ts takes a dump, not a base backup
    expect(config.storage.backend).toBe('s3');
  });

  it('the image carries PostgreSQL 17\'s pg_dump and pg_restore (from PGDG: Debian bookworm has 15) and a /backups of its user', async () => {
    const dockerfile = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/apt\.postgresql\.org\.sh -y/);
    expect(dockerfile).toMatch(/apt-get install[^\n]*postgresql-client-17/);
    expect(dockerfile).toMatch(/mkdir -p \/data \/backups && chown node:node \/data \/backups/);
    expect(dockerfile).not.toMatch(/git clone|curl [^\n]*\| *sh/);
  });
});
