import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPools, type Pools } from './pool.ts';
import { prepared, statementName } from './prepared.ts';
import { withRequestContext } from './request-context.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';

let db: TestDatabase;
let on: Pools;
let off: Pools;
const tenantA = '00000000-0000-4000-8000-00000000000a';
const tenantB = '00000000-0000-4000-8000-00000000000b';
const caller = (tenant: string) => ({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: tenant });
const NOTES = 'select coalesce(json_agg(body order by body), \'[]\')::text as bodies from public.pnotes where id > $1';

beforeAll(async () => {
  db = await createTestDatabase();
  // One connection each, so every request below reuses the statements the previous one prepared.
  on = createPools({ ...db.config.postgres, poolMax: 1 }, 'prepared.test');
  off = createPools({ ...db.config.postgres, poolMax: 1, preparedStatements: false }, 'prepared.test off');
  await db.admin.query(`
    insert into public.tenants (id, name, slug) values ('${tenantA}', 'A', 'a'), ('${tenantB}', 'B', 'b');
    create table public.pnotes (
      id bigint generated always as identity primary key,
      tenant_id uuid not null default auth.tenant_id() references public.tenants (id),
      body text not null
    );
    select public.enable_tenant_isolation('public.pnotes');
    insert into public.pnotes (tenant_id, body) values ('${tenantA}', 'a1'), ('${tenantA}', 'a2'), ('${tenantB}', 'b1');
  `);
});

afterAll(async () => {
  await on?.end();
  await off?.end();
  await db?.drop();
});

/** The caller's notes through `pools`, and the names of the statements prepared on its connection. */
async function notesAs(pools: Pools, tenant: string) {
  return withRequestContext(pools.request, caller(tenant), async (client) => {
    const { rows } = await client.query(prepared(client, { text: NOTES, values: ['0'] }));
    const names = await client.query<{ name: string }>('select name from pg_prepared_statements order by name');
    return { bodies: JSON.parse(rows[0].bodies) as string[], names: names.rows.map((r) => r.name) };
  }, { readOnly: true });
}

describe('named prepared statements (DB_PREPARED_STATEMENTS)', () => {
  it('prepares the context statement and the query once per connection, and RLS still decides per request', async () => {
    const a = await notesAs(on, tenantA);
    const b = await notesAs(on, tenantB);
    const again = await notesAs(on, tenantA);
    expect(a.bodies).toEqual(['a1', 'a2']);
    expect(b.bodies).toEqual(['b1']);
    expect(again.bodies).toEqual(['a1', 'a2']);
    expect(a.names).toContain(statementName(NOTES));
    // The same two statements (context, notes) serve both tenants: nothing more was prepared.
    expect(b.names).toEqual(a.names);
    expect(a.names.filter((n) => n.startsWith('nm_'))).toHaveLength(2);
  });

  it('prepares nothing when DB_PREPARED_STATEMENTS=false (PgBouncer in transaction mode)', async () => {
    const a = await notesAs(off, tenantA);
    const b = await notesAs(off, tenantB);
    expect(a.bodies).toEqual(['a1', 'a2']);
    expect(b.bodies).toEqual(['b1']);
    expect([...a.names, ...b.names]).toEqual([]);
  });

  it('a failing prepared statement leaves the connection usable and is prepared again after the fix', async () => {
    const bad = 'select count(*)::text as n from public.pnotes_later';
    const run = () =>
      withRequestContext(on.request, caller(tenantA), async (client) => (await client.query(prepared(client, { text: bad }))).rows[0].n, { readOnly: true });
    await expect(run()).rejects.toMatchObject({ code: '42P01' });
    expect((await notesAs(on, tenantA)).bodies).toEqual(['a1', 'a2']);
    await db.admin.query('create table public.pnotes_later (id int); grant select on public.pnotes_later to authenticated');
    expect(await run()).toBe('0');
  });

  it('names a statement by its text alone', () => {
    expect(statementName(NOTES)).toBe(statementName(`${NOTES}`));
    expect(statementName(NOTES)).not.toBe(statementName(`${NOTES} limit 1`));
    expect(statementName(NOTES)).toMatch(/^nm_[A-Za-z0-9_-]{24}$/);
  });
});
