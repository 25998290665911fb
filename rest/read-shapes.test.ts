/**
 * rest/read-shapes.ts: which reads share a shape, and that a read served from a kept shape
 * answers exactly what planning it anew would — checked against a model of the table under RLS
 * (two tenants) for random values, including ones that look like operators, other parameters,
 * percent-encodings, quotes and commas, empty values and values of the wrong type.
 */
import fc from 'fast-check';
import { inject } from 'light-my-request';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../core/service.ts';
import { createPools, type Pools } from '../db/pool.ts';
import { createTestDatabase, testToken, type TestDatabase } from '../test/helpers/db.ts';
import { shapeCounts, shapeOf } from './read-shapes.ts';
import { createRestService } from './service.ts';

const get = (url: string, headers: Record<string, string> = {}) => {
  const q = url.indexOf('?');
  return { method: 'GET', path: url.slice(0, q), search: url.slice(q + 1), headers };
};

describe('shapeOf', () => {
  it('takes out the values of plain comparison filters and keeps everything else as written', () => {
    const a = shapeOf(get('/items?select=id,name&id=eq.5&order=id&limit=20'));
    const b = shapeOf(get('/items?select=id,name&id=eq.77&order=id&limit=20'));
    expect(a?.values).toEqual(['5']);
    expect(b?.values).toEqual(['77']);
    expect(a?.key).toBe(b?.key);
    expect(shapeOf(get('/items?id=not.gte.%20x&name=lt.'))?.values).toEqual(['%20x', '']);
    // The operator, the limit, the select list and the plan's headers are part of the shape.
    expect(shapeOf(get('/items?id=neq.5'))?.key).not.toBe(shapeOf(get('/items?id=eq.5'))?.key);
    expect(shapeOf(get('/items?id=eq.5&limit=2'))?.key).not.toBe(shapeOf(get('/items?id=eq.5&limit=3'))?.key);
    expect(shapeOf(get('/items?id=eq.5', { accept: 'application/vnd.pgrst.object+json' }))?.key).not.toBe(shapeOf(get('/items?id=eq.5'))?.key);
    expect(shapeOf(get('/items?id=eq.5', { prefer: 'count=exact' }))?.key).not.toBe(shapeOf(get('/items?id=eq.5'))?.key);
  });

  it('leaves alone what has no such value: other operators, embedded or JSON keys, reserved names, writes, functions', () => {
    for (const url of ['/items?id=in.(1,2)', '/items?name=like.a*', '/items?name=is.null', '/items?c.name=eq.x', '/items?data->>a=eq.x', '/items?or=(id.eq.1)', '/items?limit=eq.1', '/items?select=id', '/rpc/f?a=eq.1']) {
      expect(shapeOf(get(url)), url).toBeUndefined();
    }
    expect(shapeOf({ ...get('/items?id=eq.5'), method: 'PATCH' })).toBeUndefined();
  });
});

