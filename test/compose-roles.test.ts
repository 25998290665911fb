/**
 * The compose services with the database logins docker-compose.yml gives them, against a real
 * (embedded) Postgres: `migrate` runs as the owner with the role passwords from the environment,
 * then each service runs alone (`serveOne`, what `nextmavens serve <name>` runs) with exactly the
 * environment its compose service has, interpolated from a .env — only addresses, ports and the
 * storage backend differ (no Docker: localhost instead of the compose hosts, the fs backend
 * instead of MinIO). Auth, storage and realtime log in as their own roles, GraphQL and our REST
 * engine (docker-compose.rest-engine.yml) as authenticator, the gateway (with the job worker) as
 * the owner. supabase-js then goes through a Traefik-like prefix router: sign-up and sign-in,
 * REST under RLS, a storage upload and download, a realtime postgres_changes delivery, a GraphQL
 * query; and the roles cannot read each other's schemas.
 *
 * The cluster is shared by the run's test files, so `authenticator` keeps the cluster's password
 * here (in compose it has its own, POSTGRESQL_AUTHENTICATOR_PASSWORD).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { createClient as createGraphqlWsClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { serveOne, type RunningStack } from '../cli/stack.ts';
import { migrateAll } from '../db/project-migrations.ts';
import { readDatabaseStats } from '../ops/store.ts';
import { SERVICE_NAMES, type ServiceName } from '../gateway/routes.ts';
import { interpolate, mergeCompose, type ComposeService } from './helpers/compose-files.ts';
import { createTestDatabase, TEST_JWT_SECRET, testToken, type TestDatabase } from './helpers/db.ts';
import { startEdgeProxy, type EdgeProxy } from './helpers/edge-proxy.ts';
import { freePort } from './helpers/net.ts';

const PORT_ENV: Record<ServiceName | 'gateway', string> = { gateway: 'PORT', rest: 'REST_PORT', auth: 'AUTH_PORT', graphql: 'GRAPHILE_PORT', realtime: 'REALTIME_PORT', storage: 'STORAGE_PORT' };
const hex = () => randomBytes(16).toString('hex');

let db: TestDatabase;
let dataDir: string;
let edge: EdgeProxy;
const running: RunningStack[] = [];
/** Where each service serves /metrics (METRICS_PORT; the gateway on its own port). */
const metricsUrls: Record<string, string> = {};
/** The .env compose would read. */
let dotenv: Record<string, string>;
let anonKey: string;
let serviceKey: string;

