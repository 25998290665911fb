import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { describe, expect, it } from 'vitest';
import type { Field, Filter, ParsedQuery, SelectItem } from '../ast.ts';
import { filter, fld, parseError } from '../../test/helpers/rest-parse.ts';
import { parseAccept, parsePrefer } from './headers.ts';
import { parseColumnList, parseQuery, splitQueryString } from './query.ts';

const read = (search: string) => parseQuery(search, { rpcRead: false });
const rpcRead = (search: string) => parseQuery(search, { rpcRead: true });

const col = (name: string, extra: object = {}): SelectItem => ({ type: 'field', field: fld(name), ...extra });
const star: SelectItem = { type: 'star' };

const EMPTY: ParsedQuery = { select: [star], filters: [], logic: [], order: [], limits: [], offsets: [], rpcArgs: [] };

describe('splitQueryString', () => {
  it('decodes like URLSearchParams and tells `k` from `k=`', () => {
    expect(splitQueryString('?a=1&b=&c&&d=x%20y+z&e=%E2%9C%93&f=%zz&=v&g=a=b')).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '' },
      { key: 'c', value: undefined },
      { key: 'd', value: 'x y z' },
      { key: 'e', value: '✓' },
      { key: 'f', value: '%zz' },
      { key: '', value: 'v' },
      { key: 'g', value: 'a=b' },
    ]);
    expect(splitQueryString('')).toEqual([]);
    expect(splitQueryString('?')).toEqual([]);
    expect(splitQueryString('a%2Eb%3Dc=1')).toEqual([{ key: 'a.b=c', value: '1' }]);
  });
});

