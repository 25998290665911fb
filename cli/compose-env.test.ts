/**
 * `gen env --compose` as an operator runs it before `docker compose up`: a .env holding every
 * variable docker-compose.yml requires (`${VAR:?…}`), fresh hex secrets, API keys that verify
 * with its JWT_SECRET and carry the right roles, accepted by the configuration loader; never
 * overwriting an existing file without --force.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEnv, promisify } from 'node:util';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'cli/nextmavens.ts');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nm-compose-env-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const gen = (...args: string[]) => run(process.execPath, [CLI, 'gen', 'env', '--compose', ...args], { cwd: dir, env: { PATH: process.env.PATH } });

it('writes every variable compose requires, fresh secrets, matching keys; refuses to overwrite', async () => {
  await gen('--public-url', 'https://api.example.com');
  const file = path.join(dir, '.env');
  expect((await stat(file)).mode & 0o077).toBe(0);
  const env = parseEnv(await readFile(file, 'utf8')) as Record<string, string>;
  const compose = await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8');
  const required = [...new Set([...compose.matchAll(/\$\{([A-Z_]+):\?/g)].map((m) => m[1]))];
  expect(required.length).toBeGreaterThan(0);
  for (const name of required) expect(env[name], name).toBeTruthy();
  expect(env.JWT_SECRET).toMatch(/^[0-9a-f]{64}$/);
  // One password per database login (owner, authenticator, the services' roles), none shared.
  const logins = ['POSTGRESQL_PASSWORD', 'POSTGRESQL_AUTHENTICATOR_PASSWORD', 'POSTGRESQL_AUTH_PASSWORD', 'POSTGRESQL_STORAGE_PASSWORD', 'POSTGRESQL_REALTIME_PASSWORD'];
  for (const name of logins) expect(env[name], name).toMatch(/^[0-9a-f]{48}$/);
  expect(new Set(logins.map((name) => env[name])).size).toBe(logins.length);
  expect(env.PUBLIC_URL).toBe('https://api.example.com');
  const secret = new TextEncoder().encode(env.JWT_SECRET);
  expect((await jwtVerify(env.ANON_KEY, secret)).payload.role).toBe('anon');
  expect((await jwtVerify(env.SERVICE_ROLE_KEY, secret)).payload.role).toBe('service_role');
  const config = await loadConfig({ ...env, POSTGRESQL_HOST: 'db', DATA_DIR: path.join(dir, 'data') });
  expect(config.anonKey).toBe(env.ANON_KEY);

  const again = await gen().catch((e: { code: number; stderr: string }) => e);
  expect((again as { code: number }).code).toBe(1);
  expect((again as { stderr: string }).stderr).toMatch(/exists.*--force/);
  const before = await readFile(file, 'utf8');
  await gen('--force');
  expect(await readFile(file, 'utf8')).not.toBe(before);
});
