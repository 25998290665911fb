/**
 * docker-compose.pitr.yml (README "Point in time in compose"): db's cluster in a subdirectory of its
 * volume, its WAL archived into the backups volume, the gateway taking base backups of the mounted
 * cluster, and one uid (1000, the image's `node`) owning both. Checked on the files as
 * `docker compose -f docker-compose.yml -f docker-compose.pitr.yml` merges them (no Docker engine
 * here), by loading the gateway's and storage's interpolated environments as the stack's
 * configuration, and by running pitr-init's script on directories standing in for the volumes.
 */
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { walArchiveDir, archiveCommand } from '../backup/wal-archive.ts';
import { loadConfig } from '../config/load.ts';
import { COMPOSE_DOT_ENV, composeValidator, interpolate, interpolatedEnv, mergeCompose, readComposeFile, ROOT, untagged, type ComposeService } from './helpers/compose-files.ts';

const base = await mergeCompose('docker-compose.yml');
const merged = await mergeCompose('docker-compose.yml', 'docker-compose.pitr.yml');
const { db, gateway, storage } = merged.services;
const init = merged.services['pitr-init'] as ComposeService & { user?: string };
const dotEnv = COMPOSE_DOT_ENV;
const envOf = (env?: Record<string, string>) => interpolatedEnv(env);
/** Where `volume` is mounted in `service`. */
const mountOf = (service: ComposeService, volume: string) => service.volumes?.find((v) => v.split(':')[0] === volume)?.split(':')[1];
const userOf = (service: ComposeService) => (service as { user?: string }).user;
const scratch: string[] = [];
afterAll(async () => {
  for (const d of scratch) await rm(d, { recursive: true, force: true });
});

describe('docker-compose.pitr.yml', () => {
  it('validates against the compose schema, alone and merged over docker-compose.yml', async () => {
    const validate = composeValidator();
    expect(validate(untagged(await readComposeFile('docker-compose.pitr.yml'))), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(merged), JSON.stringify(validate.errors)).toBe(true);
  });

  it('db keeps its cluster in a subdirectory of the db-data volume, the one the gateway backs up as BACKUP_PGDATA', () => {
    const dbMount = mountOf(db, 'db-data')!;
    const gatewayMount = mountOf(gateway, 'db-data')!;
    expect(dbMount).toBe('/var/lib/postgresql/data');
    const pgdata = db.environment!.PGDATA;
    const sub = path.posix.relative(dbMount, pgdata);
    expect(sub).not.toMatch(/^(\.\.|$)/); // inside the volume, not its root: a restore renames it
    expect(gateway.environment!.BACKUP_PGDATA).toBe(path.posix.join(gatewayMount, sub));
  });

  it('db archives its WAL into the backups volume with the archive_command of the embedded Postgres, where the gateway reads BACKUP_TARGET/wal', () => {
    const command = db.command!;
    // The base file's settings are all still there (compose replaces a command whole), then archiving.
    expect(command.slice(0, base.services.db.command!.length)).toEqual(base.services.db.command);
    const setting = (name: string) => command.find((c, i) => command[i - 1] === '-c' && c.startsWith(`${name}=`))?.slice(name.length + 1);
    const walDir = path.posix.join(mountOf(db, 'backups')!, 'wal');
    expect(setting('archive_mode')).toBe('on');
    expect(setting('archive_command')).toBe(archiveCommand(walDir));
    expect(setting('archive_timeout')).toBe('60');
    expect(path.posix.join(mountOf(gateway, 'backups')!, 'wal')).toBe(walDir);
  });

  it('as the stack loads them, the gateway takes base backups with point in time and storage archives objects into the same target', async () => {
    const dataDir = path.join(ROOT, 'node_modules', '.compose-pitr-test');
    const g = await loadConfig({ ...envOf(gateway.environment), DATA_DIR: dataDir });
    expect(g.postgres.embedded).toBe(false);
    expect(g.backup).toMatchObject({ target: { kind: 'dir', dir: '/backups' }, pgData: '/db/pgdata', pitr: true, schedule: '0 3 * * *' });
    expect(walArchiveDir(g)).toBe('/backups/wal');
    // The target is fixed: a BACKUP_TARGET in .env cannot move it away from the WAL.
    expect(interpolate(gateway.environment!.BACKUP_TARGET, { ...dotEnv, BACKUP_TARGET: 's3://elsewhere/x' })).toBe('/backups');
    const s = await loadConfig({ ...envOf(storage.environment), DATA_DIR: dataDir });
    expect(s.backup).toMatchObject({ target: { kind: 'dir', dir: '/backups' }, pitr: true });
    expect(mountOf(storage, 'backups')).toBe('/backups');
  });

  it('one owner: db runs as uid 1000, the uid of the image\'s node user that the gateway and storage run as', async () => {
    const dockerfile = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:\d+-/m); // the official node images' `node` is uid 1000, gid 1000
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(userOf(db)).toBe('1000:1000');
    expect(userOf(gateway)).toBeUndefined();
    expect(userOf(storage)).toBeUndefined();
    expect(userOf(init)).toBe('0:0');
    for (const s of [db, gateway, storage]) expect(s.depends_on?.['pitr-init']).toEqual({ condition: 'service_completed_successfully' });
    expect(mountOf(init, 'db-data')).toBe('/db');
    expect(mountOf(init, 'backups')).toBe('/backups');
  });

  it.skipIf(process.getuid?.() !== 0)('pitr-init moves a cluster out of the volume\'s root into pgdata/ and gives both volumes to uid 1000, idempotently', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'nm-compose-pitr-'));
    scratch.push(root);
    const vol = path.join(root, 'db');
    const backups = path.join(root, 'backups');
    // A volume as docker-compose.yml alone leaves it: the cluster in its root, owned by the postgres image's uid 999.
    await mkdir(path.join(vol, 'base', '1'), { recursive: true });
    await writeFile(path.join(vol, 'PG_VERSION'), '17\n');
    await writeFile(path.join(vol, 'base', '1', '1259'), 'x');
    await mkdir(path.join(backups, 'backups', 'old'), { recursive: true });
    execFileSync('chown', ['-R', '999:999', vol]);
    await chmod(vol, 0o700);
    await chown(backups, 0, 0);
    const [sh, flags, script] = init.command!;
    const local = script.replaceAll('/backups', backups).replaceAll('/db', vol);
    for (let run = 0; run < 2; run++) {
      execFileSync(sh, [flags, local]);
      expect((await readdir(vol)).sort()).toEqual(['pgdata']);
      expect((await readdir(path.join(vol, 'pgdata'))).sort()).toEqual(['PG_VERSION', 'base']);
      for (const p of [vol, path.join(vol, 'pgdata'), path.join(vol, 'pgdata', 'base', '1', '1259'), backups, path.join(backups, 'wal'), path.join(backups, 'backups', 'old')]) {
        expect((await stat(p)).uid, p).toBe(1000);
      }
      expect((await stat(path.join(vol, 'pgdata'))).mode & 0o777).toBe(0o700);
    }
    // A fresh volume: nothing to move, the directories made and owned.
    await rm(vol, { recursive: true });
    await mkdir(vol);
    execFileSync(sh, [flags, local]);
    expect(await readdir(vol)).toEqual([]);
    expect((await stat(vol)).uid).toBe(1000);
  });
});
