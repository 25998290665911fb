import { mkdtemp, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.ts';
import { ENV_VARS, renderEnvExample, withEnvTable } from './schema.ts';

const tmp = () => mkdtemp(path.join(os.tmpdir(), 'nm-config-'));
const SECRET = 'x'.repeat(40);

describe('loadConfig', () => {
  it('has working defaults: embedded Postgres on 54322, port 8000, generated secret kept in DATA_DIR', async () => {
    const dir = await tmp();
    const config = await loadConfig({ DATA_DIR: dir });
    expect(config.port).toBe(8000);
    expect(config.postgres).toMatchObject({ embedded: true, host: '127.0.0.1', port: 54322, database: 'nextmavens', user: 'nextmavens', replicationSlot: 'nextmavens_slot' });
    expect(config.ports).toEqual({ rest: 3000, auth: 9999, storage: 5000, realtime: 4003, graphql: 4004 });
    expect(config.graphql.schemas).toEqual(['public']);
    expect(config.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(config.realtime.jwtSecret).toBe(config.jwtSecret);
    expect(config.graphql.jwtSecret).toBe(config.jwtSecret);
    const file = path.join(dir, 'secrets.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8')).jwtSecret).toBe(config.jwtSecret);
    // A restart reads the same secret and so derives the same keys.
    const again = await loadConfig({ DATA_DIR: dir });
    expect(again.jwtSecret).toBe(config.jwtSecret);
    expect(again.anonKey).toBe(config.anonKey);
    expect(again.postgres.password).toBe(config.postgres.password);
  });

  it('TRUST_PROXY: off by default, true behind a proxy, or the proxies to trust', async () => {
    expect((await loadConfig({ DATA_DIR: await tmp() })).trustProxy).toBe(false);
    expect((await loadConfig({ DATA_DIR: await tmp(), TRUST_PROXY: 'true' })).trustProxy).toBe(true);
    expect((await loadConfig({ DATA_DIR: await tmp(), TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' })).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
  });

  it('the edge: RATE_LIMIT_* per group (0 = off), ADMIN_IP_ALLOWLIST of addresses and CIDRs only', async () => {
    const config = await loadConfig({ DATA_DIR: await tmp(), RATE_LIMIT_REST: '0', RATE_LIMIT_AUTH: '90', ADMIN_IP_ALLOWLIST: '10.0.0.0/8, 2001:db8::/32,192.0.2.7' });
    expect(config.rateLimits).toEqual({ rest: 0, graphql: 6000, storage: 6000, realtime: 1200, auth: 90 });
    expect(config.adminIpAllowlist).toEqual(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);
    expect((await loadConfig({ DATA_DIR: await tmp() })).adminIpAllowlist).toEqual([]);
    await expect(loadConfig({ DATA_DIR: await tmp(), ADMIN_IP_ALLOWLIST: 'office.example.com,10.0.0.0/33', RATE_LIMIT_GRAPHQL: '-1' })).rejects.toThrow(
      /RATE_LIMIT_GRAPHQL[\s\S]*ADMIN_IP_ALLOWLIST: "office.example.com" is not an IP address or CIDR[\s\S]*"10.0.0.0\/33"/,
    );
  });

  it('derives anon and service_role keys signed with JWT_SECRET', async () => {
    const config = await loadConfig({ DATA_DIR: await tmp(), JWT_SECRET: SECRET });
    const key = new TextEncoder().encode(SECRET);
    const anon = await jwtVerify(config.anonKey, key);
    const service = await jwtVerify(config.serviceRoleKey, key);
    expect(anon.payload.role).toBe('anon');
    expect(service.payload.role).toBe('service_role');
    expect(anon.payload.exp! - Date.now() / 1000).toBeGreaterThan(10 * 365 * 86400);
  });

  it('uses an existing Postgres when DATABASE_URL or POSTGRESQL_HOST is set', async () => {
    const a = await loadConfig({ DATA_DIR: await tmp(), JWT_SECRET: SECRET, DATABASE_URL: 'postgres://u:p%40ss@db.example:6543/app' });
    expect(a.postgres).toMatchObject({ embedded: false, host: 'db.example', port: 6543, user: 'u', password: 'p@ss', database: 'app' });
    const b = await loadConfig({ DATA_DIR: await tmp(), JWT_SECRET: SECRET, POSTGRESQL_HOST: 'db', POSTGRESQL_PASSWORD: 'pw', POSTGRESQL_PORT: '5432' });
    expect(b.postgres).toMatchObject({ embedded: false, host: 'db', port: 5432, url: 'postgresql://nextmavens:pw@db:5432/nextmavens' });
  });

  it('reports every bad value at once, clearly', async () => {
    const err = await loadConfig({
      DATA_DIR: await tmp(),
      PORT: 'eighty',
      REALTIME_PORT: '70000',
      LOG_LEVEL: 'loud',
      GRAPHILE_SCHEMA: 'public,"x;drop"',
      DATABASE_URL: 'mysql://x',
      POSTGRESQL_REPLICATION_SLOT: 'Bad-Slot',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'REALTIME_PORT', 'LOG_LEVEL', 'GRAPHILE_SCHEMA', 'DATABASE_URL', 'POSTGRESQL_REPLICATION_SLOT']) {
      expect(problems).toContain(name);
    }
  });

  it('reports a bad PORT and a short JWT_SECRET together, and writes no secrets for a refused configuration', async () => {
    const dir = await tmp();
    const err = await loadConfig({ DATA_DIR: dir, PORT: 'abc', JWT_SECRET: 'short', GRAPHILE_JWT_SECRET: 'tiny' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems.some((p) => p.startsWith('PORT must be an integer'))).toBe(true);
    expect(problems.some((p) => p.startsWith('JWT_SECRET must be at least 32'))).toBe(true);
    expect(problems.some((p) => p.startsWith('GRAPHILE_JWT_SECRET must be at least 32'))).toBe(true);
    // Without JWT_SECRET, a refused configuration reports its real problem only and generates nothing.
    const other = await tmp();
    const alone = await loadConfig({ DATA_DIR: other, PORT: 'abc', AUTH_BCRYPT_COST: '99' }).catch((e: unknown) => e);
    expect((alone as ConfigError).problems.map((p) => p.split(' ')[0])).toEqual(['PORT', 'AUTH_BCRYPT_COST']);
    await expect(stat(path.join(other, 'secrets.json'))).rejects.toThrow();
  });

  it('refuses a JWT secret shorter than 32 characters', async () => {
    await expect(loadConfig({ DATA_DIR: await tmp(), JWT_SECRET: 'short' })).rejects.toThrow(/JWT_SECRET must be at least 32/);
    await expect(loadConfig({ DATA_DIR: await tmp(), JWT_SECRET: SECRET, GRAPHILE_JWT_SECRET: 'short' })).rejects.toThrow(/GRAPHILE_JWT_SECRET/);
  });

  it('WEBHOOK_ALLOWED_HOSTS takes host names, addresses and CIDRs, and refuses anything else', async () => {
    const ok = await loadConfig({ DATA_DIR: await tmp(), JWT_SECRET: SECRET, WEBHOOK_ALLOWED_HOSTS: 'receiver.internal, 10.0.0.0/8,127.0.0.1,::1/128' });
    expect(ok.automation).toEqual({ allowedHosts: ['receiver.internal', '10.0.0.0/8', '127.0.0.1', '::1/128'], retryBaseMs: 1000 });
    const err = await loadConfig({ DATA_DIR: await tmp(), JWT_SECRET: SECRET, WEBHOOK_ALLOWED_HOSTS: '10.0.0.0/33,http://x,a b', WEBHOOK_RETRY_BASE_MS: '0' }).catch((e: unknown) => e);
    expect((err as ConfigError).problems).toEqual([
      'WEBHOOK_ALLOWED_HOSTS: "10.0.0.0/33" is not a CIDR',
      'WEBHOOK_ALLOWED_HOSTS: "http://x" is neither a host name nor an IP address/CIDR',
      'WEBHOOK_ALLOWED_HOSTS: "a b" is neither a host name nor an IP address/CIDR',
      'WEBHOOK_RETRY_BASE_MS must be an integer between 1 and 3600000 (got "0")',
    ]);
  });

  it('STORAGE_BACKEND=telegram and BACKUP_*: targets, schedule and PITR are checked, problems reported together', async () => {
    const dir = await tmp();
    const tg = await loadConfig({ DATA_DIR: dir, JWT_SECRET: SECRET, STORAGE_BACKEND: 'telegram', TELEGRAM_BOT_TOKEN: '1:x', TELEGRAM_CHANNEL_ID: '-100', TELEGRAM_CHUNK_SIZE: '4096' });
    expect(tg.storage).toMatchObject({ backend: 'telegram', telegram: { botToken: '1:x', channelId: '-100', chunkSize: 4096, apiUrl: 'https://api.telegram.org' } });
    expect(tg.backup).toEqual({ target: { kind: 'dir', dir: path.join(dir, 'backups') }, schedule: undefined, keep: 7, pitr: false });
    const s3 = await loadConfig({ DATA_DIR: dir, JWT_SECRET: SECRET, BACKUP_TARGET: 's3://my-backups/site/a/', S3_ENDPOINT: 'http://minio:9000', BACKUP_S3_ACCESS_KEY: 'k', BACKUP_KEEP: '3', BACKUP_SCHEDULE: '0 3 * * *' });
    expect(s3.backup).toMatchObject({ target: { kind: 's3', bucket: 'my-backups', prefix: 'site/a', endpoint: 'http://minio:9000', accessKey: 'k' }, keep: 3, schedule: '0 3 * * *' });
    const bad = await loadConfig({ DATA_DIR: dir, JWT_SECRET: SECRET, STORAGE_BACKEND: 'telegram', BACKUP_TARGET: 's3://x', BACKUP_PITR: 'true', BACKUP_SCHEDULE: 'nightly', BACKUP_KEEP: '0' }).catch((e: ConfigError) => e);
    expect((bad as ConfigError).problems).toEqual([
      // Each variable's own parser first, in the list's order, then what depends on several.
      'BACKUP_SCHEDULE must be a cron schedule of five fields, e.g. `0 3 * * *`, or off',
      'BACKUP_KEEP must be an integer between 1 and 10000 (got "0")',
      'TELEGRAM_BOT_TOKEN and TELEGRAM_CHANNEL_ID are required when STORAGE_BACKEND=telegram',
      'BACKUP_TARGET: "s3://x" is not s3://bucket/prefix (bucket names: 3-63 lower-case letters, digits, dots and hyphens)',
      'BACKUP_S3_ENDPOINT (or S3_ENDPOINT) must be an http(s):// URL without a path for an s3:// backup target',
      'BACKUP_PITR needs a directory BACKUP_TARGET (Postgres archives its WAL there)',
    ]);
  });

  it('keeps explicitly configured keys', async () => {
    const config = await loadConfig({ DATA_DIR: await tmp(), JWT_SECRET: SECRET, ANON_KEY: 'a.b.c', SERVICE_ROLE_KEY: 'd.e.f' });
    expect([config.anonKey, config.serviceRoleKey]).toEqual(['a.b.c', 'd.e.f']);
  });
});

describe('.env.example and the README table', () => {
  it('are generated from config/schema.ts and document every variable the issue names', async () => {
    const committed = await readFile(new URL('../.env.example', import.meta.url), 'utf8');
    expect(committed, 'run `npm run gen -- env`').toBe(renderEnvExample());
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme, 'run `npm run gen -- env`').toBe(withEnvTable(readme));
    const required = ['POSTGRESQL_HOST', 'POSTGRESQL_PORT', 'POSTGRESQL_DB', 'POSTGRESQL_USER', 'POSTGRESQL_PASSWORD', 'JWT_SECRET',
      'REALTIME_PORT', 'REALTIME_JWT_SECRET', 'POSTGRESQL_REPLICATION_SLOT', 'GRAPHILE_PORT', 'GRAPHILE_SCHEMA', 'GRAPHILE_JWT_SECRET',
      'TELEGRAM_BOT_TOKEN', 'TELEGRAM_CHANNEL_ID', 'DATABASE_URL', 'PORT', 'DATA_DIR', 'ANON_KEY', 'SERVICE_ROLE_KEY', 'REDIS_URL'];
    const names = ENV_VARS.map((v) => v.name);
    for (const name of required) expect(names).toContain(name);
  });
});
