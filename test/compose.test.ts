/**
 * docker-compose.yml is valid against the Compose specification's JSON schema and runs every
 * service of the route table on the port the route table (and so the generated Traefik
 * configuration) expects, behind a Traefik that loads the generated configuration.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ENV_VARS } from '../config/schema.ts';
import { GATEWAY_SERVICE, SERVICES, SERVICE_NAMES, VERIFY_PATH } from '../gateway/routes.ts';
import { ENTRYPOINT, TRAEFIK_DYNAMIC_PATH, traefikDynamicConfig } from '../gateway/traefik.ts';
import { ROOT, composeValidator as validator, mergeCompose, readComposeFile, untagged, type ComposeFile as Compose } from './helpers/compose-files.ts';

const text = await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8');
// `merge`: the file shares environment and defaults through YAML `<<:` merge keys, as compose does.
const compose = parse(text, { merge: true }) as Compose;
const { services } = compose;

/** Our own services (one image) and the variable that sets each one's port. */
const OWN_PORT_ENV = { gateway: 'PORT', auth: 'AUTH_PORT', graphql: 'GRAPHILE_PORT', realtime: 'REALTIME_PORT', storage: 'STORAGE_PORT' } as const;
const OWN = Object.keys(OWN_PORT_ENV) as (keyof typeof OWN_PORT_ENV)[];
const portOf = (name: keyof typeof OWN_PORT_ENV): number => (name === 'gateway' ? GATEWAY_SERVICE.port : SERVICES[name].port);