describe('reads served from a kept shape', () => {
  let db: TestDatabase;
  let pools: Pools;
  let rest: Service;
  const TENANTS = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b'];
  // id, tenant, n, body: bodies that look like values of other parameters, operators, encodings.
  const ROWS: [number, number, number, string][] = [
    [1, 0, 5, 'a'],
    [2, 0, 20, '20'],
    [3, 1, 5, 'eq.5'],
    [4, 0, -3, 'x,y'],
    [5, 1, 7, '"q"'],
    [6, 0, 7, 'a b'],
    [7, 1, 0, ''],
    [8, 0, 20, 'é'],
    [9, 0, 1, '%20'],
  ];
  const tokens: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin.query(`insert into public.tenants (id, name) values ('${TENANTS[0]}', 'a'), ('${TENANTS[1]}', 'b');
      create table public.shaped (id int primary key, tenant_id uuid not null references public.tenants (id), n int not null, body text not null);
      select public.enable_tenant_isolation('public.shaped');
      grant select on public.shaped to authenticated;`);
    for (const [id, t, n, body] of ROWS) await db.admin.query('insert into public.shaped values ($1, $2, $3, $4)', [id, TENANTS[t], n, body]);
    pools = createPools(db.config.postgres, 'read-shapes-test');
    rest = await createRestService({ config: db.config, pools, log: pino({ level: 'silent' }), embedded: true });
    for (const tenant of TENANTS) tokens.push(await testToken({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: tenant }));
  });

  afterAll(async () => {
    await rest?.close();
    await pools?.end();
    await db?.drop();
  });

  const call = async (url: string, tenant: number, headers: Record<string, string> = {}) => {
    const res = await inject((req, r) => rest.handle(req, r), { method: 'GET', url, headers: { authorization: `Bearer ${tokens[tenant]}`, ...headers } });
    return { status: res.statusCode, body: res.json() as unknown, range: res.headers['content-range'], location: res.headers['content-location'] };
  };

  type Op = 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte';
  const compare: Record<Op, (a: number | string, b: number | string) => boolean> = {
    eq: (a, b) => a === b,
    neq: (a, b) => a !== b,
    gt: (a, b) => a > b,
    gte: (a, b) => a >= b,
    lt: (a, b) => a < b,
    lte: (a, b) => a <= b,
  };
  const INT = /^-?\d+$/;

  /** What the table answers: the tenant's rows that pass every filter, by id; 400 for an int filter's non-integer value. */
  function expected(tenant: number, filters: { col: 'n' | 'body'; op: Op; not: boolean; value: string }[], limit: number) {
    if (filters.some((f) => f.col === 'n' && !INT.test(f.value.trim()))) return { status: 400 };
    const rows = ROWS.filter(([, t]) => t === tenant)
      .filter(([, , n, body]) => filters.every((f) => compare[f.op](f.col === 'n' ? n : body, f.col === 'n' ? Number(f.value) : f.value) !== f.not))
      .slice(0, limit)
      .map(([id]) => ({ id }));
    return { status: 200, body: rows };
  }

  it('answers as the model for random values, tenants and shapes, before and after the shape is kept', async () => {
    const textValue = fc.oneof(fc.constantFrom(...ROWS.map((r) => r[3]), 'null', 'eq.5', 'in.(1,2)', '20', "'", '\\', ')', '*'), fc.string({ maxLength: 6 }));
    const filter = fc.record({
      col: fc.constantFrom('n' as const, 'body' as const),
      op: fc.constantFrom<Op>('eq', 'neq', 'gt', 'gte', 'lt', 'lte'),
      not: fc.boolean(),
      value: fc.oneof(fc.integer({ min: -5, max: 25 }).map(String), textValue),
    }).filter((f) => f.col === 'n' || f.op === 'eq' || f.op === 'neq'); // text order is the database's collation, not JS's
    const hitsBefore = shapeCounts.hits;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1 }), fc.array(filter, { minLength: 1, maxLength: 3 }), fc.constantFrom(2, 20), async (tenant, filters, limit) => {
        const query = filters.map((f) => `${f.col}=${f.not ? 'not.' : ''}${f.op}.${encodeURIComponent(f.value)}`).join('&');
        const url = `/shaped?select=id&${query}&order=id&limit=${limit}`;
        const want = expected(tenant, filters, limit);
        for (let i = 0; i < 3; i++) {
          const got = await call(url, tenant);
          expect(got.status, url).toBe(want.status);
          if (want.status === 200) expect(got.body, url).toEqual(want.body);
        }
      }),
      { numRuns: 150 },
    );
    expect(shapeCounts.hits - hitsBefore).toBeGreaterThan(150);
  });

  it("a kept shape serves each caller under its own RLS: the other tenant's row by primary key is not found", async () => {
    const object = { accept: 'application/vnd.pgrst.object+json' };
    expect(await call('/shaped?id=eq.1', 0, object)).toMatchObject({ status: 200, body: { id: 1, body: 'a', n: 5 } });
    expect(await call('/shaped?id=eq.2', 0, object)).toMatchObject({ status: 200, body: { id: 2 } });
    expect(await call('/shaped?id=eq.3', 0, object)).toMatchObject({ status: 406 });
    expect(await call('/shaped?id=eq.3', 1, object)).toMatchObject({ status: 200, body: { id: 3, body: 'eq.5' } });
    expect(await call('/shaped?id=eq.1', 1, object)).toMatchObject({ status: 406 });
    expect(await call('/shaped?id=eq.1', 0)).toMatchObject({ status: 200, body: [{ id: 1 }] });
    expect(await call('/shaped?id=eq.4', 0)).toMatchObject({ status: 200, body: [{ id: 4 }] });
    const hits = shapeCounts.hits;
    expect(await call('/shaped?id=eq.2', 0)).toMatchObject({ status: 200, range: '0-0/*', location: '/shaped?id=eq.2' });
    expect(shapeCounts.hits).toBe(hits + 1);
    // With Prefer: count=exact the count statement is bound too.
    const counted = { prefer: 'count=exact' };
    expect(await call('/shaped?select=id&n=eq.5', 0, counted)).toMatchObject({ status: 200, body: [{ id: 1 }], range: '0-0/1' });
    expect(await call('/shaped?select=id&n=eq.7', 0, counted)).toMatchObject({ status: 200, body: [{ id: 6 }], range: '0-0/1' });
    const before = shapeCounts.hits;
    expect(await call('/shaped?select=id&n=eq.20', 0, counted)).toMatchObject({ status: 200, body: [{ id: 2 }, { id: 8 }], range: '0-1/2' });
    expect(await call('/shaped?select=id&n=eq.99', 0, counted)).toMatchObject({ status: 200, body: [], range: '*/0' });
    expect(shapeCounts.hits).toBe(before + 2);
    // A bad encoding in a shaped value is still PostgREST's 400, and an anonymous caller sees nothing.
    expect(await call('/shaped?id=eq.%C3%28', 0)).toMatchObject({ status: 400, body: { code: 'PGRST100' } });
    const anon = await inject((req, r) => rest.handle(req, r), { method: 'GET', url: '/shaped?id=eq.4' });
    expect([anon.statusCode, anon.json()]).toEqual([200, []]);
  });
});