describe('parseQuery: classification (§1.2)', () => {
  it('no parameters', () => {
    expect(read('')).toEqual(EMPTY);
    expect(read('?')).toEqual(EMPTY);
  });

  it('select: first occurrence, empty or valueless means *', () => {
    expect(read('select=id&select=name').select).toEqual([col('id')]);
    expect(read('select=').select).toEqual([star]);
    expect(read('select').select).toEqual([star]);
    expect(read('select&select=id').select).toEqual([star]);
    expect(read('select=id,%20name').select).toEqual([col('id'), col('name')]);
    expect(read('select=Just%20A%20Server%20Model').select).toEqual([col('Just A Server Model')]);
  });

  it('filters with embed paths and JSON paths; repeated keys are all kept', () => {
    expect(read('id=gt.0&id=lt.6').filters).toEqual([
      { path: [], value: filter('id', 'gt', '0') },
      { path: [], value: filter('id', 'lt', '6') },
    ]);
    expect(read('projects.tasks.name=like.Design*').filters).toEqual([{ path: ['projects', 'tasks'], value: filter('name', 'like', 'Design%') }]);
    expect(read('data->foo->>bar=eq.baz').filters).toEqual([
      { path: [], value: { field: { name: 'data', jsonPath: [{ arrow: '->', key: 'foo' }, { arrow: '->>', key: 'bar' }] }, negated: false, op: 'eq', value: 'baz' } },
    ]);
    expect(read('Just%20A%20Server%20Model=like.*91*').filters).toEqual([{ path: [], value: filter('Just A Server Model', 'like', '%91%') }]);
    expect(read('projects=not.is.null').filters).toEqual([{ path: [], value: filter('projects', 'is', 'null', { negated: true }) }]);
    // A reserved name below an embed path is an ordinary filter.
    expect(read('tasks.select=eq.1').filters).toEqual([{ path: ['tasks'], value: filter('select', 'eq', '1') }]);
  });

  it('+ is a space, %2B a plus', () => {
    expect(read('name=eq.a+b%2Bc').filters).toEqual([{ path: [], value: filter('name', 'eq', 'a b+c') }]);
  });

  it('a parameter without = is ignored; an empty filter value is an error', () => {
    expect(read('id&order&limit&or')).toEqual(EMPTY);
    const err = parseError(() => read('id='));
    expect(err.code).toBe('PGRST100');
    expect(err.message).toBe('"failed to parse filter ()" (line 1, column 1)');
    expect(read('string=eq.').filters).toEqual([{ path: [], value: filter('string', 'eq', '') }]);
  });

  it('order, at the root and below embeds', () => {
    expect(read('order=id.desc&projects.tasks.order=name.asc').order).toEqual([
      { path: [], value: [{ field: fld('id'), direction: 'desc' }] },
      { path: ['projects', 'tasks'], value: [{ field: fld('name'), direction: 'asc' }] },
    ]);
    expect(read('r.order=c.desc.nullsfirst').order).toEqual([{ path: ['r'], value: [{ field: fld('c'), direction: 'desc', nulls: 'first' }] }]);
    expect(parseError(() => read('order=')).code).toBe('PGRST100');
    // Every order is parsed, the first per path wins.
    expect(read('order=a&tasks.order=b&order=c&tasks.order=d').order).toEqual([
      { path: [], value: [{ field: fld('a') }] },
      { path: ['tasks'], value: [{ field: fld('b') }] },
    ]);
    expect(parseError(() => read('order=a&order=b.up')).code).toBe('PGRST100');
  });

  it('logic trees, negated, below embeds', () => {
    const q = read('or=(id.eq.1,id.eq.2)&not.and=(a.is.null)&child_entities.or=(id.eq.1,name.eq.child entity 2)&tasks.not.and=(x.gt.1)');
    expect(q.logic).toEqual([
      { path: [], value: { type: 'logic', operator: 'or', negated: false, conditions: [filter('id', 'eq', '1'), filter('id', 'eq', '2')] } },
      { path: [], value: { type: 'logic', operator: 'and', negated: true, conditions: [filter('a', 'is', 'null')] } },
      { path: ['child_entities'], value: { type: 'logic', operator: 'or', negated: false, conditions: [filter('id', 'eq', '1'), filter('name', 'eq', 'child entity 2')] } },
      { path: ['tasks'], value: { type: 'logic', operator: 'and', negated: true, conditions: [filter('x', 'gt', '1')] } },
    ]);
    expect(q.filters).toEqual([]);
  });

  it('limit and offset: root and embedded, last wins, junk ignored', () => {
    expect(read('limit=3&offset=2')).toMatchObject({ limits: [{ path: [], value: 3 }], offsets: [{ path: [], value: 2 }] });
    expect(read('projects.limit=2&projects.tasks.offset=1&projects.tasks.limit=1')).toMatchObject({
      limits: [{ path: ['projects'], value: 2 }, { path: ['projects', 'tasks'], value: 1 }],
      offsets: [{ path: ['projects', 'tasks'], value: 1 }],
    });
    expect(read('limit=1&limit=5').limits).toEqual([{ path: [], value: 5 }]);
    expect(read('limit=&offset=&limit=abc&offset=1.5&limit=0x10')).toMatchObject({ limits: [], offsets: [] });
    expect(read('limit=0').limits).toEqual([{ path: [], value: 0 }]);
    expect(read('limit=%2010%20').limits).toEqual([{ path: [], value: 10 }]);
  });

  it('negative limit → 416 PGRST103; negative offset → 0', () => {
    const err = parseError(() => read('select=id&limit=-1'));
    expect(err.status).toBe(416);
    expect(err.body).toEqual({ code: 'PGRST103', details: 'Limit should be greater than or equal to zero.', hint: null, message: 'Requested range not satisfiable' });
    expect(read('offset=-4').offsets).toEqual([{ path: [], value: 0 }]);
  });

  it('columns and on_conflict: quoted names allowed, first occurrence', () => {
    expect(read('columns=%22a%22%2C%22b%22').columns).toEqual(['a', 'b']);
    expect(read('columns=id,body').columns).toEqual(['id', 'body']);
    expect(read('columns=id,name,field-with_sep,arr_data').columns).toEqual(['id', 'name', 'field-with_sep', 'arr_data']);
    expect(read('columns=a&columns=b').columns).toEqual(['a']);
    expect(read('columns')).toEqual(EMPTY);
    expect(read('on_conflict=unique_key').onConflict).toEqual(['unique_key']);
    expect(read('on_conflict=key1,%20key2').onConflict).toEqual(['key1', 'key2']);
    expect(read('columns="a\\"b",%22c,d%22').columns).toEqual(['a"b', 'c,d']);
    const err = parseError(() => read('columns='));
    expect(err.message).toBe('"failed to parse columns parameter ()" (line 1, column 1)');
    expect(err.details).toBe('unexpected end of input expecting field name (* or [a..z0..9_$])');
    expect(parseError(() => read('on_conflict=')).message).toBe('"failed to parse on_conflict parameter ()" (line 1, column 1)');
    for (const bad of ['a,', ',a', 'a,,b', 'a)', '"a']) expect(parseError(() => parseColumnList('columns', bad)).code).toBe('PGRST100');
  });

  it('reports errors in PostgREST order: order, logic, columns, select, filters, on_conflict, limits', () => {
    const msg = (q: string) => parseError(() => read(q)).message;
    expect(msg('id=0&select=(&columns=&or=x&order=.&limit=-1')).toContain('failed to parse order');
    expect(msg('id=0&select=(&columns=&or=x&limit=-1')).toContain('failed to parse logic tree');
    expect(msg('id=0&select=(&columns=&limit=-1')).toContain('failed to parse columns parameter');
    expect(msg('id=0&select=(&limit=-1')).toContain('failed to parse select parameter');
    expect(msg('on_conflict=&id=0&limit=-1')).toContain('failed to parse filter');
    expect(msg('on_conflict=&limit=-1')).toContain('failed to parse on_conflict');
  });

  it('malformed keys are PGRST100', () => {
    for (const q of ['a..b=eq.1', '=eq.1', 'a!=eq.1', 'x!.or=(a.eq.1)', '..order=id', 'a.b..limit=1']) {
      expect(parseError(() => read(q)).code).toBe('PGRST100');
    }
  });
});