/** A service's compose environment, interpolated, with the addresses of this machine. */
async function serviceEnv(service: ComposeService, port: number): Promise<Record<string, string>> {
  const pgServer = inject('postgres');
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(service.environment ?? {})) env[key] = interpolate(String(value), dotenv);
  // Through PgBouncer (x-pooled-env) or not, here every login reaches the test server directly.
  expect(['db', 'pgbouncer']).toContain(env.POSTGRESQL_HOST);
  if (env.POSTGRESQL_DIRECT_HOST) Object.assign(env, { POSTGRESQL_DIRECT_HOST: pgServer.host, POSTGRESQL_DIRECT_PORT: String(pgServer.port) });
  Object.assign(env, { POSTGRESQL_HOST: pgServer.host, POSTGRESQL_PORT: String(pgServer.port), HOST: '127.0.0.1', LOG_LEVEL: 'silent', DATA_DIR: dataDir, ALERT_INTERVAL: '3600' });
  delete env.REDIS_URL;
  if (env.METRICS_PORT) env.METRICS_PORT = String(await freePort());
  if (env.STORAGE_BACKEND) Object.assign(env, { STORAGE_BACKEND: 'fs' });
  for (const key of Object.keys(env)) if (key.startsWith('S3_')) delete env[key];
  for (const key of Object.values(PORT_ENV)) if (key in env) env[key] = String(port);
  return env;
}

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'nm-compose-roles-'));
  const owner = new URL(db.url);
  dotenv = {
    POSTGRESQL_DB: db.name,
    POSTGRESQL_USER: decodeURIComponent(owner.username),
    POSTGRESQL_PASSWORD: decodeURIComponent(owner.password),
    POSTGRESQL_AUTHENTICATOR_PASSWORD: decodeURIComponent(owner.password),
    POSTGRESQL_AUTH_PASSWORD: hex(),
    POSTGRESQL_STORAGE_PASSWORD: hex(),
    POSTGRESQL_REALTIME_PASSWORD: hex(),
    POSTGRESQL_REPLICATION_SLOT: db.name,
    JWT_SECRET: TEST_JWT_SECRET,
    S3_SECRET_KEY: hex(),
    AUTH_AUTOCONFIRM: 'false', // compose's default: the sign-up queues a confirmation mail
  };
  const compose = await mergeCompose('docker-compose.yml', 'docker-compose.rest-engine.yml');

  // The one-shot `migrate` container: the owner, with every role password.
  const migrateConfig = await loadConfig(await serviceEnv(compose.services.migrate, 0));
  await migrateAll(migrateConfig, db.url);

  const ports = Object.fromEntries(await Promise.all(SERVICE_NAMES.map(async (n) => [n, await freePort()] as const))) as Record<ServiceName, number>;
  for (const name of [...SERVICE_NAMES, 'gateway'] as const) {
    const port = name === 'gateway' ? await freePort() : ports[name];
    const config = await loadConfig(await serviceEnv(compose.services[name], port));
    metricsUrls[name] = `http://127.0.0.1:${name === 'gateway' ? port : config.ops.metricsPort}/metrics`;
    running.push(await serveOne(name, config, pino({ level: process.env.COMPOSE_ROLES_LOG ?? 'silent' })));
    anonKey = config.anonKey;
    serviceKey = config.serviceRoleKey;
  }
  edge = await startEdgeProxy(ports);

  await db.admin.query(`
    create table public.todos (id bigint generated by default as identity primary key, user_id uuid not null default auth.uid(), title text not null);
    alter table public.todos enable row level security;
    create policy own on public.todos for all to authenticated using (user_id = auth.uid()) with check (user_id = auth.uid());
    alter publication nextmavens_realtime add table public.todos;
    select graphql.enable_subscriptions('public.todos');
    insert into storage.buckets (id, name) values ('docs', 'docs');
    create policy own_files on storage.objects for all to authenticated
      using (bucket_id = 'docs' and owner_id = auth.uid()::text) with check (bucket_id = 'docs');`);
}, 120_000);

