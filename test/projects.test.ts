/**
 * Many projects in one stack (projects/): two projects side by side, created through the admin
 * API, each with its own database, keys, users, storage and URL, used through supabase-js on both
 * addressings (the path prefix `/project/<ref>` and the Host `<ref>.localhost`). Every service is
 * tried with the other project's keys and user tokens and with the default project's keys (all
 * refused), Host spoofing between projects is refused, and pause, resume, delete (a backup first),
 * the registry's privacy and the idle release are checked against the database itself.
 */
import http from 'node:http';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePool } from './helpers/db.ts';
import { startTestStack, type TestStack } from './helpers/stack.ts';
import { until } from './helpers/wait.ts';

/** How the services refuse a token that does not verify (each as its upstream does). */
const REFUSED = [400, 401, 403];
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

interface Project {
  ref: string;
  url: string;
  anon: string;
  service: string;
  db: pg.Pool;
  database: string;
}

let t: TestStack;
let alpha: Project;
let beta: Project;
const clients: SupabaseClient[] = [];

const SCHEMA = `
  create table public.notes (id bigint generated always as identity primary key, owner uuid default auth.uid(), body text not null);
  alter table public.notes enable row level security;
  create policy notes_own on public.notes for all to authenticated using (owner = auth.uid()) with check (owner = auth.uid());
  create policy notes_public on public.notes for select to anon using (body like 'public:%');
  grant select, insert on public.notes to anon, authenticated;
  alter publication nextmavens_realtime add table public.notes;
`;

async function api(method: string, path: string, body?: unknown, key = t.db.config.serviceRoleKey): Promise<{ status: number; json: any }> {
  const res = await fetch(`${t.stack.url}/projects/v1${path}`, {
    method,
    headers: { apikey: key, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/** The database of a project, as its owner (fixtures and assertions). */
function projectDb(database: string): pg.Pool {
  const url = new URL(t.db.url);
  url.pathname = `/${database}`;
  return fixturePool(url.toString(), 2);
}

async function createProject(ref: string): Promise<Project> {
  const { status, json } = await api('POST', '/projects', { ref, settings: { autoconfirm: true } });
  expect(status, JSON.stringify(json)).toBe(201);
  const db = projectDb(json.database);
  await db.query(SCHEMA);
  return { ref, url: `${t.stack.url}/project/${ref}`, anon: json.keys.anon_key, service: json.keys.service_role_key, db, database: json.database };
}

function client(url: string, key: string, fetchImpl?: typeof fetch): SupabaseClient {
  const c = createClient(url, key, { ...opts, global: fetchImpl ? { fetch: fetchImpl } : {} });
  clients.push(c);
  return c;
}

/** fetch over node:http to this stack with another Host (`*.localhost` does not resolve here). */
function hostFetch(host: string): typeof fetch {
  const port = new URL(t.stack.url).port;
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const req = new Request(input, init);
    const url = new URL(req.url);
    const body = req.body ? Buffer.from(await req.arrayBuffer()) : undefined;
    return new Promise<Response>((resolve, reject) => {
      const headers: Record<string, string> = Object.fromEntries(req.headers);
      const r = http.request({ host: '127.0.0.1', port, method: req.method, path: url.pathname + url.search, headers: { ...headers, host } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          const status = res.statusCode ?? 500;
          resolve(new Response([204, 304].includes(status) ? null : Buffer.concat(chunks), { status, headers: h }));
        });
      });
      r.on('error', reject);
      r.end(body);
    });
  }) as typeof fetch;
}

/** One request with a raw Host header. */
function rawRequest(host: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: new URL(t.stack.url).port, path, headers: { ...headers, host } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
    });
    r.on('error', reject);
    r.end();
  });
}

/** The HTTP status a WebSocket upgrade gets (101 when it opens). */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve(0));
  });
}

