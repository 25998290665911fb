/**
 * docker-compose.projects.yml: the `projects` service (`nextmavens serve projects`) with the
 * stack's environment, a second Postgres server `db2` that projects may name, and Traefik routing
 * project hosts, /project/ and /projects/v1 to it before the generated routes. Then the service as
 * that file configures it runs here, with `db2` standing for another real server (the machine's
 * Postgres on 5432 when there is one): a project created on db2 has its database there and
 * answers through supabase-js.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createClient } from '@supabase/supabase-js';
import pg from 'pg';
import pino from 'pino';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { ENV_VARS } from '../config/schema.ts';
import { serveProjects } from '../projects/serve.ts';
import { ROOT, composeValidator, interpolate, mergeCompose, type ComposeService } from './helpers/compose-files.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

const compose = await mergeCompose('docker-compose.yml', 'docker-compose.projects.yml');
const { projects, db2, traefik, migrate } = compose.services;
const traefikText = await readFile(path.join(ROOT, 'gateway/traefik/projects/projects.yml'), 'utf8');

const SAMPLE: Record<string, string> = {
  POSTGRESQL_PASSWORD: 'pw-one',
  POSTGRESQL2_PASSWORD: 'pw-two',
  POSTGRESQL_AUTHENTICATOR_PASSWORD: 'a'.repeat(32),
  JWT_SECRET: 'compose-projects-secret-of-at-least-32-chars',
  S3_SECRET_KEY: 'minio-secret',
};

function envOf(service: ComposeService, env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), env)]));
}

/** Traefik's rendering of the file's one template: PROJECTS_DOMAIN, dots escaped. */
function renderTraefik(domain: string): { http: { routers: Record<string, { rule: string; priority?: number; service: string }>; services: Record<string, { loadBalancer: { servers: { url: string }[] } }> } } {
  const text = traefikText.replace(/\{\{ env "PROJECTS_DOMAIN" \| default "localhost" \| replace "\." "\\\\\." \}\}/, domain.replace(/\./g, '\\.'));
  expect(text).not.toContain('{{');
  return parse(text);
}