afterAll(async () => {
  await edge?.close();
  for (const r of running.reverse()) await r.close().catch(() => undefined);
  await db?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const client = (key: string): SupabaseClient => createClient(edge.url, key, { auth: { persistSession: false, autoRefreshToken: false } });

async function signedIn(email: string): Promise<{ supabase: SupabaseClient; id: string; token: string }> {
  const supabase = client(anonKey);
  const signUp = await supabase.auth.signUp({ email, password: 'correct-horse-battery' });
  expect(signUp.error).toBeNull();
  const id = signUp.data.user!.id;
  // Not confirmed yet: the mail was queued by auth (graphile_worker.add_job as nextmavens_auth)
  // and delivered by the job worker in the gateway (the dev inbox, as no SMTP is set).
  expect((await supabase.auth.signInWithPassword({ email, password: 'correct-horse-battery' })).error?.code).toBe('email_not_confirmed');
  let mails: { subject: string }[] = [];
  for (let i = 0; i < 250 && !mails.length; i++) {
    const res = await fetch(`${edge.url}/auth/v1/admin/inbox?email=${encodeURIComponent(email)}`, { headers: { apikey: serviceKey, authorization: `Bearer ${serviceKey}` } });
    mails = ((await res.json()) as { messages?: { subject: string }[] }).messages ?? [];
    if (!mails.length) await new Promise((r) => setTimeout(r, 20));
  }
  expect(mails.length, `a confirmation mail to ${email}`).toBe(1);
  const admin = client(serviceKey);
  expect((await admin.auth.admin.updateUserById(id, { email_confirm: true })).error).toBeNull();
  const signIn = await supabase.auth.signInWithPassword({ email, password: 'correct-horse-battery' });
  expect(signIn.error).toBeNull();
  return { supabase, id, token: signIn.data.session!.access_token };
}

async function connectAs(role: 'nextmavens_auth' | 'nextmavens_storage' | 'nextmavens_realtime'): Promise<pg.Client> {
  const server = inject('postgres');
  const password = { nextmavens_auth: dotenv.POSTGRESQL_AUTH_PASSWORD, nextmavens_storage: dotenv.POSTGRESQL_STORAGE_PASSWORD, nextmavens_realtime: dotenv.POSTGRESQL_REALTIME_PASSWORD }[role];
  const c = new pg.Client({ host: server.host, port: server.port, database: db.name, user: role, password });
  await c.connect();
  return c;
}

async function refused(c: pg.Client, sql: string): Promise<string | undefined> {
  return c.query(sql).then(() => undefined, (err: { code?: string }) => err.code);
}

describe('compose services on least-privileged logins', () => {
  it('supabase-js: sign-up and sign-in, REST under RLS, storage, realtime postgres_changes and GraphQL', async () => {
    const alice = await signedIn(`alice-${hex()}@example.com`);
    const bob = await signedIn(`bob-${hex()}@example.com`);

    // REST (our engine, as authenticator): each user sees only their own rows.
    expect((await alice.supabase.from('todos').insert({ title: 'alice 1' })).error).toBeNull();
    expect((await bob.supabase.from('todos').insert({ title: 'bob 1' })).error).toBeNull();
    const mine = await alice.supabase.from('todos').select('title, user_id');
    expect(mine.error).toBeNull();
    expect(mine.data).toEqual([{ title: 'alice 1', user_id: alice.id }]);
    expect((await client(anonKey).from('todos').select('*')).data ?? []).toEqual([]);

    // Storage (as nextmavens_storage): upload and download; another user cannot read it.
    const upload = await alice.supabase.storage.from('docs').upload('alice/note.txt', new Blob(['hello from alice'], { type: 'text/plain' }));
    expect(upload.error).toBeNull();
    const download = await alice.supabase.storage.from('docs').download('alice/note.txt');
    expect(download.error).toBeNull();
    expect(await download.data!.text()).toBe('hello from alice');
    expect((await bob.supabase.storage.from('docs').download('alice/note.txt')).error).not.toBeNull();

    // Realtime (as nextmavens_realtime, its slot over a replication connection): alice gets her
    // insert and not bob's.
    const got: string[] = [];
    alice.supabase.realtime.setAuth(alice.token);
    const channel = alice.supabase.channel('todos').on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'todos' }, (p) => got.push(p.new.title));
    await new Promise<void>((resolve, reject) => channel.subscribe((status, err) => (status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(err ?? new Error(status)))));
    expect((await bob.supabase.from('todos').insert({ title: 'bob 2' })).error).toBeNull();
    expect((await alice.supabase.from('todos').insert({ title: 'alice 2' })).error).toBeNull();
    const end = Date.now() + 15_000;
    while (got.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(['alice 2']);
    await alice.supabase.removeAllChannels();

    // GraphQL (as authenticator): the same rows through PostGraphile.
    const res = await fetch(`${edge.url}/graphql/v1`, {
      method: 'POST',
      headers: { apikey: anonKey, authorization: `Bearer ${bob.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ todos(orderBy: ID_ASC) { nodes { title } } }' }),
    });
    const answer = (await res.json()) as { data?: { todos: { nodes: { title: string }[] } }; errors?: unknown };
    expect(answer.errors, JSON.stringify(answer.errors)).toBeUndefined();
    expect(answer.data?.todos.nodes.map((n) => n.title)).toEqual(['bob 1', 'bob 2']);
  });

  it('GraphQL subscriptions (graphql-ws, as authenticator): the caller\'s row changes, a row too large for NOTIFY included', async () => {
    const carol = await signedIn(`carol-${hex()}@example.com`);
    const dave = await signedIn(`dave-${hex()}@example.com`);
    const ws = createGraphqlWsClient({
      url: `${edge.url.replace(/^http/, 'ws')}/graphql/v1`,
      webSocketImpl: WebSocket,
      connectionParams: { apikey: anonKey, Authorization: `Bearer ${carol.token}` },
      retryAttempts: 0,
    });
    const got: { event: string; title: string | undefined }[] = [];
    const errors: unknown[] = [];
    ws.subscribe(
      { query: 'subscription { todoChanged { event todo { title } } }' },
      {
        next: (r) => {
          if (r.errors) return void errors.push(r.errors);
          const change = (r.data as { todoChanged: { event: string; todo: { title: string } | null } }).todoChanged;
          got.push({ event: change.event, title: change.todo?.title });
        },
        error: (e) => errors.push(e),
        complete: () => undefined,
      },
    );
    try {
      // Markers until the subscription is live, then dave's row (not carol's to see) and a large one.
      const deadline = Date.now() + 20_000;
      while (!got.some((e) => e.title === 'marker')) {
        if (Date.now() > deadline) throw new Error(`the subscription never became active: ${JSON.stringify(errors)}`);
        expect((await carol.supabase.from('todos').insert({ title: 'marker' })).error).toBeNull();
        await new Promise((r) => setTimeout(r, 200));
      }
      const big = 'z'.repeat(20_000);
      expect((await dave.supabase.from('todos').insert({ title: 'dave' })).error).toBeNull();
      expect((await carol.supabase.from('todos').insert({ title: big })).error).toBeNull();
      const end = Date.now() + 15_000;
      while (!got.some((e) => e.title === big) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(errors).toEqual([]);
      expect(got.filter((e) => e.title !== 'marker')).toEqual([{ event: 'INSERT', title: big }]);
    } finally {
      await ws.dispose();
    }
  });

  it('tenants: auth\'s tenant admin API writes them, GraphQL and realtime see a tenant suspended', async () => {
    const admin = { apikey: serviceKey, authorization: `Bearer ${serviceKey}`, 'content-type': 'application/json' };
    const created = await fetch(`${edge.url}/auth/v1/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'Acme', slug: `acme-${hex()}` }) });
    expect(created.status, await created.clone().text()).toBe(201);
    const tenant = ((await created.json()) as { id: string }).id;
    const suspended = await fetch(`${edge.url}/auth/v1/tenants/${tenant}`, { method: 'PATCH', headers: admin, body: JSON.stringify({ status: 'suspended' }) });
    expect(suspended.status, await suspended.clone().text()).toBe(200);
    const token = await testToken({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: tenant });

    const gql = await fetch(`${edge.url}/graphql/v1`, {
      method: 'POST',
      headers: { apikey: anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ todos { nodes { title } } }' }),
    });
    expect(gql.status, await gql.clone().text()).toBe(403);
    expect(await gql.text()).toContain('TENANT_SUSPENDED');

    const supabase = client(anonKey);
    supabase.realtime.setAuth(token);
    const channel = supabase.channel('todos-suspended').on('postgres_changes', { event: '*', schema: 'public', table: 'todos' }, () => undefined);
    const status = await new Promise<{ status: string; err?: Error }>((resolve) => channel.subscribe((s, err) => s !== 'SUBSCRIBED' ? resolve({ status: s, err }) : resolve({ status: s })));
    expect(status.status).not.toBe('SUBSCRIBED');
    expect(String(status.err?.message ?? '')).toMatch(/suspended/i);
    await supabase.removeAllChannels();
  });

  it('each service is connected as the role compose gives it (after the smoke above opened their pools)', async () => {
    const { rows } = await db.admin.query<{ usename: string; application_name: string }>(
      `select distinct usename, application_name from pg_stat_activity where datname = $1 and application_name like 'nextmavens %'`,
      [db.name],
    );
    // The service's own pool (`… (admin)`) logs in as its role; its request pool, where it has one open, as authenticator.
    const expected = { auth: 'nextmavens_auth', storage: 'nextmavens_storage', realtime: 'nextmavens_realtime', rest: 'authenticator', graphql: 'authenticator', gateway: dotenv.POSTGRESQL_USER };
    for (const [service, role] of Object.entries(expected)) {
      const own = rows.filter((r) => r.application_name === `nextmavens ${service} (admin)`).map((r) => r.usename);
      expect(own, service).toEqual([role]);
      const requests = rows.filter((r) => r.application_name === `nextmavens ${service}`).map((r) => r.usename);
      expect(requests.every((u) => u === 'authenticator'), service).toBe(true);
    }
    expect(rows.filter((r) => r.usename === dotenv.POSTGRESQL_USER).every((r) => r.application_name.startsWith('nextmavens gateway')), JSON.stringify(rows)).toBe(true);
  });

  it('the database gauges of /metrics (ops/store.ts) read on every login; figures a role may not read are left out, not the scrape', async () => {
    // One process holds one metrics registry, so the services here share it: ask each login directly.
    for (const role of ['nextmavens_auth', 'nextmavens_storage', 'nextmavens_realtime'] as const) {
      const c = await connectAs(role);
      try {
        const stats = await readDatabaseStats(c as unknown as pg.PoolClient);
        expect(stats.sizeBytes, role).toBeGreaterThan(0);
        if (role === 'nextmavens_storage') expect(stats.storage?.objects, role).toBeGreaterThanOrEqual(1);
        else expect(stats.storage, role).toBeUndefined();
        expect(stats.jobs === undefined, role).toBe(role !== 'nextmavens_auth');
      } finally {
        await c.end();
      }
    }
    const gateway = await (await fetch(metricsUrls.gateway, { headers: { authorization: `Bearer ${serviceKey}` } })).text();
    expect(gateway).toContain('nextmavens_postgres_up 1');
  });

  it('the roles cannot read each other\'s schemas, nor the API roles\' tables outside a role switch', async () => {
    const storage = await connectAs('nextmavens_storage');
    const auth = await connectAs('nextmavens_auth');
    const realtime = await connectAs('nextmavens_realtime');
    try {
      expect(await refused(storage, 'select id from auth.users limit 1')).toBe('42501');
      expect(await refused(storage, 'select count(*) from storage.objects')).toBeUndefined();
      expect(await refused(auth, 'select id from storage.objects limit 1')).toBe('42501');
      expect(await refused(auth, 'select count(*) from auth.users')).toBeUndefined();
      expect(await refused(realtime, 'select id from auth.users limit 1')).toBe('42501');
      expect(await refused(realtime, 'select id from storage.objects limit 1')).toBe('42501');
      // service_role may read public tables; these roles only as the caller, through a switch.
      for (const c of [storage, auth, realtime]) {
        expect(await refused(c, 'select * from public.todos')).toBe('42501');
        expect(await refused(c, 'create table public.intruder (id int)')).toBe('42501');
        expect(await refused(c, 'create schema intruder')).toBe('42501');
      }
      const { rows } = await db.admin.query<{ rolname: string; rolsuper: boolean; rolreplication: boolean; rolbypassrls: boolean }>(
        `select rolname, rolsuper, rolreplication, rolbypassrls from pg_roles where rolname like 'nextmavens\\_%' and rolname <> $1 order by rolname`,
        [dotenv.POSTGRESQL_USER],
      );
      expect(rows).toEqual([
        // The admin dashboard's read-only SQL login (sql/0035_admin.sql, admin/reader.ts).
        { rolname: 'nextmavens_admin_read', rolsuper: false, rolreplication: false, rolbypassrls: false },
        { rolname: 'nextmavens_auth', rolsuper: false, rolreplication: false, rolbypassrls: true },
        { rolname: 'nextmavens_realtime', rolsuper: false, rolreplication: true, rolbypassrls: true },
        { rolname: 'nextmavens_storage', rolsuper: false, rolreplication: false, rolbypassrls: true },
      ]);
    } finally {
      await Promise.all([storage.end(), auth.end(), realtime.end()]);
    }
  });
});
