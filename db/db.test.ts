import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPools, type Pools } from './pool.ts';
import { migrate, readMigrations } from './migrate.ts';
import { withRequestContext } from './request-context.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';

let db: TestDatabase;
let pools: Pools;
const tenantA = '00000000-0000-4000-8000-00000000000a';
const tenantB = '00000000-0000-4000-8000-00000000000b';
const userA = '11111111-1111-4111-8111-111111111111';

beforeAll(async () => {
  db = await createTestDatabase();
  pools = createPools(db.config.postgres, 'db.test');
  await db.admin.query(`
    insert into public.tenants (id, name, slug) values ($1, 'A', 'a'), ($2, 'B', 'b');
    create table public.notes (
      id bigint generated always as identity primary key,
      tenant_id uuid not null default auth.tenant_id() references public.tenants (id),
      body text not null
    );
    select public.enable_tenant_isolation('public.notes');
    insert into public.notes (tenant_id, body) values ($1, 'a1'), ($1, 'a2'), ($2, 'b1');
  `.replaceAll('$1', `'${tenantA}'`).replaceAll('$2', `'${tenantB}'`));
});

afterAll(async () => {
  await pools?.end();
  await db?.drop();
});

const asTenant = (tenant: string, extra: Record<string, unknown> = {}) => ({ role: 'authenticated', sub: userA, tenant_id: tenant, ...extra });

describe('migrations', () => {
  it('re-running is a no-op', async () => {
    const all = await readMigrations();
    const result = await migrate(db.url);
    expect(result.applied).toEqual([]);
    expect(result.skipped).toBe(all.length);
    const { rows } = await db.admin.query('select version from nextmavens.schema_migrations order by version');
    expect(rows.map((r) => r.version)).toEqual(all.map((m) => m.version));
  });

  it('concurrent runners wait for each other and apply nothing twice', async () => {
    const results = await Promise.all([migrate(db.url), migrate(db.url), migrate(db.url)]);
    expect(results.every((r) => r.applied.length === 0)).toBe(true);
  });

  it('creates the roles PostgREST expects', async () => {
    const { rows } = await db.admin.query(
      `select rolname, rolcanlogin, rolinherit, rolbypassrls from pg_roles
       where rolname in ('anon','authenticated','service_role','authenticator') order by rolname`,
    );
    expect(rows).toEqual([
      { rolname: 'anon', rolcanlogin: false, rolinherit: false, rolbypassrls: false },
      { rolname: 'authenticated', rolcanlogin: false, rolinherit: false, rolbypassrls: false },
      { rolname: 'authenticator', rolcanlogin: true, rolinherit: false, rolbypassrls: false },
      { rolname: 'service_role', rolcanlogin: false, rolinherit: false, rolbypassrls: true },
    ]);
  });

  it('creates the schemas and pgcrypto, and skips extensions the server lacks', async () => {
    const { rows } = await db.admin.query(
      `select nspname from pg_namespace where nspname in ('auth','storage','realtime','extensions') order by 1`,
    );
    expect(rows.map((r) => r.nspname)).toEqual(['auth', 'extensions', 'realtime', 'storage']);
    const ext = await db.admin.query(`select extname from pg_extension`);
    expect(ext.rows.map((r) => r.extname)).toContain('pgcrypto');
    expect(ext.rows.map((r) => r.extname)).not.toContain('postgis');
  });

  it('runs on a server with wal_level=logical', async () => {
    const { rows } = await db.admin.query('show wal_level');
    expect(rows[0].wal_level).toBe('logical');
  });
});