describe('parseQuery: GET /rpc arguments (§5.1)', () => {
  it('non-operator values are arguments, in order, repeats kept; operator values are filters', () => {
    expect(rpcRead('a=1&b=2').rpcArgs).toEqual([['a', '1'], ['b', '2']]);
    const q = rpcRead('id=5&id=gt.2&select=id');
    expect(q.rpcArgs).toEqual([['id', '5']]);
    expect(q.filters).toEqual([{ path: [], value: filter('id', 'gt', '2') }]);
    expect(q.select).toEqual([col('id')]);
    expect(rpcRead('name=ignored&name=world').rpcArgs).toEqual([['name', 'ignored'], ['name', 'world']]);
    expect(rpcRead('v=hi&v=there').rpcArgs).toEqual([['v', 'hi'], ['v', 'there']]);
    expect(rpcRead('a=&b=eq').rpcArgs).toEqual([['a', ''], ['b', 'eq']]);
    expect(rpcRead('arr=%7B1%2C2%7D&s=hello+world').rpcArgs).toEqual([['arr', '{1,2}'], ['s', 'hello world']]);
  });

  it('reserved parameters are never arguments', () => {
    const q = rpcRead('min=2&max=4&limit=1&offset=1&order=id&select=id');
    expect(q.rpcArgs).toEqual([['min', '2'], ['max', '4']]);
    expect(q).toMatchObject({ limits: [{ path: [], value: 1 }], offsets: [{ path: [], value: 1 }] });
  });

  it('values that commit to an operator and fail are still errors', () => {
    expect(parseError(() => rpcRead('name=not.sure')).code).toBe('PGRST100');
    expect(parseError(() => rpcRead('name=in.x')).code).toBe('PGRST100');
  });

  it('outside GET /rpc, every parameter must be a filter', () => {
    expect(parseError(() => read('name=John')).code).toBe('PGRST100');
  });
});