describe('docker-compose.projects.yml', () => {
  it('merged with docker-compose.yml, validates against the compose-spec schema', () => {
    const validate = composeValidator();
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it("runs `serve projects` from the stack's image with the stack's environment, as the owner", () => {
    expect(projects.image).toBe('nextmavens/stack:latest');
    expect(projects.command).toEqual(['node', 'cli/nextmavens.ts', 'serve', 'projects']);
    const own = Object.keys(projects.environment ?? {});
    const shared = Object.keys(migrate.environment ?? {}).filter((k) => !/^POSTGRESQL_(AUTH|STORAGE|REALTIME)_PASSWORD$/.test(k));
    for (const k of shared) expect(own, k).toContain(k);
    for (const k of own) expect(ENV_VARS.some((v) => v.name === k), `${k} is a variable of config/schema.ts`).toBe(true);
    expect(projects.environment?.POSTGRESQL_USER).toBe(migrate.environment?.POSTGRESQL_USER);
  });

  it('names db2 as a project server, a Postgres with logical replication (realtime)', async () => {
    const config = await loadConfig(envOf(projects, SAMPLE));
    const db2Url = new URL(config.projects.servers.db2);
    expect(db2Url.hostname).toBe('db2');
    expect(decodeURIComponent(db2Url.password)).toBe('pw-two');
    expect(db2.command).toContain('wal_level=logical');
    expect(interpolate(String(db2.environment?.POSTGRES_PASSWORD), SAMPLE)).toBe('pw-two');
    expect(Object.keys(projects.depends_on ?? {})).toEqual(expect.arrayContaining(['migrate', 'db2']));
  });

  it("Traefik sends project hosts, /project/ and /projects/v1 to the service's port, before the generated routes", async () => {
    const config = await loadConfig(envOf(projects, SAMPLE));
    const rendered = renderTraefik('api.example.com');
    const router = rendered.http.routers.projects;
    expect(rendered.http.services[router.service].loadBalancer.servers).toEqual([{ url: `http://projects:${config.port}` }]);
    const generated = parse(await readFile(path.join(ROOT, 'gateway/traefik/dynamic/nextmavens.yml'), 'utf8').then((t) => t.replace(/\{\{[^}]*\}\}/g, '0'))) as { http: { routers: Record<string, { rule: string; priority?: number }> } };
    for (const [name, r] of Object.entries(generated.http.routers)) expect(router.priority!, name).toBeGreaterThan(r.priority ?? r.rule.length);
    const hostPattern = new RegExp(/HostRegexp\(`([^`]+)`\)/.exec(router.rule)![1]);
    expect(hostPattern.test('my-app.api.example.com')).toBe(true);
    expect(hostPattern.test('api.example.com')).toBe(false);
    expect(hostPattern.test('a.b.api.example.com')).toBe(false);
    expect(hostPattern.test('my-app.api-example.com')).toBe(false);
    expect(router.rule).toContain('PathPrefix(`/project/`)');
    expect(router.rule).toContain('PathPrefix(`/projects/v1`)');
    // The file is mounted inside the watched dynamic directory, on a mount point the repository has.
    expect(traefik.volumes).toContain('./gateway/traefik/projects:/etc/traefik/dynamic/projects:ro');
    expect(existsSync(path.join(ROOT, 'gateway/traefik/dynamic/projects'))).toBe(true);
    expect(traefik.environment?.PROJECTS_DOMAIN).toBe('${PROJECTS_DOMAIN:-localhost}');
  });
});

/** The machine's own Postgres (another server than the tests' cluster), when it answers. */
async function otherServer(): Promise<string | undefined> {
  const url = 'postgresql://postgres@127.0.0.1:5432/postgres';
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.end();
    return url;
  } catch {
    return undefined;
  }
}

const second = await otherServer();
let db: TestDatabase | undefined;
let stop: (() => Promise<void>) | undefined;
afterAll(async () => {
  await stop?.();
  if (db && second) {
    // The template projects/template.ts made on the second server for this run's default database.
    const c = new pg.Client({ connectionString: second });
    await c.connect();
    await c.query(`drop database if exists "${db.name}_project_template" with (force)`);
    await c.end();
  }
  await db?.drop();
});

describe.skipIf(!second)('serve projects as compose configures it, with a project on the second server', () => {
  it('creates the project on db2 and serves it through supabase-js', async () => {
    db = await createTestDatabase();
    const base = new URL(db.url);
    const env = envOf(projects, SAMPLE);
    const config = await loadConfig({
      ...env,
      POSTGRESQL_HOST: base.hostname,
      POSTGRESQL_PORT: base.port,
      POSTGRESQL_DB: db.name,
      POSTGRESQL_USER: decodeURIComponent(base.username),
      POSTGRESQL_PASSWORD: decodeURIComponent(base.password),
      POSTGRESQL_AUTHENTICATOR_PASSWORD: decodeURIComponent(base.password), // the tests' cluster keeps its own
      POSTGRESQL_REPLICATION_SLOT: db.name,
      PROJECT_SERVERS: `db2=${second}`,
      STORAGE_BACKEND: 'fs',
      DATA_DIR: `/tmp/${db.name}`,
      REDIS_URL: '',
      LOG_LEVEL: 'silent',
      ...Object.fromEntries(['REST', 'GRAPHQL', 'STORAGE', 'REALTIME', 'AUTH'].map((g) => [`RATE_LIMIT_${g}`, '0'])),
    });
    config.port = 0;
    config.host = '127.0.0.1';
    const running = await serveProjects(config, pino({ level: 'silent' }));
    const ref = `c${randomBytes(4).toString('hex')}`;
    const admin = (method: string, p: string, body?: unknown) =>
      fetch(`${running.url}/projects/v1${p}`, { method, headers: { apikey: config.serviceRoleKey, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    let database: string | undefined;
    stop = async () => {
      if (database) await admin('DELETE', `/projects/${ref}?backup=false`);
      await running.close();
    };
    const created = await admin('POST', '/projects', { ref, server: 'db2' });
    expect(created.status).toBe(201);
    const project = (await created.json()) as { database: string; server: string; keys: { anon_key: string } };
    database = project.database;
    expect(project.server).toBe('db2');
    const onSecond = new pg.Client({ connectionString: second!.replace(/\/postgres$/, `/${database}`) });
    await onSecond.connect();
    await onSecond.query(`create table public.items (id int primary key, name text); grant select on public.items to anon; insert into public.items values (1, 'on db2')`);
    await onSecond.end();
    // Not on the default server.
    expect((await db.admin.query('select 1 from pg_database where datname = $1', [database])).rowCount).toBe(0);
    const client = createClient(`${running.url}/project/${ref}`, project.keys.anon_key, { auth: { persistSession: false } });
    const { data, error } = await client.from('items').select('name');
    expect(error).toBeNull();
    expect(data).toEqual([{ name: 'on db2' }]);
    // A path that names no project is a 404 JSON, not the default project.
    expect((await fetch(`${running.url}/rest/v1/items`, { headers: { apikey: config.anonKey } })).status).toBe(404);
  }, 120_000);
});