async function graphql(p: Project, key: string, query: string, token?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${p.url}/graphql/v1`, {
    method: 'POST',
    headers: { apikey: key, 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, json: await res.json() };
}

async function signUp(p: Project, email: string): Promise<{ client: SupabaseClient; token: string; id: string }> {
  const c = client(p.url, p.anon);
  const { data, error } = await c.auth.signUp({ email, password: 'secret123' });
  if (error) throw error;
  return { client: c, token: data.session!.access_token, id: data.user!.id };
}

const connections = async (database: string) =>
  Number((await t.db.admin.query<{ n: string }>('select count(*) as n from pg_stat_activity where datname = $1', [database])).rows[0].n);

beforeAll(async () => {
  t = await startTestStack({ env: { AUTH_BCRYPT_COST: '4', PROJECT_IDLE_TIMEOUT: '2' } });
  alpha = await createProject('alpha');
  beta = await createProject('beta-two');
  await alpha.db.query(`insert into public.notes (body) values ('public:alpha'), ('hidden:alpha')`);
  await beta.db.query(`insert into public.notes (body) values ('public:beta')`);
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.removeAllChannels();
  await alpha?.db.end();
  await beta?.db.end();
  await t?.close();
});

describe('projects side by side', () => {
  it('REST: each project reads its own database, RLS deciding; the default project has no such table', async () => {
    const a = await client(alpha.url, alpha.anon).from('notes').select('body');
    expect(a.error).toBeNull();
    expect(a.data).toEqual([{ body: 'public:alpha' }]);
    const b = await client(beta.url, beta.anon).from('notes').select('body');
    expect(b.data).toEqual([{ body: 'public:beta' }]);
    const all = await client(alpha.url, alpha.service).from('notes').select('body').order('id');
    expect(all.data).toEqual([{ body: 'public:alpha' }, { body: 'hidden:alpha' }]);
    const root = await client(t.stack.url, t.db.config.anonKey).from('notes').select('body');
    expect(root.error?.code).toBe('PGRST205');
  });

  it('the Host <ref>.localhost serves the same project through supabase-js', async () => {
    const viaHost = client(`http://alpha.localhost:${new URL(t.stack.url).port}`, alpha.anon, hostFetch(`alpha.localhost:${new URL(t.stack.url).port}`));
    const { data, error } = await viaHost.from('notes').select('body');
    expect(error).toBeNull();
    expect(data).toEqual([{ body: 'public:alpha' }]);
    const { data: session, error: authError } = await viaHost.auth.signUp({ email: 'host@example.com', password: 'secret123' });
    expect(authError).toBeNull();
    expect(session.session?.access_token).toBeTruthy();
  });

  it('auth: users belong to one project; a user token of one is refused by every service of the other', async () => {
    const alice = await signUp(alpha, 'alice@example.com');
    expect((await alice.client.from('notes').insert({ body: 'mine' }).select('body')).data).toEqual([{ body: 'mine' }]);
    // The same address is another user in beta: the password of alpha's user does not sign in there.
    const b = client(beta.url, beta.anon);
    expect((await b.auth.signInWithPassword({ email: 'alice@example.com', password: 'secret123' })).error?.code).toBe('invalid_credentials');
    const bearer = { apikey: beta.anon, authorization: `Bearer ${alice.token}` };
    for (const path of ['/rest/v1/notes', '/auth/v1/user', '/storage/v1/bucket']) {
      // Each service refuses in its upstream's words: REST 401, GoTrue 403 bad_jwt, storage-api 400/403.
      expect(REFUSED, path).toContain((await fetch(`${beta.url}${path}`, { headers: bearer })).status);
    }
    expect((await graphql(beta, beta.anon, '{ __typename }', alice.token)).status).toBe(401);
    expect(await upgradeStatus(`${beta.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${alice.token}&vsn=1.0.0`)).toBe(401);
    // In its own project the token works.
    expect((await fetch(`${alpha.url}/auth/v1/user`, { headers: { apikey: alpha.anon, authorization: `Bearer ${alice.token}` } })).status).toBe(200);
  });

  it("another project's anon and service_role keys, and the default project's, are refused on every service", async () => {
    const foreign = [alpha.anon, alpha.service, t.db.config.anonKey, t.db.config.serviceRoleKey];
    for (const key of foreign) {
      for (const path of ['/rest/v1/notes', '/auth/v1/settings', '/storage/v1/bucket', '/graphql/v1']) {
        const res = await fetch(`${beta.url}${path}`, { method: path === '/graphql/v1' ? 'POST' : 'GET', headers: { apikey: key, 'content-type': 'application/json' }, body: path === '/graphql/v1' ? '{"query":"{__typename}"}' : undefined });
        expect(REFUSED, `${path} with a foreign key`).toContain(res.status);
      }
      expect(await upgradeStatus(`${beta.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${key}&vsn=1.0.0`)).toBe(401);
    }
    // And beta's own keys are accepted on the same endpoints.
    expect((await fetch(`${beta.url}/rest/v1/notes`, { headers: { apikey: beta.anon } })).status).toBe(200);
    expect(await upgradeStatus(`${beta.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${beta.anon}&vsn=1.0.0`)).toBe(101);
  });

  it('Host spoofing: a Host naming one project and a path naming another is refused; a key follows the Host, not its issuer', async () => {
    const port = new URL(t.stack.url).port;
    const mismatch = await rawRequest(`alpha.localhost:${port}`, '/project/beta-two/rest/v1/notes', { apikey: beta.anon });
    expect(mismatch).toMatchObject({ status: 400, json: { code: 'project_mismatch' } });
    const spoofed = await rawRequest(`beta-two.localhost:${port}`, '/rest/v1/notes', { apikey: alpha.anon });
    expect(spoofed.status).toBe(401);
    const own = await rawRequest(`beta-two.localhost:${port}`, '/rest/v1/notes?select=body', { apikey: beta.anon });
    expect(own).toMatchObject({ status: 200, json: [{ body: 'public:beta' }] });
    expect(await rawRequest(`nosuch.localhost:${port}`, '/rest/v1/notes', { apikey: beta.anon })).toMatchObject({ status: 404, json: { code: 'project_not_found' } });
    expect((await fetch(`${t.stack.url}/project/No_Such/rest/v1/notes`)).status).toBe(404);
  });

  it('storage: buckets and objects are per project, the bytes under DATA_DIR/projects/<ref>/storage', async () => {
    const a = client(alpha.url, alpha.service);
    expect((await a.storage.createBucket('files')).error).toBeNull();
    expect((await a.storage.from('files').upload('x.txt', new Blob(['alpha bytes']), { contentType: 'text/plain' })).error).toBeNull();
    const b = client(beta.url, beta.service);
    expect((await b.storage.listBuckets()).data).toEqual([]);
    expect((await b.storage.from('files').download('x.txt')).error).toBeTruthy();
    expect(await (await a.storage.from('files').download('x.txt')).data!.text()).toBe('alpha bytes');
    const { rows } = await alpha.db.query(`select name from storage.objects where bucket_id = 'files'`);
    expect(rows).toEqual([{ name: 'x.txt' }]);
    const fs = await import('node:fs/promises');
    const files = await fs.readdir(`${t.db.config.dataDir}/projects/alpha/storage`, { recursive: true });
    expect(files.length).toBeGreaterThan(0);
  });

  it('GraphQL: each project its own schema and rows', async () => {
    const a = await graphql(alpha, alpha.anon, '{ notes { nodes { body } } }');
    expect(a.status, JSON.stringify(a.json)).toBe(200);
    expect(a.json.data.notes.nodes).toEqual([{ body: 'public:alpha' }]);
    const b = await graphql(beta, beta.anon, '{ notes { nodes { body } } }');
    expect(b.json.data.notes.nodes).toEqual([{ body: 'public:beta' }]);
  });

  it("realtime: a subscriber of one project gets its changes, never the other project's", async () => {
    const got: string[] = [];
    const c = client(alpha.url, alpha.service);
    const channel = c.channel('notes').on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notes' }, (p: any) => got.push(p.new.body));
    await new Promise<void>((resolve, reject) => channel.subscribe((s, err) => (s === 'SUBSCRIBED' ? resolve() : s !== 'CLOSED' && reject(err ?? new Error(s)))));
    await beta.db.query(`insert into public.notes (body) values ('public:beta-change')`);
    await alpha.db.query(`insert into public.notes (body) values ('public:alpha-change')`);
    await until(() => got.includes('public:alpha-change'), 15_000, 'the change of alpha');
    expect(got).toEqual(['public:alpha-change']);
    await c.removeChannel(channel);
  });
});