describe('parseQuery: conformance cases (§9)', () => {
  it('A. reads and filters', () => {
    expect(read('id=eq.5').filters[0].value).toEqual(filter('id', 'eq', '5'));
    expect(read('id=not.eq.5&order=id')).toMatchObject({ filters: [{ value: filter('id', 'eq', '5', { negated: true }) }], order: [{ value: [{ field: fld('id') }] }] });
    expect(read('id=in.(1,3,5)').filters[0].value.value).toEqual(['1', '3', '5']);
    expect(read('id=not.in.(2,4,6,7,8,9,10,11,12,13,14,15)').filters[0].value).toMatchObject({ negated: true, op: 'in' });
    expect(read('a=is.not_null').filters[0].value).toEqual(filter('a', 'is', 'not_null'));
    expect(read('done=is.FAlSe').filters[0].value.value).toBe('false');
    expect(read('done=is.UnKnOwN').filters[0].value.value).toBe('unknown');
    expect(parseError(() => read('done=is.nil')).code).toBe('PGRST100');
    expect(read('k=imatch..*YY.*&order=extra.asc').filters[0].value).toEqual(filter('k', 'imatch', '.*YY.*'));
    expect(read('select=id&arr_data=cs.{2}').filters[0].value).toEqual(filter('arr_data', 'cs', '{2}'));
    expect(read('select=a&a=not.isdistinct.2').filters[0].value).toEqual(filter('a', 'isdistinct', '2', { negated: true }));
    expect(read('id=gt(all).{4,3}').filters[0].value).toEqual(filter('id', 'gt', '{4,3}', { quantifier: 'all' }));
    expect(read('body=like(any).{%plan%,%brain%}&select=id').filters[0].value).toEqual(filter('body', 'like', '{%plan%,%brain%}', { quantifier: 'any' }));
    expect(read('body=imatch(any).{stop,thing}&select=id').filters[0].value).toEqual(filter('body', 'imatch', '{stop,thing}', { quantifier: 'any' }));
    expect(read('name=in.("Hebdon, John","Williams, Mary","Smith, Joseph")').filters[0].value.value).toEqual(['Hebdon, John', 'Williams, Mary', 'Smith, Joseph']);
    expect(read('name=in.(%22Double%5C%22Quote%5C%22McGraw%5C%22%22)').filters[0].value.value).toEqual(['Double"Quote"McGraw"']);
    expect(read('name=in.()').filters[0].value.value).toEqual([]);
    expect(read('select=id,field-with_sep').select).toEqual([col('id'), col('field-with_sep')]);
    expect(read('select=myId:id::text&id=eq.1').select).toEqual([col('id', { alias: 'myId', cast: 'text' })]);
    expect(read('select=id::fakecolumntype').select).toEqual([col('id', { cast: 'fakecolumntype' })]);
    expect(read('id=eq.1&select=settings->>foo::json').select).toEqual([
      { type: 'field', field: { name: 'settings', jsonPath: [{ arrow: '->>', key: 'foo' }] }, cast: 'json' },
    ]);
    expect(read('select=myInt:settings->foo->>int::integer').select).toEqual([
      { type: 'field', field: { name: 'settings', jsonPath: [{ arrow: '->', key: 'foo' }, { arrow: '->>', key: 'int' }] }, alias: 'myInt', cast: 'integer' },
    ]);
    expect(read('order=data->>id.asc').order[0].value).toEqual([{ field: { name: 'data', jsonPath: [{ arrow: '->>', key: 'id' }] }, direction: 'asc' }]);
    expect(read('select=data->>0::int&id=in.(1,2)').select).toEqual([{ type: 'field', field: { name: 'data', jsonPath: [{ arrow: '->>', key: 0 }] }, cast: 'int' }]);
    expect(read('select=data->>-1::int').select).toEqual([{ type: 'field', field: { name: 'data', jsonPath: [{ arrow: '->>', key: -1 }] }, cast: 'int' }]);
    expect(read('or=(and(name.eq.entity 2,id.eq.2),and(name.eq.entity 1,id.eq.1))&select=id').logic).toHaveLength(1);
    expect(read('and=(name.is.null,arr.is.null)').logic[0].value.conditions).toHaveLength(2);
    expect(read('or=(name.eq.%22(grandchild,entity,4)%22,name.eq.%22(grandchild,entity,5)%22)&select=id').logic[0].value.conditions).toEqual([
      filter('name', 'eq', '(grandchild,entity,4)'),
      filter('name', 'eq', '(grandchild,entity,5)'),
    ]);
    expect(read('range=adj.(3,10]').filters[0].value).toEqual(filter('range', 'adj', '(3,10]'));
    expect(read('order=a.nullsfirst').order[0].value).toEqual([{ field: fld('a'), nulls: 'first' }]);
    expect(read('select=client_id,id,name&order=client_id.desc.nullslast,id.desc').order[0].value).toHaveLength(2);
    const nullslasttt = parseError(() => read('order=id.asc.nullslasttt'));
    expect(nullslasttt.message).toBe('"failed to parse order (id.asc.nullslasttt)" (line 1, column 17)');
    expect(nullslasttt.details).toBe(`unexpected 't' expecting "," or end of input`);
    expect(read('b=eq.1&a=eq.1').filters.map((x) => x.value.field.name)).toEqual(['b', 'a']);
    expect(read('id=eq.1&select=id,always_true').select).toEqual([col('id'), col('always_true')]);
    const zero = parseError(() => read('id=0'));
    expect(zero.message).toBe('"failed to parse filter (0)" (line 1, column 1)');
    expect(zero.details).toBe('unexpected "0" expecting "not" or operator (eq, gt, ...)');
    const emptyOr = parseError(() => read('or=()'));
    expect(emptyOr.message).toBe('"failed to parse logic tree (())" (line 1, column 4)');
    expect(emptyOr.details).toBe('unexpected ")" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)');
  });

  it('B. embedding', () => {
    expect(read('id=eq.1&select=id, name, clients(*), tasks(id, name)').select).toEqual([
      col('id'),
      col('name'),
      { type: 'embed', name: 'clients', spread: false, select: [star] },
      { type: 'embed', name: 'tasks', spread: false, select: [col('id'), col('name')] },
    ]);
    expect(read('select=id,clients!inner(id)&clients.id=eq.2')).toMatchObject({
      select: [col('id'), { type: 'embed', name: 'clients', joinType: 'inner', select: [col('id')] }],
      filters: [{ path: ['clients'], value: filter('id', 'eq', '2') }],
    });
    expect(read('select=id,name,clients!inner()&clients.id=eq.2').select[2]).toEqual({ type: 'embed', name: 'clients', spread: false, joinType: 'inner', select: [] });
    expect(read('select=id,clients(id)&clients.name=not.is.null&clients=not.is.null').filters).toEqual([
      { path: ['clients'], value: filter('name', 'is', 'null', { negated: true }) },
      { path: [], value: filter('clients', 'is', 'null', { negated: true }) },
    ]);
    const q = read('select=id,projects(id,tasks(id))&order=id.asc&limit=1&projects.order=id.asc&projects.limit=2&projects.tasks.order=id.asc&projects.tasks.limit=1');
    expect(q.order.map((o) => o.path)).toEqual([[], ['projects'], ['projects', 'tasks']]);
    expect(q.limits).toEqual([{ path: [], value: 1 }, { path: ['projects'], value: 2 }, { path: ['projects', 'tasks'], value: 1 }]);
    expect(read('select=id,designTasks:tasks(id,name),codeTasks:tasks(id,name)&designTasks.name=like.*Design*').filters[0]).toEqual({
      path: ['designTasks'],
      value: filter('name', 'like', '%Design%'),
    });
    expect(read('select=id,...clients(client_name:name)').select[1]).toEqual({ type: 'embed', name: 'clients', spread: true, select: [col('name', { alias: 'client_name' })] });
    expect(read('select=name,capital!country_id(name)').select[1]).toMatchObject({ name: 'capital', hint: 'country_id' });
  });

  it('C/D/E. mutations', () => {
    expect(read('columns=id,body').columns).toEqual(['id', 'body']);
    expect(read('on_conflict=unique_key').onConflict).toEqual(['unique_key']);
    expect(read('id=eq.1&columns=body').columns).toEqual(['body']);
    expect(read('order=a.desc').order[0].value).toEqual([{ field: fld('a'), direction: 'desc' }]);
    expect(read('select=name,tasks(name,project:projects(name))').select).toHaveLength(2);
  });

  it('G. rpc', () => {
    expect(rpcRead('min=2&max=4').rpcArgs).toEqual([['min', '2'], ['max', '4']]);
    expect(rpcRead('a=1&b=2&smthelse=blabla').rpcArgs).toEqual([['a', '1'], ['b', '2'], ['smthelse', 'blabla']]);
    const q = rpcRead('id=gt.1&id=lt.5&select=id&limit=2&offset=1');
    expect(q.rpcArgs).toEqual([]);
    expect(q.filters).toHaveLength(2);
    expect(rpcRead('id=1&select=id,name,client:clients(id),tasks(id)').rpcArgs).toEqual([['id', '1']]);
    expect(rpcRead('id=eq.2&select=id').filters).toEqual([{ path: [], value: filter('id', 'eq', '2') }]);
    expect(parseError(() => read('name=John')).code).toBe('PGRST100');
  });

  it('H. limits', () => {
    expect(read('select=id&order=id.asc&limit=3&offset=2')).toMatchObject({ limits: [{ value: 3 }], offsets: [{ value: 2 }] });
    expect(read('select=id&limit=0').limits).toEqual([{ path: [], value: 0 }]);
    expect(parseError(() => read('select=id&limit=-1')).status).toBe(416);
    expect(read('offset=-4').offsets).toEqual([{ path: [], value: 0 }]);
  });
});

