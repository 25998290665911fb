/**
 * The admin dashboard's API over a running embedded stack (the /admin mount of the gateway app):
 * first run from localhost, sign-in with password and TOTP, the httpOnly SameSite=Strict session
 * cookie, CSRF refusals, the sign-in rate limit, role enforcement (read_only cannot change
 * anything, not even through a role switch in its SQL; developer cannot manage admins), the table
 * editor (create a tenant table, rows, columns, policies, seen through REST by two tenants'
 * users), the SQL editor (grid, confirmation of destructive SQL, EXPLAIN, history, snippets), the
 * auth and storage pages through their services, and the audit chain's entries of admin actions.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../auth/totp.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { testToken } from '../test/helpers/db.ts';
import { AdminClient } from '../test/helpers/admin-client.ts';
import { destructiveStatements } from './sql-runner.ts';

let t: TestStack;
const OWNER = { email: 'owner@example.com', password: 'owner-password-1' };
const TENANT_A = randomUUID();
const TENANT_B = randomUUID();
let owner: AdminClient;

beforeAll(async () => {
  t = await startTestStack({ env: { ADMIN_LOGIN_MAX_FAILURES: '3' } });
  await t.db.admin.query(`insert into public.tenants (id, name) values ($1, 'A'), ($2, 'B')`, [TENANT_A, TENANT_B]);
  owner = new AdminClient(t.stack.url);
}, 60_000);

afterAll(async () => {
  await t?.close();
});

async function signedIn(email: string, password: string): Promise<AdminClient> {
  const c = new AdminClient(t.stack.url);
  expect((await c.login(email, password)).status).toBe(200);
  return c;
}

describe('first run and sign-in', () => {
  it('serves the page without any key in it', async () => {
    const res = await fetch(`${t.stack.url}/admin`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await res.text();
    expect(html).not.toContain(t.db.config.serviceRoleKey);
    expect(html).not.toContain(t.db.config.anonKey);
    for (const src of html.matchAll(/(?:src|href)="([^"]+)"/g)) expect(src[1]).toMatch(/^\/admin\/assets\//);
    const preact = await fetch(`${t.stack.url}/admin/assets/vendor/preact.js`);
    expect(preact.status).toBe(200);
    expect((await fetch(`${t.stack.url}/admin/assets/..%2F..%2Fpackage.json`)).status).toBe(404);
  });

  it('creates the first admin (an owner) from localhost once, then only signs in', async () => {
    expect((await owner.call('GET', '/admin/api/setup')).json).toEqual({ needed: true, allowed: true });
    // Through a proxy (X-Forwarded-For) the first-run page is closed.
    const proxied = await owner.call('POST', '/admin/api/setup', OWNER, { 'x-forwarded-for': '203.0.113.9' });
    expect(proxied.status).toBe(403);
    const created = await owner.call('POST', '/admin/api/setup', OWNER);
    expect(created.status).toBe(200);
    expect(created.json.admin).toMatchObject({ email: OWNER.email, role: 'owner' });
    const again = await new AdminClient(t.stack.url).call('POST', '/admin/api/setup', { email: 'x@example.com', password: 'another-password' });
    expect(again.status).toBe(409);
    expect((await owner.call('GET', '/admin/api/setup')).json).toEqual({ needed: false, allowed: false });
  });

  it('signs in with an httpOnly SameSite=Strict cookie and hands the CSRF token to the page', async () => {
    const c = new AdminClient(t.stack.url);
    const wrong = await c.login(OWNER.email, 'not the password');
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual({ code: 'invalid_credentials', message: 'Invalid email or password' });
    const res = await c.call('POST', '/admin/api/login', OWNER);
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^nm_admin=[\w-]{40,};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/admin');
    const me = await c.call('GET', '/admin/api/me');
    expect(me.json).toMatchObject({ admin: { email: OWNER.email, role: 'owner' }, csrfToken: res.json.csrfToken });
    expect(JSON.stringify(me.json)).not.toContain('password');
    // The session row keeps the token's hash only.
    const { rows } = await t.db.admin.query('select token_hash from nextmavens.admin_sessions');
    expect(rows.map((r) => r.token_hash)).not.toContain(cookie.split(';')[0].split('=')[1]);
    c.csrf = res.json.csrfToken;
    expect((await c.call('POST', '/admin/api/logout')).status).toBe(200);
    expect((await c.call('GET', '/admin/api/me')).status).toBe(401);
  });

  it('refuses requests without a session, without the CSRF token, or from another site', async () => {
    expect((await new AdminClient(t.stack.url).call('GET', '/admin/api/schemas')).status).toBe(401);
    const c = await signedIn(OWNER.email, OWNER.password);
    const noToken = await c.call('POST', '/admin/api/sql', { sql: 'select 1' }, { 'x-csrf-token': '' });
    expect(noToken.status).toBe(403);
    expect(noToken.json.code).toBe('csrf');
    expect((await c.call('POST', '/admin/api/sql', { sql: 'select 1' }, { 'x-csrf-token': 'forged' })).status).toBe(403);
    expect((await c.call('POST', '/admin/api/sql', { sql: 'select 1' }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await c.call('POST', '/admin/api/login', OWNER, { origin: 'https://evil.example' })).status).toBe(403);
    // A form post (not JSON) cannot sign in.
    expect((await new AdminClient(t.stack.url).call('POST', '/admin/api/login', `email=${OWNER.email}`, { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(400);
    expect((await c.call('POST', '/admin/api/sql', { sql: 'select 1' })).status).toBe(200);
  });

  it('limits failed sign-ins per email (429), even with the right password then', async () => {
    const c = new AdminClient(t.stack.url);
    await c.call('POST', '/admin/api/admins', {}); // no session: 401, not counted
    const victim = 'limited@example.com';
    await owner.call('POST', '/admin/api/admins', { email: victim, password: 'limited-password', role: 'developer' }, { 'x-csrf-token': (await owner.call('GET', '/admin/api/me')).json.csrfToken });
    for (let i = 0; i < 3; i++) expect((await c.login(victim, 'wrong-password')).status).toBe(401);
    const limited = await c.login(victim, 'limited-password');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('900');
    expect(limited.json.code).toBe('too_many_attempts');
  });

  it('asks for the TOTP code once enrolled', async () => {
    const me = await signedIn(OWNER.email, OWNER.password);
    const enrol = await me.call('POST', '/admin/api/me/totp');
    expect(enrol.status).toBe(200);
    expect(enrol.json.uri).toMatch(/^otpauth:\/\/totp\//);
    expect((await me.call('POST', '/admin/api/me/totp/verify', { code: '000000' })).status).toBe(400);
    expect((await me.call('POST', '/admin/api/me/totp/verify', { code: totpCode(enrol.json.secret) })).status).toBe(200);
    const c = new AdminClient(t.stack.url);
    const without = await c.login(OWNER.email, OWNER.password);
    expect(without.status).toBe(401);
    expect(without.json.code).toBe('mfa_required');
    expect((await c.login(OWNER.email, OWNER.password, totpCode(enrol.json.secret))).status).toBe(200);
    owner = c;
    await t.db.admin.query('update nextmavens.admin_users set totp_enabled = false where email = $1', [OWNER.email]);
  });
});

describe('roles', () => {
  let dev: AdminClient;
  let reader: AdminClient;

  beforeAll(async () => {
    for (const [email, role] of [['dev@example.com', 'developer'], ['reader@example.com', 'read_only']]) {
      const r = await owner.call('POST', '/admin/api/admins', { email, password: `${role}-password`, role });
      expect(r.status).toBe(200);
    }
    dev = await signedIn('dev@example.com', 'developer-password');
    reader = await signedIn('reader@example.com', 'read_only-password');
  });

  it('lets only owners manage admins', async () => {
    expect((await dev.call('GET', '/admin/api/admins')).status).toBe(403);
    expect((await dev.call('POST', '/admin/api/admins', { email: 'x@example.com', password: 'xxxxxxxxxxxx', role: 'owner' })).status).toBe(403);
    const list = await owner.call('GET', '/admin/api/admins');
    expect(list.json.map((a: { email: string }) => a.email)).toEqual(expect.arrayContaining([OWNER.email, 'dev@example.com', 'reader@example.com']));
    const me = list.json.find((a: { email: string }) => a.email === OWNER.email);
    expect((await owner.call('DELETE', `/admin/api/admins/${me.id}`)).status).toBe(409); // the last owner stays
    expect((await owner.call('PATCH', '/admin/api/admins/not-a-uuid', { role: 'owner' })).status).toBe(404);
  });

  it('keeps a read_only admin from changing anything', async () => {
    expect((await reader.call('GET', '/admin/api/schemas')).status).toBe(200);
    expect((await reader.call('POST', '/admin/api/tables', { name: 'nope', columns: [{ name: 'id', type: 'int', primaryKey: true }] })).status).toBe(403);
    const select = await reader.call('POST', '/admin/api/sql', { sql: `select nspname from pg_namespace where nspname = 'public'` });
    expect(select.status).toBe(200);
    expect(select.json.results[0].rows).toEqual([['public']]);
    // It reads as nextmavens_admin_read, to which RLS applies (public.tenants has policies for API roles only).
    expect((await reader.call('POST', '/admin/api/sql', { sql: 'select current_user, count(*) from public.tenants' })).json.results[0].rows).toEqual([['nextmavens_admin_read', '0']]);
    const write = await reader.call('POST', '/admin/api/sql', { sql: `insert into public.tenants (name) values ('x')` });
    expect(write.status).toBe(400);
    expect(write.json.sqlstate).toBe('25006'); // read-only transaction
    // Its login is nextmavens_admin_read: no switch back to a superuser, no server files, one statement only.
    const sw = await reader.call('POST', '/admin/api/sql', { sql: `select set_config('role', '${t.db.config.postgres.user}', true)` });
    expect(sw.status).toBe(403);
    expect((await reader.call('POST', '/admin/api/sql', { sql: `select pg_read_file('/etc/hostname')` })).status).toBe(403);
    expect((await reader.call('POST', '/admin/api/sql', { sql: 'select 1; select 2' })).status).toBe(400);
    // The admin tables' rows stay hidden from it (RLS, no policy).
    expect((await reader.call('POST', '/admin/api/sql', { sql: 'select count(*) from nextmavens.admin_sessions' })).json.results[0].rows).toEqual([['0']]);
  });
});

describe('the table editor', () => {
  it('creates a tenant table, edits its rows, and RLS keeps each tenant to its own through REST', async () => {
    const created = await owner.call('POST', '/admin/api/tables', {
      schema: 'public',
      name: 'notes',
      tenancy: true,
      columns: [
        { name: 'id', type: 'bigint', primaryKey: true, default: 'identity' },
        { name: 'title', type: 'text', nullable: false },
        { name: 'created_at', type: 'timestamptz', default: 'now' },
      ],
    });
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({ name: 'notes', rls: true, primaryKey: ['id'], policies: [{ name: 'tenant_isolation' }] });
    expect(created.json.foreignKeys).toEqual([expect.objectContaining({ columns: ['tenant_id'], references: { schema: 'public', table: 'tenants', columns: ['id'] } })]);

    for (const [title, tenant] of [['a-one', TENANT_A], ['a-two', TENANT_A], ['b-one', TENANT_B]]) {
      const ins = await owner.call('POST', '/admin/api/tables/public/notes/rows', { values: { title, tenant_id: tenant } });
      expect(ins.status).toBe(200);
      expect(ins.json).toMatchObject({ title, tenant_id: tenant, id: expect.any(Number) });
    }
    const page = await owner.call('GET', `/admin/api/tables/public/notes/rows?order=title.desc&limit=2&filters=${encodeURIComponent(JSON.stringify([{ column: 'title', op: 'ilike', value: '%one%' }]))}`);
    expect(page.status).toBe(200);
    expect(page.json.total).toBe(2);
    expect(page.json.rows.map((r: { title: string }) => r.title)).toEqual(['b-one', 'a-one']);
    const bId = page.json.rows[0].id;
    expect((await owner.call('PATCH', '/admin/api/tables/public/notes/rows', { key: { id: bId }, values: { title: 'b-renamed' } })).json.title).toBe('b-renamed');

    const rest = async (tenant: string) => {
      const token = await testToken({ role: 'authenticated', sub: randomUUID(), tenant_id: tenant });
      const res = await fetch(`${t.stack.url}/rest/v1/notes?select=title&order=title`, { headers: { apikey: t.db.config.anonKey, authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { title: string }[]).map((r) => r.title);
    };
    await expect.poll(() => rest(TENANT_A), { timeout: 10_000 }).toEqual(['a-one', 'a-two']);
    expect(await rest(TENANT_B)).toEqual(['b-renamed']);

    expect((await owner.call('DELETE', '/admin/api/tables/public/notes/rows', { key: { id: bId } })).status).toBe(200);
    expect((await owner.call('DELETE', '/admin/api/tables/public/notes/rows', { key: { id: bId } })).status).toBe(404);
    expect(await rest(TENANT_B)).toEqual([]);
  });

  it('adds columns, lists and writes policies from templates, drops them', async () => {
    const added = await owner.call('POST', '/admin/api/tables/public/notes/columns', { name: 'done', type: 'boolean', default: 'false', nullable: false });
    expect(added.status).toBe(200);
    expect(added.json.columns.find((c: { name: string }) => c.name === 'done')).toMatchObject({ nullable: false, default: 'false' });
    expect((await owner.call('POST', '/admin/api/tables/public/notes/columns', { name: 'x', type: 'no_such_type' })).json.code).toBe('validation_failed');
    expect((await owner.call('POST', '/admin/api/tables/public/notes/columns', { name: 'y', type: 'text', default: 'now(); drop table notes' })).status).toBe(400);
    const templates = await owner.call('GET', '/admin/api/policy-templates');
    const read = templates.json.find((x: { id: string }) => x.id === 'tenant_read').policy;
    const withPolicy = await owner.call('POST', '/admin/api/tables/public/notes/policies', { ...read, name: 'members read' });
    expect(withPolicy.status).toBe(200);
    expect(withPolicy.json.policies.map((p: { name: string }) => p.name)).toEqual(['members read', 'tenant_isolation']);
    // One statement only: what follows a `;` in an expression is refused, not run.
    const injected = await owner.call('POST', '/admin/api/tables/public/notes/policies', { name: 'evil', command: 'select', using: 'true); drop table public.notes; --' });
    expect(injected.status).toBe(400);
    expect((await owner.call('GET', '/admin/api/tables/public/notes')).status).toBe(200);
    const dropped = await owner.call('DELETE', `/admin/api/tables/public/notes/policies/${encodeURIComponent('members read')}`);
    expect(dropped.json.policies.map((p: { name: string }) => p.name)).toEqual(['tenant_isolation']);
    expect((await owner.call('PUT', '/admin/api/tables/public/notes/rls', { enabled: 'no' })).status).toBe(400);
    expect((await owner.call('PUT', '/admin/api/tables/public/notes/rls', { enabled: false })).json.rls).toBe(false);
    expect((await owner.call('PUT', '/admin/api/tables/public/notes/rls', { enabled: true })).json.rls).toBe(true);
    const gone = await owner.call('DELETE', '/admin/api/tables/public/notes/columns/done');
    expect(gone.json.columns.map((c: { name: string }) => c.name)).not.toContain('done');
  });

  it('answers bad input with 4xx', async () => {
    expect((await owner.call('GET', '/admin/api/tables/public/no_such_table')).status).toBe(404);
    expect((await owner.call('GET', '/admin/api/tables/public/notes/rows?filters=nope')).status).toBe(400);
    expect((await owner.call('GET', `/admin/api/tables/public/notes/rows?order=${encodeURIComponent('title; drop table x')}.asc`)).status).toBe(400);
    expect((await owner.call('POST', '/admin/api/tables/public/notes/rows', { values: { nope: 1 } })).status).toBe(400);
    const bad = await owner.call('POST', '/admin/api/tables/public/notes/rows', { values: { title: null, tenant_id: TENANT_A } });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ code: 'sql_error', sqlstate: '23502' });
    expect(JSON.stringify(bad.json)).not.toMatch(/\/(home|tmp|work)\//);
  });
});

describe('the SQL editor', () => {
  it('runs SQL into a grid, asks before destroying, explains, keeps history and snippets', async () => {
    const r = await owner.call('POST', '/admin/api/sql', { sql: `select 1 as n, 'x'::text as s, null::int as z, now()::date = current_date as today` });
    expect(r.status).toBe(200);
    expect(r.json.results[0]).toMatchObject({ command: 'SELECT', columns: [{ name: 'n' }, { name: 's' }, { name: 'z' }, { name: 'today' }], rows: [['1', 'x', null, 't']] });
    const many = await owner.call('POST', '/admin/api/sql', { sql: 'create table public.scratch (id int); insert into public.scratch values (1), (2); select count(*) from public.scratch' });
    expect(many.json.results.map((x: { command: string }) => x.command)).toEqual(['CREATE', 'INSERT', 'SELECT']);
    // A session change in the SQL (SET ROLE survives RESET ALL) does not outlive it.
    expect((await owner.call('POST', '/admin/api/sql', { sql: 'set role anon; select current_user' })).json.results[1].rows).toEqual([['anon']]);
    expect((await owner.call('POST', '/admin/api/sql', { sql: 'select current_user = session_user' })).json.results[0].rows).toEqual([['t']]);
    expect((await owner.call('GET', '/admin/api/tables/public/scratch/rows')).json.total).toBe(2);
    const ask = await owner.call('POST', '/admin/api/sql', { sql: 'delete from public.scratch' });
    expect(ask.status).toBe(409);
    expect(ask.json).toMatchObject({ code: 'confirmation_required', statements: [expect.stringContaining('DELETE without WHERE')] });
    expect((await owner.call('POST', '/admin/api/sql', { sql: 'select count(*) from public.scratch' })).json.results[0].rows).toEqual([['2']]);
    expect((await owner.call('POST', '/admin/api/sql', { sql: 'drop table public.scratch', confirm: true })).status).toBe(200);
    const plan = await owner.call('POST', '/admin/api/sql', { sql: 'select * from public.notes where id = 1', explain: true });
    expect(plan.status).toBe(200);
    expect(JSON.parse(plan.json.results[0].rows[0][0])[0].Plan['Node Type']).toMatch(/Scan/);
    const err = await owner.call('POST', '/admin/api/sql', { sql: 'select * from no_such_table' });
    expect(err.status).toBe(400);
    expect(err.json).toMatchObject({ code: 'sql_error', sqlstate: '42P01', position: 15 });
    const history = await owner.call('GET', '/admin/api/sql/history');
    expect(history.json[0]).toMatchObject({ sql: 'select * from no_such_table', ok: false });
    expect(history.json.some((h: { sql: string; ok: boolean }) => h.sql === 'drop table public.scratch' && h.ok)).toBe(true);
    const saved = await owner.call('POST', '/admin/api/sql/snippets', { name: 'count notes', sql: 'select count(*) from notes' });
    expect(saved.status).toBe(200);
    expect((await owner.call('GET', '/admin/api/sql/snippets')).json).toEqual([expect.objectContaining({ id: saved.json.id, name: 'count notes' })]);
    expect((await owner.call('DELETE', `/admin/api/sql/snippets/${saved.json.id}`)).status).toBe(200);
    expect((await owner.call('GET', '/admin/api/sql/snippets')).json).toEqual([]);
  });

  it('tells destructive statements from the rest', () => {
    expect(destructiveStatements(`select 'drop table x'; -- truncate y\nupdate t set a = 1 where id = 2`)).toEqual([]);
    expect(destructiveStatements('TRUNCATE t; update t set a = 1; alter table t drop column a').map((s) => s.split(':')[0])).toEqual(['TRUNCATE', 'UPDATE without WHERE', 'ALTER … DROP']);
  });
});

describe('auth and storage through their services', () => {
  it('creates, bans and deletes users with the service_role key kept on the server', async () => {
    const created = await owner.call('POST', '/admin/api/auth/admin/users', { email: 'someone@example.com', password: 'secret-123', email_confirm: true });
    expect(created.status).toBe(200);
    expect(JSON.stringify(created.json)).not.toContain(t.db.config.serviceRoleKey);
    const id = created.json.id;
    expect((await owner.call('PUT', `/admin/api/auth/admin/users/${id}`, { ban_duration: '24h' })).json.banned_until).toBeTruthy();
    const list = await owner.call('GET', '/admin/api/auth/admin/users?per_page=50');
    expect(list.json.users.map((u: { email: string }) => u.email)).toContain('someone@example.com');
    expect((await owner.call('GET', '/admin/api/auth/settings')).status).toBe(404); // only the listed paths
    expect((await owner.call('DELETE', `/admin/api/auth/admin/users/${id}`)).status).toBe(200);
  });

  it('creates a bucket, uploads, lists, downloads and deletes a file', async () => {
    const bucket = await owner.call('POST', '/admin/api/storage/bucket', { name: 'docs', public: false });
    expect(bucket.status, JSON.stringify(bucket.json)).toBe(200);
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da6364f8cf00000301010018dd8db00000000049454e44ae426082', 'hex');
    const up = await owner.call('POST', '/admin/api/storage/object/docs/folder/dot.png', png, { 'content-type': 'application/octet-stream', 'x-content-type': 'image/png' });
    expect(up.status, JSON.stringify(up.json)).toBe(200);
    const listed = await owner.call('POST', '/admin/api/storage/object/list/docs', { prefix: 'folder/' });
    expect(listed.json.map((o: { name: string }) => o.name)).toEqual(['dot.png']);
    const down = await fetch(`${t.stack.url}/admin/api/storage/object/docs/folder/dot.png`, { headers: { cookie: owner.cookie! } });
    expect(down.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await down.arrayBuffer()).equals(png)).toBe(true);
    // A read_only admin reads but does not upload.
    const reader = await signedIn('reader@example.com', 'read_only-password');
    expect((await reader.call('POST', '/admin/api/storage/object/list/docs', { prefix: 'folder/' })).status).toBe(200);
    expect((await reader.call('POST', '/admin/api/storage/object/docs/other.png', png, { 'content-type': 'application/octet-stream' })).status).toBe(403);
    const removed = await owner.call('DELETE', '/admin/api/storage/object/docs', { prefixes: ['folder/dot.png'] });
    expect(removed.json.map((o: { name: string }) => o.name)).toEqual(['folder/dot.png']);
    expect((await owner.call('POST', '/admin/api/storage/object/list/docs', { prefix: 'folder/' })).json).toEqual([]);
  });
});

describe('operations', () => {
  it('shows the health summary and the audit entries of admin actions', async () => {
    const health = await owner.call('GET', '/admin/api/health');
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ services: { database: { status: 'up' } } });
    const audit = await owner.call('GET', '/admin/api/audit?action=admin.');
    const actions = audit.json.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['admin.setup', 'admin.login', 'admin.tables.create', 'admin.rows.insert', 'admin.policies.create', 'admin.sql.run']));
    expect(audit.json.find((e: { action: string }) => e.action === 'admin.tables.create')).toMatchObject({ target: 'public.notes', actor_role: 'admin_owner' });
    expect((await owner.call('GET', '/admin/api/jobs/failed')).status).toBe(200);
    expect((await owner.call('POST', '/admin/api/jobs/abc/retry')).status).toBe(404);
  });
});