describe('the projects API and its life cycle', () => {
  it('needs the default project service_role key; bad input is a clear 4xx', async () => {
    expect((await api('GET', '/projects', undefined, t.db.config.anonKey)).status).toBe(403);
    expect((await api('GET', '/projects', undefined, alpha.service)).status).toBe(401);
    expect((await api('POST', '/projects', { ref: 'Bad_Ref' })).json.code).toBe('invalid_ref');
    expect((await api('POST', '/projects', 'not json')).json.code).toBe('invalid_json');
    expect((await api('POST', '/projects', { ref: 'gamma', limits: { connections: -1 } })).status).toBe(400);
    expect((await api('POST', '/projects', { ref: 'gamma', server: 'elsewhere' })).json.code).toBe('unknown_server');
    expect((await api('POST', '/projects', { ref: 'alpha' })).status).toBe(409);
    expect((await api('GET', '/projects/nosuch')).status).toBe(404);
    const list = await api('GET', '/projects');
    expect(list.json.map((p: { ref: string }) => p.ref)).toEqual(['alpha', 'beta-two']);
    expect(list.json[0]).toMatchObject({ ref: 'alpha', status: 'active', server: 'default', url: expect.stringContaining('alpha') });
    expect(JSON.stringify(list.json)).not.toContain('secret');
    const keys = await api('GET', '/projects/alpha/keys');
    expect(keys.json).toMatchObject({ anon_key: alpha.anon, service_role_key: alpha.service });
  });

  it('the registry is readable by no API role, and its secrets are encrypted', async () => {
    for (const role of ['anon', 'authenticated', 'service_role']) {
      await expect(t.db.admin.query(`begin; set local role ${role}; select * from nextmavens.projects; commit`)).rejects.toThrow(/permission denied/);
      await t.db.admin.query('rollback');
    }
    const { rows } = await t.db.admin.query(`select jwt_secret_enc from nextmavens.projects where ref = 'alpha'`);
    const secret = (await api('GET', '/projects/alpha/keys')).json.jwt_secret;
    expect(rows[0].jwt_secret_enc).toMatch(/^v1\./);
    expect(rows[0].jwt_secret_enc).not.toContain(secret);
  });

  it('pause refuses every request with a 503 JSON until resume', async () => {
    expect((await api('POST', '/projects/beta-two/pause')).json.status).toBe('paused');
    const res = await fetch(`${beta.url}/rest/v1/notes`, { headers: { apikey: beta.anon } });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: 'project_paused' });
    expect(await upgradeStatus(`${beta.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${beta.anon}&vsn=1.0.0`)).toBe(503);
    expect((await fetch(`${alpha.url}/rest/v1/notes`, { headers: { apikey: alpha.anon } })).status).toBe(200);
    expect((await api('POST', '/projects/beta-two/resume')).json.status).toBe('active');
    expect((await fetch(`${beta.url}/rest/v1/notes`, { headers: { apikey: beta.anon } })).status).toBe(200);
  });

  it('an idle project holds no connection; its next request opens it again', async () => {
    await until(async () => (await connections(beta.database)) === 0, 20_000, 'beta released');
    const { data } = await client(beta.url, beta.anon).from('notes').select('body').eq('body', 'public:beta');
    expect(data).toEqual([{ body: 'public:beta' }]);
  });

  it("limits: the connection limit is the database's; over its database size a project refuses writes, not reads", async () => {
    const { status, json } = await api('POST', '/projects', { ref: 'tiny', limits: { db_bytes: 1024 * 1024, connections: 12 } });
    expect(status).toBe(201);
    const { rows } = await t.db.admin.query('select datconnlimit from pg_database where datname = $1', [json.database]);
    expect(rows[0].datconnlimit).toBe(12);
    const db = projectDb(json.database);
    await db.query(`create table public.t (id int); grant select, insert on public.t to anon`);
    await db.end();
    const tiny = client(`${t.stack.url}/project/tiny`, json.keys.anon_key);
    expect((await tiny.from('t').select('id')).status).toBe(200);
    const write = await fetch(`${t.stack.url}/project/tiny/rest/v1/t`, { method: 'POST', headers: { apikey: json.keys.anon_key, 'content-type': 'application/json' }, body: '{"id": 1}' });
    expect(write.status).toBe(507);
    expect(await write.json()).toMatchObject({ code: 'quota_exceeded' });
    expect((await api('DELETE', '/projects/tiny?backup=false')).status).toBe(200);
  });

  it('delete backs the project up first and refuses when the backup fails; without a backup it drops the database', async () => {
    const { status, json } = await api('POST', '/projects', { ref: 'gamma' });
    expect(status).toBe(201);
    const del = await api('DELETE', '/projects/gamma');
    const exists = async () => (await t.db.admin.query('select 1 from pg_database where datname = $1', [json.database])).rowCount === 1;
    if (del.status === 503) {
      // The test cluster is Postgres 17 and this machine may lack pg_dump 17: then nothing is deleted.
      expect(del.json.code).toBe('backup_failed');
      expect(await exists()).toBe(true);
      expect((await api('GET', '/projects/gamma')).json.status).toBe('active');
      expect((await api('DELETE', '/projects/gamma?backup=false')).status).toBe(200);
    } else {
      expect(del.status).toBe(200);
      expect(del.json.backup).toContain('projects/gamma');
    }
    expect(await exists()).toBe(false);
    expect((await api('GET', '/projects/gamma')).status).toBe(404);
    expect((await fetch(`${t.stack.url}/project/gamma/rest/v1/`, { headers: { apikey: json.keys.anon_key } })).status).toBe(404);
  });
});