/** Our services whose pools go through PgBouncer. */
const POOLED = ['auth', 'graphql', 'realtime', 'storage'] as const;

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
      // The scalable services through PgBouncer, their session work (and everyone else) on db itself.
      const pooled = (POOLED as readonly string[]).includes(name);
      expect(env.POSTGRESQL_HOST, name).toBe(pooled ? 'pgbouncer' : 'db');
      expect(env.POSTGRESQL_PORT, name).toBe('5432');
      expect(env.POSTGRESQL_DIRECT_HOST, name).toBe(pooled ? 'db' : undefined);
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
    expect(env.PGRST_DB_URI).toMatch(/^postgres:\/\/authenticator:\$\{POSTGRESQL_AUTHENTICATOR_PASSWORD\}@db:5432\//);
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

/** Traefik's static configuration as the flags that say the same (`--a.b.c=value`). */
function asFlags(config: unknown, prefix = ''): string[] {
  if (typeof config !== 'object' || config === null) return [`--${prefix}=${String(config)}`];
  return Object.entries(config).flatMap(([k, v]) => asFlags(v, prefix ? `${prefix}.${k}` : k));
}
const flagValue = (command: string[], flag: string) => command.find((c) => c.startsWith(`${flag}=`))?.slice(flag.length + 1);

describe('docker-compose.https.yml', async () => {
  const override = await readComposeFile('docker-compose.https.yml');
  const merged = await mergeCompose('docker-compose.yml', 'docker-compose.https.yml');
  const traefik = merged.services.traefik;
  const command = traefik.command ?? [];
  const staticConfig = parse(await readFile(path.join(ROOT, 'gateway/traefik/traefik.yml'), 'utf8'));

  it('validates against the compose schema, alone and merged over docker-compose.yml', () => {
    const validate = validator();
    expect(validate(untagged(override)), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(merged), JSON.stringify(validate.errors)).toBe(true);
  });

  it('serves every generated router over TLS: the routers\' entry point is the one on 443, with the ACME resolver for DOMAIN', () => {
    const routers = Object.values(traefikDynamicConfig().http.routers) as { entryPoints: string[] }[];
    expect(new Set(routers.flatMap((r) => r.entryPoints))).toEqual(new Set([ENTRYPOINT]));
    expect(flagValue(command, `--entryPoints.${ENTRYPOINT}.address`)).toBe(':443');
    const resolver = flagValue(command, `--entryPoints.${ENTRYPOINT}.http.tls.certResolver`);
    expect(resolver).toMatch(/^[a-z]+$/);
    expect(flagValue(command, `--entryPoints.${ENTRYPOINT}.http.tls.domains[0].main`)).toMatch(/^\$\{DOMAIN:\?/);
    expect(flagValue(command, `--certificatesResolvers.${resolver}.acme.email`)).toMatch(/^\$\{ACME_EMAIL:\?/);
    expect(flagValue(command, `--certificatesResolvers.${resolver}.acme.tlsChallenge`)).toBe('true');
    // acme.json on a named volume, so certificates survive a new container.
    const storage = flagValue(command, `--certificatesResolvers.${resolver}.acme.storage`)!;
    const volume = traefik.volumes?.map((v) => v.split(':')).find(([, target]) => storage.startsWith(`${target}/`));
    expect(volume, `a volume holding ${storage}`).toBeDefined();
    expect(Object.keys(merged.volumes ?? {})).toContain(volume![0]);
  });

  it('redirects HTTP on 80 to HTTPS permanently, and publishes 80 and 443 only', () => {
    const http = Object.keys(Object.fromEntries(command.map((c) => [c.split('.')[1], true]))).find((name) => flagValue(command, `--entryPoints.${name}.address`) === ':80');
    expect(http).toBeDefined();
    expect(flagValue(command, `--entryPoints.${http}.http.redirections.entryPoint.to`)).toBe(ENTRYPOINT);
    expect(flagValue(command, `--entryPoints.${http}.http.redirections.entryPoint.scheme`)).toBe('https');
    expect(flagValue(command, `--entryPoints.${http}.http.redirections.entryPoint.permanent`)).toBe('true');
    expect(traefik.ports).toEqual(['80:80', '443:443']);
  });

  it('carries every setting of gateway/traefik/traefik.yml over (Traefik reads one source of static configuration)', () => {
    const changed = new Set([`--entryPoints.${ENTRYPOINT}.address`]);
    for (const flag of asFlags(staticConfig)) {
      if (changed.has(flag.split('=')[0])) continue;
      expect(command, flag).toContain(flag);
    }
    // No flag names a setting twice, and none is unknown to the ones written in traefik.yml's shape.
    const names = command.map((c) => c.split('=')[0]);
    expect(new Set(names).size).toBe(names.length);
    expect(command.every((c) => c.startsWith('--'))).toBe(true);
    expect(traefik.command?.some((c) => c.startsWith('--configFile'))).toBe(false);
  });

  it('reads the generated routes and your own certificates\' configuration from the one watched directory; the example points at the mounted tls/', async () => {
    // The same mount and file provider as over HTTP (Traefik watches that directory, not below it).
    expect(traefik.volumes).toEqual([...services.traefik.volumes!, expect.stringMatching(/:\/acme$/)]);
    const [source, target] = services.traefik.volumes![0].split(':');
    const inContainer = (repoPath: string) => path.posix.join(target, path.relative(path.normalize(source), repoPath));
    expect(flagValue(command, '--providers.file.directory')).toBe(inContainer(path.dirname(TRAEFIK_DYNAMIC_PATH)));
    const example = parse(await readFile(path.join(ROOT, 'gateway/traefik/tls/certificates.yml.example'), 'utf8'));
    const files = [...example.tls.certificates, example.tls.stores.default.defaultCertificate].flatMap((c: { certFile: string; keyFile: string }) => [c.certFile, c.keyFile]);
    expect(new Set(files)).toEqual(new Set([inContainer('gateway/traefik/tls/fullchain.pem'), inContainer('gateway/traefik/tls/privkey.pem')]));
    // Keys and the operator's copy of the example stay out of git.
    const ignored = (await readFile(path.join(ROOT, '.gitignore'), 'utf8')).split('\n');
    expect(ignored).toContain('gateway/traefik/tls/*.pem');
    expect(ignored).toContain(`${path.dirname(TRAEFIK_DYNAMIC_PATH)}/certificates.yml`);
  });
});

describe('scaling: PgBouncer and several replicas', () => {
  it('puts PgBouncer in transaction mode between the scalable services and db, with SCRAM logins of their own roles', () => {
    const pgb = services.pgbouncer;
    expect(pgb.image).toMatch(/^edoburu\/pgbouncer:v1\.(2[1-9]|[3-9]\d)\.\d+-p\d+$/);
    expect(pgb.environment).toMatchObject({ DB_HOST: 'db', DB_PORT: '5432', POOL_MODE: 'transaction', AUTH_TYPE: 'scram-sha-256' });
    expect(pgb.environment?.IGNORE_STARTUP_PARAMETERS).toContain('extra_float_digits');
    expect(pgb.healthcheck?.test).toEqual(['CMD', 'pg_isready', '-h', '127.0.0.1', '-p', '5432']);
    expect(pgb.depends_on?.migrate?.condition).toBe('service_completed_successfully');
    for (const name of POOLED) {
      const s = services[name];
      expect(s.depends_on?.pgbouncer?.condition, name).toBe('service_healthy');
      // Tested through Debian's PgBouncer 1.18, which keeps no named prepared statements.
      expect(s.environment?.DB_PREPARED_STATEMENTS, name).toBe('false');
      expect(s.environment?.POSTGRESQL_DIRECT_PORT, name).toBe('5432');
    }
  });

  it('lets the API services scale: no container name, no published port, shared state in Redis and the volume', () => {
    for (const name of [...POOLED, 'rest'] as const) {
      const s = services[name] as Compose['services'][string] & { container_name?: string; ports?: unknown };
      expect(s.container_name, name).toBeUndefined();
      expect(s.ports, name).toBeUndefined();
    }
    for (const name of POOLED) expect(services[name].environment?.REDIS_URL, name).toBe('redis://redis:6379');
    expect(JSON.stringify(services.storage.volumes)).toContain('storage-data:/data');
  });

  it('has Traefik health-check every replica of each service on its health path', () => {
    const dyn = traefikDynamicConfig().http.services as Record<string, { loadBalancer: { healthCheck?: { path: string } } }>;
    for (const name of SERVICE_NAMES) expect(dyn[name].loadBalancer.healthCheck?.path, name).toBe(SERVICES[name].healthPath);
  });
});

describe('least-privileged database logins', () => {
  const roleSql = readFile(path.join(ROOT, 'sql/0028_service_roles.sql'), 'utf8');
  const LOGINS = { auth: 'nextmavens_auth', storage: 'nextmavens_storage', realtime: 'nextmavens_realtime', graphql: 'authenticator' } as const;

  it('gives the owner\'s password to migrate, the gateway and Postgres only; the services log in as their roles', async () => {
    const sql = await roleSql;
    for (const [name, service] of Object.entries(services)) {
      const env = JSON.stringify(service.environment ?? {});
      const owner = env.includes('"${POSTGRESQL_PASSWORD');
      // PgBouncer looks the logins' SCRAM secrets up as the owner (auth_query over pg_authid).
      expect(owner, name).toBe(['db', 'migrate', 'gateway', 'pgbouncer'].includes(name));
    }
    for (const [name, role] of Object.entries(LOGINS)) {
      const env = services[name].environment!;
      expect(env.POSTGRESQL_USER, name).toBe(role);
      const passwordVar = role === 'authenticator' ? 'POSTGRESQL_AUTHENTICATOR_PASSWORD' : `POSTGRESQL_${name.toUpperCase()}_PASSWORD`;
      expect(env.POSTGRESQL_PASSWORD, name).toMatch(new RegExp(`^\\$\\{${passwordVar}:\\?`));
      // migrate sets the password it logs in with.
      expect(services.migrate.environment?.[passwordVar] ?? compose.services.migrate.environment?.[passwordVar], name).toBe(env.POSTGRESQL_PASSWORD);
      if (role !== 'authenticator') expect(sql, role).toContain(`'${role}'`);
    }
  });
});

describe('docker-compose.rest-engine.yml', async () => {
  const merged = await mergeCompose('docker-compose.yml', 'docker-compose.rest-engine.yml');
  const rest = merged.services[SERVICES.rest.composeService];

  it('validates, and runs our REST engine from the one image as `rest` on the port the route table says', () => {
    const validate = validator();
    expect(validate(merged), JSON.stringify(validate.errors)).toBe(true);
    expect(rest.build).toBe('.');
    expect(rest.image).toBe('nextmavens/stack:latest');
    expect(rest.command).toEqual(['node', 'cli/nextmavens.ts', 'serve', 'rest']);
    expect(rest.environment?.REST_PORT).toBe(String(SERVICES.rest.port));
    expect(rest.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${SERVICES.rest.port}${SERVICES.rest.healthPath}`);
    expect(rest.depends_on?.migrate?.condition).toBe('service_completed_successfully');
    // The Traefik side is unchanged: the generated service still points at rest:3000.
    expect(traefikDynamicConfig().http.services.rest).toEqual({ loadBalancer: { servers: [{ url: `http://rest:${SERVICES.rest.port}` }], healthCheck: { path: SERVICES.rest.healthPath, interval: '10s', timeout: '3s' } } });
  });

  it('replaces PostgREST\'s environment by the shared one, logging in as authenticator', () => {
    const env = rest.environment ?? {};
    expect(Object.keys(env).filter((k) => k.startsWith('PGRST_'))).toEqual([]);
    const known = new Set(ENV_VARS.map((v) => v.name));
    expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
    const shared = services.graphql.environment!;
    for (const [key, value] of Object.entries(shared)) {
      if (key === 'GRAPHILE_PORT') continue;
      expect(env[key], key).toBe(value);
    }
    expect(env.POSTGRESQL_USER).toBe('authenticator');
  });
});

describe('docker-compose.conformance.yml', async () => {
  it('validates over PostgREST and over our engine, exposing the suite\'s schemas to either', async () => {
    const validate = validator();
    for (const files of [['docker-compose.yml', 'docker-compose.conformance.yml'], ['docker-compose.yml', 'docker-compose.rest-engine.yml', 'docker-compose.conformance.yml']]) {
      const merged = await mergeCompose(...files);
      expect(validate(merged), JSON.stringify(validate.errors)).toBe(true);
      const env = merged.services.rest.environment!;
      expect(env.PGRST_DB_SCHEMAS ?? env.REST_SCHEMAS).toBe('test,v1,v2');
      expect(env.REST_SCHEMAS).toBe('test,v1,v2');
      expect(merged.services.rest.ports?.[0]).toMatch(/^127\.0\.0\.1:.*:3000$/);
      expect(merged.services.db.ports?.[0]).toMatch(/^127\.0\.0\.1:.*:5432$/);
    }
  });
});

describe('db/Dockerfile.postgres', () => {
  it('installs what has a package with apt, and downloads the rest only as a pinned, checksummed release (no git clone)', async () => {
    const dockerfile = await readFile(path.join(ROOT, 'db/Dockerfile.postgres'), 'utf8');
    const code = dockerfile.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n');
    expect(code).toMatch(/^FROM postgis\/postgis:\d+-\d+\.\d+$/m);
    expect(code).not.toMatch(/\bgit\b/);
    expect(code).not.toContain('pgjwt');
    expect(code).toMatch(/^ARG PG_NET_VERSION=\d+\.\d+\.\d+$/m);
    expect(code).toMatch(/^ARG PG_NET_TAR_SHA256=[0-9a-f]{64}$/m);
    expect(code).toMatch(/sha256sum -c/);
    // Every download names the pinned version; the checksum is checked before the build.
    const downloads = [...code.matchAll(/curl [^;]*?"(https:[^"]+)"/g)].map((m) => m[1]);
    expect(downloads.length).toBeGreaterThan(0);
    for (const url of downloads) expect(url).toContain('${PG_NET_VERSION}');
    expect(code.indexOf('sha256sum -c')).toBeLessThan(code.indexOf('make -C'));
  });
});