describe('withRequestContext', () => {
  it("applies the role's own settings (ALTER ROLE … SET), the database's entry winning, reloaded on invalidate", async () => {
    const timeoutOf = (claims: Record<string, unknown> | null) =>
      withRequestContext(pools.request, claims, async (c) =>
        (await c.query(`select current_setting('statement_timeout') as t, current_setting('log_statement') as l, current_setting('work_mem') as w`)).rows[0],
      );
    // sql/0001_roles.sql: anon 3s, authenticated 8s, for all databases.
    expect((await timeoutOf(null)).t).toBe('3s');
    expect((await timeoutOf({ role: 'authenticated' })).t).toBe('8s');
    const dbName = db.config.postgres.database;
    // Per-database entries override; a superuser-only setting is not applied (it would fail every request).
    await db.admin.query(`alter role anon in database "${dbName}" set statement_timeout = '1500ms'`);
    await db.admin.query(`alter role anon in database "${dbName}" set log_statement = 'all'`);
    await db.admin.query(`alter role anon in database "${dbName}" set work_mem = '7MB'`);
    try {
      expect((await timeoutOf(null)).t).toBe('3s'); // cached until the schema reloads
      pools.roleSettings.invalidate();
      expect(await timeoutOf(null)).toMatchObject({ t: '1500ms', w: '7MB' });
      expect((await timeoutOf(null)).l).not.toBe('all');
      await expect(
        withRequestContext(pools.request, null, (c) => c.query('select pg_sleep(3)')),
      ).rejects.toMatchObject({ code: '57014' });
    } finally {
      await db.admin.query(`alter role anon in database "${dbName}" reset all`);
      pools.roleSettings.invalidate();
    }
  });

  it('runs as the role of the claims, with claims, method, path and headers set', async () => {
    const row = await withRequestContext(
      pools.request,
      asTenant(tenantA, { email: 'a@example.com' }),
      async (c) =>
        (
          await c.query(`select current_user, auth.uid() as uid, auth.role() as role, auth.email() as email,
            auth.tenant_id() as tenant, current_tenant_id() as alias, current_setting('request.method') as method,
            current_setting('request.path') as path, current_setting('request.headers')::json->>'x-a' as header`)
        ).rows[0],
      { request: { method: 'GET', path: '/notes', headers: { 'x-a': 'b' } } },
    );
    expect(row).toEqual({
      current_user: 'authenticated',
      uid: userA,
      role: 'authenticated',
      email: 'a@example.com',
      tenant: tenantA,
      alias: tenantA,
      method: 'GET',
      path: '/notes',
      header: 'b',
    });
  });

  it('no claims means anon, and the role claim is forced into request.jwt.claims', async () => {
    const row = await withRequestContext(pools.request, null, async (c) =>
      (await c.query(`select current_user, auth.jwt() as jwt, auth.uid() as uid, auth.tenant_id() as tenant`)).rows[0],
    );
    expect(row).toEqual({ current_user: 'anon', jwt: { role: 'anon' }, uid: null, tenant: null });
  });

  it('reads the tenant from app_metadata when there is no top-level claim', async () => {
    const tenant = await withRequestContext(pools.request, { role: 'authenticated', app_metadata: { tenant_id: tenantB } }, async (c) =>
      (await c.query('select auth.tenant_id() as t')).rows[0].t,
    );
    expect(tenant).toBe(tenantB);
  });

  it('settings do not leak to the next request on the same connection', async () => {
    await withRequestContext(pools.request, asTenant(tenantA), async () => undefined);
    const row = await withRequestContext(pools.request, null, async (c) =>
      (await c.query(`select current_user, current_setting('request.jwt.claims') as claims`)).rows[0],
    );
    expect(row).toEqual({ current_user: 'anon', claims: '{"role":"anon"}' });
  });

  it('rolls back on error', async () => {
    await expect(
      withRequestContext(pools.request, { role: 'service_role' }, async (c) => {
        await c.query(`insert into public.notes (tenant_id, body) values ($1, 'rolled back')`, [tenantA]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const { rowCount } = await db.admin.query(`select 1 from public.notes where body = 'rolled back'`);
    expect(rowCount).toBe(0);
  });

  it('read-only transactions refuse writes', async () => {
    await expect(
      withRequestContext(pools.request, { role: 'service_role' }, (c) => c.query(`delete from public.notes`), { readOnly: true }),
    ).rejects.toMatchObject({ code: '25006' });
  });

  it('cannot become a role the authenticator was not granted, whatever the token says', async () => {
    for (const role of ['nextmavens', 'pg_read_server_files', 'postgres']) {
      await expect(withRequestContext(pools.request, { role }, async () => undefined)).rejects.toMatchObject({
        code: expect.stringMatching(/^(42501|22023)$/),
      });
    }
  });
});

describe('tenant isolation template', () => {
  const bodies = (tenant: string | null) =>
    withRequestContext(pools.request, tenant ? asTenant(tenant) : null, async (c) =>
      (await c.query('select body from public.notes order by body')).rows.map((r) => r.body),
    );

  it('each tenant sees only its rows; anon sees none; service_role sees all', async () => {
    expect(await bodies(tenantA)).toEqual(['a1', 'a2']);
    expect(await bodies(tenantB)).toEqual(['b1']);
    expect(await bodies(null)).toEqual([]);
    const all = await withRequestContext(pools.request, { role: 'service_role' }, async (c) => (await c.query('select count(*)::int as n from public.notes')).rows[0].n);
    expect(all).toBe(3);
  });

  it('a tenant cannot write rows into another tenant, and the default fills its own tenant', async () => {
    await expect(
      withRequestContext(pools.request, asTenant(tenantA), (c) => c.query(`insert into public.notes (tenant_id, body) values ($1, 'x')`, [tenantB])),
    ).rejects.toMatchObject({ code: '42501' });
    const inserted = await withRequestContext(pools.request, asTenant(tenantB), async (c) =>
      (await c.query(`insert into public.notes (body) values ('b2') returning tenant_id`)).rows[0].tenant_id,
    );
    expect(inserted).toBe(tenantB);
    const updated = await withRequestContext(pools.request, asTenant(tenantA), async (c) =>
      (await c.query(`update public.notes set body = 'hijacked' where body = 'b1'`)).rowCount,
    );
    expect(updated).toBe(0);
  });

  it('tenants see only their own tenant row', async () => {
    const names = await withRequestContext(pools.request, asTenant(tenantA), async (c) => (await c.query('select name from public.tenants')).rows);
    expect(names).toEqual([{ name: 'A' }]);
    await expect(
      withRequestContext(pools.request, null, (c) => c.query('select * from public.tenants')),
    ).rejects.toMatchObject({ code: '42501' });
  });
});

describe('a single-query write (COMMIT pipelined behind the statement)', () => {
  const write = (sql: string) =>
    withRequestContext(pools.request, asTenant(tenantA), async (c) => (await c.query(sql)).rowCount, { singleQuery: true });
  const count = async () => Number((await db.admin.query('select count(*) from public.one_trip')).rows[0].count);

  beforeAll(async () => {
    await db.admin.query(`
      create table public.one_trip (id int, constraint one_trip_unique unique (id) deferrable initially deferred);
      grant select, insert on public.one_trip to authenticated;
    `);
  });

  it('commits a write that succeeds, and nothing of one that fails or breaks a deferred constraint at COMMIT', async () => {
    expect(await write('insert into public.one_trip values (1)')).toBe(1);
    expect(await count()).toBe(1);
    await expect(write("insert into public.one_trip values ('x')")).rejects.toMatchObject({ code: '22P02' });
    // The unique constraint is deferred: the statement succeeds and the pipelined COMMIT refuses it.
    await expect(write('insert into public.one_trip values (2), (2)')).rejects.toMatchObject({ code: '23505' });
    expect(await count()).toBe(1);
    // The pool's connections are still usable afterwards.
    expect(await write('insert into public.one_trip values (3)')).toBe(1);
    expect(await count()).toBe(2);
  });
});