describe('parseQuery: what @supabase/postgrest-js sends (§10)', () => {
  interface Call {
    method: string;
    url: URL;
    headers: Headers;
  }
  // Untyped schema, PostgREST 13 features (maxAffected) enabled.
  type Db = SupabaseClient<any, 'public', 'public', any, { PostgrestVersion: '13' }>;

  async function capture(run: (db: Db) => PromiseLike<unknown>): Promise<Call> {
    let call: Call | undefined;
    const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      call = { method: init?.method ?? 'GET', url: new URL(String(input)), headers: new Headers(init?.headers) };
      return new Response('[]', { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const db = createClient('http://localhost:54321', 'anon-key', { global: { fetch }, auth: { persistSession: false, autoRefreshToken: false } }) as unknown as Db;
    await run(db);
    if (!call) throw new Error('no request');
    return call;
  }

  /** Parses a captured request exactly as the engine will. */
  async function parsed(run: (db: Db) => PromiseLike<unknown>) {
    const call = await capture(run);
    const isRpc = call.url.pathname.includes('/rpc/');
    return {
      call,
      query: parseQuery(call.url.search, { rpcRead: isRpc && (call.method === 'GET' || call.method === 'HEAD') }),
      prefer: parsePrefer(call.headers.get('prefer') ?? undefined),
      accept: parseAccept(call.headers.get('accept') ?? undefined),
    };
  }

  it('select with whitespace, embeds, count and head', async () => {
    const { query } = await parsed((db) => db.from('t').select('id, name, clients(*)'));
    expect(query.select).toEqual([col('id'), col('name'), { type: 'embed', name: 'clients', spread: false, select: [star] }]);
    const counted = await parsed((db) => db.from('t').select('*', { count: 'exact', head: true }));
    expect(counted.call.method).toBe('HEAD');
    expect(counted.query.select).toEqual([star]);
    expect(counted.prefer).toEqual({ count: 'exact', invalid: [] });
    const complex = await parsed((db) => db.from('t').select('id, "quoted col", alias:data->a->>b::text, total:amount.sum(), ...rel!fk!inner(x), other:o!left(*), count()'));
    expect(complex.query.select).toEqual([
      col('id'),
      col('quoted col'),
      { type: 'field', field: { name: 'data', jsonPath: [{ arrow: '->', key: 'a' }, { arrow: '->>', key: 'b' }] }, alias: 'alias', cast: 'text' },
      col('amount', { alias: 'total', aggregate: { fn: 'sum' } }),
      { type: 'embed', name: 'rel', spread: true, hint: 'fk', joinType: 'inner', select: [col('x')] },
      { type: 'embed', name: 'o', alias: 'other', spread: false, joinType: 'left', select: [star] },
      { type: 'count' },
    ]);
  });

  it('insert / upsert / update / delete', async () => {
    const bulk = await parsed((db) => db.from('t').insert([{ a: 1 }, { b: 2 }], { defaultToNull: false }).select());
    expect(bulk.call.method).toBe('POST');
    expect(bulk.query.columns).toEqual(['a', 'b']);
    expect(bulk.query.select).toEqual([star]);
    expect(bulk.prefer).toEqual({ return: 'representation', missing: 'default', invalid: [] });
    const counted = await parsed((db) => db.from('t').insert({ a: 1 }, { count: 'exact' }).select());
    expect(counted.prefer).toEqual({ count: 'exact', return: 'representation', invalid: [] });
    const upsert = await parsed((db) => db.from('t').upsert({ username: 'x' }, { onConflict: 'username', ignoreDuplicates: true }).select());
    expect(upsert.query.onConflict).toEqual(['username']);
    expect(upsert.prefer).toEqual({ resolution: 'ignore-duplicates', return: 'representation', invalid: [] });
    const multiConflict = await parsed((db) => db.from('t').upsert([{ a: 1, b: 2 }], { onConflict: 'a, b' }));
    expect(multiConflict.query.onConflict).toEqual(['a', 'b']);
    expect(multiConflict.query.columns).toEqual(['a', 'b']);
    expect(multiConflict.prefer.resolution).toBe('merge-duplicates');
    const update = await parsed((db) => db.from('t').update({ a: 1 }).eq('id', 1).select());
    expect(update.call.method).toBe('PATCH');
    expect(update.query.filters).toEqual([{ path: [], value: filter('id', 'eq', '1') }]);
    const del = await parsed((db) => db.from('t').delete({ count: 'exact' }).eq('id', 1).select().maxAffected(10));
    expect(del.call.method).toBe('DELETE');
    expect(del.prefer).toEqual({ count: 'exact', return: 'representation', handling: 'strict', maxAffected: 10, invalid: [] });
    const rollback = await parsed((db) => db.from('t').insert({ a: 1 }).select().rollback());
    expect(rollback.prefer.tx).toBe('rollback');
  });

  it('every filter builder', async () => {
    const { query } = await parsed((db) =>
      db
        .from('t')
        .select()
        .eq('a', 'x y')
        .neq('b', 1)
        .gt('c', 1)
        .gte('d', 1)
        .lt('e', 1)
        .lte('f', 1)
        .like('g', '%a*b%')
        .ilike('h', 'A%')
        .is('i', null)
        .isDistinct('j', 2)
        .match({ k: 1, l: 'two' })
        .regexMatch('m', '^a.b$')
        .regexIMatch('n', '^A')
        .in('o', ['Hebdon, John', 'plain', 'a(b)', 'q"uote', 3])
        .notIn('p', [1, 2])
        .likeAllOf('q', ['%a%', '%b%'])
        .ilikeAnyOf('r', ['%c%'])
        .contains('s', [1, 2])
        .contains('s2', '{3}')
        .contains('s3', { a: 1 })
        .containedBy('u', ['x', 'y'])
        .rangeGt('v', '[2,4]')
        .rangeGte('w', '[2,4]')
        .rangeLt('x', '[2,4]')
        .rangeLte('y', '[2,4]')
        .rangeAdjacent('z', '(3,10]')
        .overlaps('aa', [1, 2])
        .textSearch('bb', "'fat' & 'cat'", { config: 'english', type: 'websearch' })
        .textSearch('cc', 'cat', { type: 'plain' })
        .textSearch('dd', 'fat cat', { type: 'phrase' })
        .textSearch('ee', 'fat')
        .not('ff', 'is', null)
        .not('gg', 'in', '(1,2)')
        .filter('hh', 'in', '(a,b)')
        .is('ii', true)
        .eq('jj', ''),
    );
    expect(query.filters.map((x) => x.value)).toEqual([
      filter('a', 'eq', 'x y'),
      filter('b', 'neq', '1'),
      filter('c', 'gt', '1'),
      filter('d', 'gte', '1'),
      filter('e', 'lt', '1'),
      filter('f', 'lte', '1'),
      filter('g', 'like', '%a%b%'),
      filter('h', 'ilike', 'A%'),
      filter('i', 'is', 'null'),
      filter('j', 'isdistinct', '2'),
      filter('k', 'eq', '1'),
      filter('l', 'eq', 'two'),
      filter('m', 'match', '^a.b$'),
      filter('n', 'imatch', '^A'),
      filter('o', 'in', ['Hebdon, John', 'plain', 'a(b)', 'q"uote', '3']),
      filter('p', 'in', ['1', '2'], { negated: true }),
      filter('q', 'like', '{%a%,%b%}', { quantifier: 'all' }),
      filter('r', 'ilike', '{%c%}', { quantifier: 'any' }),
      filter('s', 'cs', '{1,2}'),
      filter('s2', 'cs', '{3}'),
      filter('s3', 'cs', '{"a":1}'),
      filter('u', 'cd', '{x,y}'),
      filter('v', 'sr', '[2,4]'),
      filter('w', 'nxl', '[2,4]'),
      filter('x', 'sl', '[2,4]'),
      filter('y', 'nxr', '[2,4]'),
      filter('z', 'adj', '(3,10]'),
      filter('aa', 'ov', '{1,2}'),
      filter('bb', 'wfts', "'fat' & 'cat'", { language: 'english' }),
      filter('cc', 'plfts', 'cat'),
      filter('dd', 'phfts', 'fat cat'),
      filter('ee', 'fts', 'fat'),
      filter('ff', 'is', 'null', { negated: true }),
      filter('gg', 'in', ['1', '2'], { negated: true }),
      filter('hh', 'in', ['a', 'b']),
      filter('ii', 'is', 'true'),
      filter('jj', 'eq', ''),
    ]);
  });

  it('or / order / limit / range, at the root and on referenced tables', async () => {
    const { query } = await parsed((db) =>
      db
        .from('t')
        .select('id, r(c, d)')
        .or('a.eq.1,b.eq.2')
        .or('c.in.(1,2),and(d.gt.1,e.is.null)', { referencedTable: 'r' })
        .order('c', { ascending: false, nullsFirst: true, referencedTable: 'r' })
        .order('d', { referencedTable: 'r' })
        .order('id')
        .order('data->x', { ascending: true, nullsFirst: false })
        .limit(5, { referencedTable: 'r' })
        .range(2, 5),
    );
    expect(query.logic).toEqual([
      { path: [], value: { type: 'logic', operator: 'or', negated: false, conditions: [filter('a', 'eq', '1'), filter('b', 'eq', '2')] } },
      {
        path: ['r'],
        value: {
          type: 'logic',
          operator: 'or',
          negated: false,
          conditions: [filter('c', 'in', ['1', '2']), { type: 'logic', operator: 'and', negated: false, conditions: [filter('d', 'gt', '1'), filter('e', 'is', 'null')] }],
        },
      },
    ]);
    expect(query.order).toEqual([
      { path: ['r'], value: [{ field: fld('c'), direction: 'desc', nulls: 'first' }, { field: fld('d'), direction: 'asc' }] },
      {
        path: [],
        value: [
          { field: fld('id'), direction: 'asc' },
          { field: { name: 'data', jsonPath: [{ arrow: '->', key: 'x' }] }, direction: 'asc', nulls: 'last' },
        ],
      },
    ]);
    expect(query.limits).toEqual([{ path: ['r'], value: 5 }, { path: [], value: 4 }]);
    expect(query.offsets).toEqual([{ path: [], value: 2 }]);
  });

  it('rpc: POST, GET with args, HEAD with count, chained filters', async () => {
    const post = await parsed((db) => db.rpc('f', { a: 1 }));
    expect(post.call.method).toBe('POST');
    expect(post.query).toEqual(EMPTY);
    const get = await parsed((db) => db.rpc('f', { a: 1, arr: [1, 2], s: 'hello world', t: 'a,b(c)', u: undefined }, { get: true }));
    expect(get.call.method).toBe('GET');
    expect(get.query.rpcArgs).toEqual([['a', '1'], ['arr', '{1,2}'], ['s', 'hello world'], ['t', 'a,b(c)']]);
    const head = await parsed((db) => db.rpc('f', { a: 1 }, { head: true, count: 'exact' }));
    expect(head.call.method).toBe('HEAD');
    expect(head.query.rpcArgs).toEqual([['a', '1']]);
    expect(head.prefer.count).toBe('exact');
    const chained = await parsed((db) => db.rpc('f', { a: 1 }).select('id').eq('x', 1).order('id').limit(2));
    expect(chained.query).toMatchObject({ select: [col('id')], filters: [{ path: [], value: filter('x', 'eq', '1') }], limits: [{ path: [], value: 2 }] });
  });

  it('Accept variants: single, csv, geojson, explain, stripNulls', async () => {
    expect((await parsed((db) => db.from('t').select().single())).accept).toEqual([{ type: 'application/vnd.pgrst.object+json', params: {}, q: 1 }]);
    expect((await parsed((db) => db.from('t').select().csv())).accept).toEqual([{ type: 'text/csv', params: {}, q: 1 }]);
    expect((await parsed((db) => db.from('t').select().geojson())).accept).toEqual([{ type: 'application/geo+json', params: {}, q: 1 }]);
    expect((await parsed((db) => db.from('t').select().explain({ analyze: true, verbose: true, format: 'json' }))).accept).toEqual([
      { type: 'application/vnd.pgrst.plan+json', params: { for: 'application/json', options: 'analyze|verbose' }, q: 1 },
    ]);
    expect((await parsed((db) => db.from('t').select().explain())).accept).toEqual([
      { type: 'application/vnd.pgrst.plan+text', params: { for: 'application/json', options: '' }, q: 1 },
    ]);
    expect((await parsed((db) => db.from('t').select().single().stripNulls())).accept).toEqual([
      { type: 'application/vnd.pgrst.object+json', params: { nulls: 'stripped' }, q: 1 },
    ]);
  });
});
