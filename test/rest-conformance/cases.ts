/**
 * The PostgREST v13 conformance cases of docs/postgrest.md §9 as data, over the
 * fixtures in ./fixtures.sql. Each case is one HTTP request (after optional `setup` requests)
 * and what PostgREST answers: status, body, headers. conformance.test.ts sends them to our REST
 * engine or to a real PostgREST.
 *
 * Conventions:
 * - `path` is relative to the REST root (`/rest/v1` on our stack, `/` on PostgREST).
 * - `role` is the JWT `role` claim (default `anon`); `claims` replaces the whole JWT payload;
 *   `authorization` sends that raw Authorization header instead (`null`: none at all); `${token}`
 *   in it (and in a string `expect.body`) stands for the case's signed JWT.
 *   `authenticated` plays the official suite's `postgrest_test_author`.
 * - A string `body` is sent as is; anything else as JSON (Content-Type defaults to application/json).
 * - `expect.body` is compared as JSON (deep equality), or as text when written `{ text }`;
 *   `expect.bodyMatch` is a partial object; `expect.headers` is a case-insensitive subset where
 *   `null` means "absent" and an array lists every value (Set-Cookie).
 * - `known` marks a case our engine or stack knowingly fails; the suite expects it to fail there
 *   (and to pass against a real PostgREST).
 */

export interface RequestSpec {
  /** Any token method (PROPFIND tests PGRST117). */
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | 'PROPFIND';
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** JWT role claim; default `anon`. */
  role?: string;
  /** The complete JWT payload (instead of `{ role }`). */
  claims?: Record<string, unknown>;
  /** Raw Authorization header value, or null to send none. */
  authorization?: string | null;
}

export interface Expectation {
  status: number;
  statusText?: string;
  /** JSON deep-equal, or `{ text }` for an exact text body (`{ text: '' }`: empty). */
  body?: unknown;
  /** Partial-object match of the JSON body. */
  bodyMatch?: unknown;
  /** Case-insensitive subset; null = header absent; array = all values (Set-Cookie). */
  headers?: Record<string, string | string[] | null>;
}

export interface ConformanceCase extends RequestSpec {
  /** Section letter + §9 case number (+ suffix), e.g. `A3b`. */
  id: string;
  title: string;
  /** Requests sent first (their responses are not checked). */
  setup?: RequestSpec[];
  expect: Expectation;
  /** Why our stack does not satisfy this case yet. */
  known?: string;
}

const JSON_CT = 'application/json; charset=utf-8';
const OBJECT_CT = 'application/vnd.pgrst.object+json; charset=utf-8';
const CSV_CT = 'text/csv; charset=utf-8';
const ct = { 'content-type': JSON_CT };
const repr = { Prefer: 'return=representation' };
const single = { Accept: 'application/vnd.pgrst.object+json' };
const ids = (...n: number[]) => n.map((id) => ({ id }));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const err = (code: string, message: string, details: unknown = null, hint: string | null = null) => ({ code, details, hint, message });

const PROJECTS = [
  { id: 1, name: 'Windows 7', client_id: 1 },
  { id: 2, name: 'Windows 10', client_id: 1 },
  { id: 3, name: 'IOS', client_id: 2 },
  { id: 4, name: 'OSX', client_id: 2 },
  { id: 5, name: 'Orphan', client_id: null },
];
const MENAGERIE = { double: 3.14159, varchar: 'testing!', boolean: false, date: '1900-01-01', money: '$3.99', enum: 'foo' };
const FAR_FUTURE = 9999999999;

/** Known gaps of the stack that are not REST engine bugs. */
const GATEWAY_CORS = 'CORS is answered by the gateway with the Supabase-style edge policy, not PostgREST’s';

/** Known REST engine bugs (file/function where the fix belongs). */
const BUG = {
  computedUnnamed: 'engine: computed columns whose argument is unnamed are not found (rest/model-build.ts drops unnamed-arg functions; query-builder computedColumn looks only there)',
  pkOnlyUpsert: 'engine: merge-duplicates on a table whose columns are all PK columns becomes DO NOTHING (rest/engine.ts insert), so existing rows are not returned',
  putStatus: 'engine: PUT status — 200 when the row was updated (mutate checks prefs.resolution, which PUT does not set), 204 without representation (successStatus 201 is kept)',
  rpcRange: 'engine: RPC Content-Range ignores offset (rest/rpc.ts callFunction always starts at 0)',
  rpcScalarCount: 'engine: count=exact is not computed for scalar functions (rest/rpc.ts callFunction), Content-Range 0-0/* instead of 0-0/1',
  deferred: 'engine: Prefer tx=rollback rolls back without SET CONSTRAINTS ALL IMMEDIATE, so deferred violations are never raised (db/request-context.ts withRequestContext)',
};

// ----------------------------------------------------------------------------------- A. read

const A: ConformanceCase[] = [
  { id: 'A1', title: 'eq filter', method: 'GET', path: '/items?id=eq.5', expect: { status: 200, body: [{ id: 5 }], headers: { ...ct, 'content-range': '0-0/*' } } },
  { id: 'A2', title: 'not.eq with order', method: 'GET', path: '/items?id=not.eq.5&order=id', expect: { status: 200, body: ids(1, 2, 3, 4, ...range(6, 15)), headers: { 'content-range': '0-13/*' } } },
  { id: 'A3a', title: 'in list', method: 'GET', path: '/items?id=in.(1,3,5)', expect: { status: 200, body: ids(1, 3, 5), headers: { 'content-range': '0-2/*' } } },
  { id: 'A3b', title: 'not.in list', method: 'GET', path: '/items?id=not.in.(2,4,6,7,8,9,10,11,12,13,14,15)', expect: { status: 200, body: ids(1, 3, 5), headers: { 'content-range': '0-2/*' } } },
  { id: 'A4a', title: 'is.null', method: 'GET', path: '/no_pk?a=is.null', expect: { status: 200, body: [{ a: null, b: null }] } },
  { id: 'A4b', title: 'not.is.null', method: 'GET', path: '/no_pk?a=not.is.null', expect: { status: 200, body: [{ a: '1', b: '0' }, { a: '2', b: '0' }] } },
  { id: 'A4c', title: 'is.not_null (v13)', method: 'GET', path: '/no_pk?a=is.not_null', expect: { status: 200, body: [{ a: '1', b: '0' }, { a: '2', b: '0' }] } },
  { id: 'A5a', title: 'is.true', method: 'GET', path: '/chores?done=is.true', expect: { status: 200, body: [{ id: 1, name: 'take out the garbage', done: true }] } },
  { id: 'A5b', title: 'is.FAlSe (case-insensitive)', method: 'GET', path: '/chores?done=is.FAlSe', expect: { status: 200, body: [{ id: 2, name: 'do the laundry', done: false }] } },
  { id: 'A5c', title: 'is.UnKnOwN', method: 'GET', path: '/chores?done=is.UnKnOwN', expect: { status: 200, body: [{ id: 3, name: 'wash the dishes', done: null }] } },
  { id: 'A5d', title: 'is.nil is a parse error', method: 'GET', path: '/chores?done=is.nil', expect: { status: 400, bodyMatch: { code: 'PGRST100' } } },
  { id: 'A6a', title: 'like with *', method: 'GET', path: '/simple_pk?k=like.*yx', expect: { status: 200, body: [{ k: 'xyyx', extra: 'u' }] } },
  { id: 'A6b', title: 'ilike', method: 'GET', path: '/simple_pk?k=ilike.xy*&order=extra.asc', expect: { status: 200, body: [{ k: 'xyyx', extra: 'u' }, { k: 'xYYx', extra: 'v' }] } },
  { id: 'A6c', title: 'match', method: 'GET', path: '/simple_pk?k=match.^xy', expect: { status: 200, body: [{ k: 'xyyx', extra: 'u' }] } },
  { id: 'A6d', title: 'imatch', method: 'GET', path: '/simple_pk?k=imatch..*YY.*&order=extra.asc', expect: { status: 200, body: [{ k: 'xyyx', extra: 'u' }, { k: 'xYYx', extra: 'v' }] } },
  {
    id: 'A7', title: 'CSV output (media type parameters ignored)', method: 'GET', path: '/simple_pk', headers: { Accept: 'text/csv; version=1' },
    expect: { status: 200, body: { text: 'k,extra\nxyyx,u\nxYYx,v' }, headers: { 'content-type': CSV_CT, 'content-length': '21' } },
  },
  { id: 'A8a', title: 'cs on arrays', method: 'GET', path: '/complex_items?select=id&arr_data=cs.{2}', expect: { status: 200, body: ids(2, 3) } },
  { id: 'A8b', title: 'cd on arrays', method: 'GET', path: '/complex_items?select=id&arr_data=cd.{1,2,4}', expect: { status: 200, body: ids(1, 2) } },
  { id: 'A9a', title: 'isdistinct', method: 'GET', path: '/no_pk?select=a&a=isdistinct.2', expect: { status: 200, body: [{ a: null }, { a: '1' }] } },
  { id: 'A9b', title: 'not.isdistinct', method: 'GET', path: '/no_pk?select=a&a=not.isdistinct.2', expect: { status: 200, body: [{ a: '2' }] } },
  { id: 'A10a', title: 'eq(any)', method: 'GET', path: '/projects?id=eq(any).{3,4,5}', expect: { status: 200, body: PROJECTS.slice(2) } },
  { id: 'A10b', title: 'gt(all)', method: 'GET', path: '/projects?id=gt(all).{4,3}', expect: { status: 200, body: [PROJECTS[4]] } },
  { id: 'A11a', title: 'like(any)', method: 'GET', path: '/articles?body=like(any).{%25plan%25,%25brain%25}&select=id', expect: { status: 200, body: ids(1, 2) } },
  { id: 'A11b', title: 'imatch(any)', method: 'GET', path: '/articles?body=imatch(any).{stop,thing}&select=id', expect: { status: 200, body: ids(1, 2) } },
  {
    id: 'A12a', title: 'in with quoted values containing commas', method: 'GET', path: '/w_or_wo_comma_names?name=in.("Hebdon, John","Williams, Mary","Smith, Joseph")',
    expect: { status: 200, body: [{ name: 'Hebdon, John' }, { name: 'Williams, Mary' }, { name: 'Smith, Joseph' }] },
  },
  {
    id: 'A12b', title: 'in with escaped double quotes', method: 'GET', path: '/w_or_wo_comma_names?name=in.(%22Double%5C%22Quote%5C%22McGraw%5C%22%22)',
    expect: { status: 200, body: [{ name: 'Double"Quote"McGraw"' }] },
  },
  { id: 'A12c', title: 'in.() matches nothing', method: 'GET', path: '/w_or_wo_comma_names?name=in.()', expect: { status: 200, body: [] } },
  {
    id: 'A13a', title: 'json, array and dashed columns', method: 'GET', path: '/complex_items?id=eq.3',
    expect: { status: 200, body: [{ id: 3, name: 'Three', settings: { foo: { int: 1, bar: 'baz' } }, arr_data: [1, 2, 3], 'field-with_sep': 3 }] },
  },
  { id: 'A13b', title: 'select a dashed column', method: 'GET', path: '/complex_items?select=id,field-with_sep&id=eq.1', expect: { status: 200, body: [{ id: 1, 'field-with_sep': 1 }] } },
  { id: 'A13c', title: 'alias and cast', method: 'GET', path: '/complex_items?select=myId:id::text&id=eq.1', expect: { status: 200, body: [{ myId: '1' }] } },
  {
    id: 'A14', title: 'cast to an unknown type', method: 'GET', path: '/complex_items?select=id::fakecolumntype',
    expect: { status: 400, body: err('42704', 'type "fakecolumntype" does not exist') },
  },
  { id: 'A15a', title: 'json path ->> with cast to json', method: 'GET', path: '/complex_items?id=eq.1&select=settings->>foo::json', expect: { status: 200, body: [{ foo: { int: 1, bar: 'baz' } }] } },
  { id: 'A15b', title: 'nested json path keeps the last key', method: 'GET', path: '/complex_items?id=eq.1&select=settings->foo->>bar', expect: { status: 200, body: [{ bar: 'baz' }] } },
  { id: 'A15c', title: 'aliased json path with cast', method: 'GET', path: '/complex_items?id=eq.1&select=myInt:settings->foo->>int::integer', expect: { status: 200, body: [{ myInt: 1 }] } },
  { id: 'A16a', title: 'filter on a json path', method: 'GET', path: '/json_table?data->foo->>bar=eq.baz', expect: { status: 200, body: [{ data: { id: 1, foo: { bar: 'baz' } } }] } },
  {
    id: 'A16b', title: 'order by a json path', method: 'GET', path: '/json_table?order=data->>id.asc',
    expect: { status: 200, body: [{ data: { id: 0 } }, { data: { foo: { bar: 'baz' }, id: 1 } }, { data: { id: 3 } }] },
  },
  { id: 'A17a', title: 'json array index', method: 'GET', path: '/json_arr?select=data->>0::int&id=in.(1,2)', expect: { status: 200, body: [{ data: 1 }, { data: 4 }] } },
  { id: 'A17b', title: 'negative json array index', method: 'GET', path: '/json_arr?select=data->>-1::int&id=in.(1,2)', expect: { status: 200, body: [{ data: 3 }, { data: 6 }] } },
  { id: 'A18a', title: 'or', method: 'GET', path: '/entities?or=(id.eq.1,id.eq.2)&select=id', expect: { status: 200, body: ids(1, 2) } },
  { id: 'A18b', title: 'not.or', method: 'GET', path: '/entities?not.or=(id.eq.1,id.eq.2)&select=id', expect: { status: 200, body: ids(3, 4) } },
  {
    id: 'A18c', title: 'nested and inside or', method: 'GET', path: '/entities?or=(and(name.eq.entity 2,id.eq.2),and(name.eq.entity 1,id.eq.1))&select=id',
    expect: { status: 200, body: ids(1, 2) },
  },
  { id: 'A18d', title: 'and with is.null', method: 'GET', path: '/entities?and=(name.is.null,arr.is.null)&select=id', expect: { status: 200, body: ids(4) } },
  {
    id: 'A19', title: 'quoted values with parens and commas inside logic trees', method: 'GET',
    path: '/grandchild_entities?or=(name.eq."(grandchild,entity,4)",name.eq."(grandchild,entity,5)")&select=id',
    expect: { status: 200, body: ids(4, 5) },
  },
  {
    id: 'A20', title: 'logic tree on an embedded resource', method: 'GET', path: '/entities?child_entities.or=(id.eq.1,name.eq.child entity 2)&select=id,child_entities(id)',
    expect: { status: 200, body: [{ id: 1, child_entities: ids(1, 2) }, { id: 2, child_entities: [] }, { id: 3, child_entities: [] }, { id: 4, child_entities: [] }] },
  },
  { id: 'A21a', title: 'range ov', method: 'GET', path: '/ranges?range=ov.[0,4]&select=id', expect: { status: 200, body: ids(1, 2) } },
  { id: 'A21b', title: 'range sl', method: 'GET', path: '/ranges?range=sl.[9,10]&select=id', expect: { status: 200, body: ids(1, 2) } },
  { id: 'A21c', title: 'range adj', method: 'GET', path: '/ranges?range=adj.(3,10]&select=id', expect: { status: 200, body: ids(1) } },
  { id: 'A21d', title: 'range nxl', method: 'GET', path: '/ranges?range=nxl.[4,7]&select=id', expect: { status: 200, body: ids(3, 4) } },
  { id: 'A22a', title: 'order nullsfirst', method: 'GET', path: '/no_pk?order=a.nullsfirst', expect: { status: 200, body: [{ a: null, b: null }, { a: '1', b: '0' }, { a: '2', b: '0' }] } },
  { id: 'A22b', title: 'order desc nullslast', method: 'GET', path: '/no_pk?order=a.desc.nullslast', expect: { status: 200, body: [{ a: '2', b: '0' }, { a: '1', b: '0' }, { a: null, b: null }] } },
  {
    id: 'A22c', title: 'order by several columns', method: 'GET', path: '/projects?select=client_id,id,name&order=client_id.desc.nullslast,id.desc',
    expect: { status: 200, body: [PROJECTS[3], PROJECTS[2], PROJECTS[1], PROJECTS[0], PROJECTS[4]], headers: { 'content-range': '0-4/*' } },
  },
  {
    id: 'A23', title: 'bad order is a parse error', method: 'GET', path: '/items?order=id.asc.nullslasttt',
    expect: {
      status: 400,
      body: err('PGRST100', '"failed to parse order (id.asc.nullslasttt)" (line 1, column 17)', 'unexpected \'t\' expecting "," or end of input'),
      headers: { ...ct, 'content-length': '169' },
    },
  },
  { id: 'A24', title: 'canonical Content-Location', method: 'GET', path: '/no_pk?b=eq.1&a=eq.1', expect: { status: 200, body: [], headers: { 'content-location': '/no_pk?a=eq.1&b=eq.1' } } },
  { id: 'A25', title: 'computed column', method: 'GET', path: '/items?id=eq.1&select=id,always_true', expect: { status: 200, body: [{ id: 1, always_true: true }] } },
  {
    id: 'A26a', title: 'names with spaces', method: 'GET', path: '/Server%20Today?select=Just%20A%20Server%20Model&Just%20A%20Server%20Model=like.*91*',
    expect: {
      status: 200,
      body: [
        { 'Just A Server Model': ' IBM,9113-550 (P5-550)' },
        { 'Just A Server Model': ' IBM,9113-550 (P5-550)' },
        { 'Just A Server Model': ' IBM,9131-52A (P5-52A)' },
        { 'Just A Server Model': ' IBM,9133-55A (P5-55A)' },
      ],
    },
  },
  {
    id: 'A26b', title: 'filter without operator is a parse error', method: 'GET', path: '/ghostBusters?id=0',
    expect: { status: 400, body: err('PGRST100', '"failed to parse filter (0)" (line 1, column 1)', 'unexpected "0" expecting "not" or operator (eq, gt, ...)') },
  },
  { id: 'A13d', title: 'empty select means all columns', method: 'GET', path: '/projects?select=&id=eq.1', expect: { status: 200, body: [PROJECTS[0]] } },
  {
    id: 'A18e', title: 'whitespace inside logic trees', method: 'GET', path: '/entities?and=( and ( id.in.( 1, 2, 3 ) , id.eq.3 ) , or ( id.eq.2 , id.eq.3 ) )&select=id',
    expect: { status: 200, body: ids(3) },
  },
  { id: 'A18f', title: 'trailing garbage after a logic tree is ignored', method: 'GET', path: '/entities?and=(id.eq.1,id.neq.2))&select=id', expect: { status: 200, body: ids(1) } },
  {
    id: 'A18g', title: 'empty logic tree is a parse error', method: 'GET', path: '/entities?or=()',
    expect: {
      status: 400,
      body: err('PGRST100', '"failed to parse logic tree (())" (line 1, column 4)', 'unexpected ")" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)'),
    },
  },
  { id: 'A26c', title: 'empty filter value is a parse error', method: 'GET', path: '/items?id=', expect: { status: 400, bodyMatch: { code: 'PGRST100' } } },
  { id: 'A26d', title: 'in list with an empty element is a Postgres error', method: 'GET', path: '/items?id=in.( ,3,4)', expect: { status: 400, bodyMatch: { code: '22P02' } } },
  { id: 'A26e', title: 'array+json media type is plain JSON', method: 'GET', path: '/items?id=eq.1', headers: { Accept: 'application/vnd.pgrst.array+json' }, expect: { status: 200, body: ids(1), headers: ct } },
];

// ------------------------------------------------------------------------------ B. embedding

const B: ConformanceCase[] = [
  {
    id: 'B27', title: 'many-to-one and one-to-many embeds', method: 'GET', path: '/projects?id=eq.1&select=id, name, clients(*), tasks(id, name)',
    expect: {
      status: 200,
      body: [{ id: 1, name: 'Windows 7', clients: { id: 1, name: 'Microsoft' }, tasks: [{ id: 1, name: 'Design w7' }, { id: 2, name: 'Code w7' }] }],
      headers: { ...ct, 'content-length': '141' },
    },
  },
  {
    id: 'B28', title: 'aliased embed with aliased columns; no match is null', method: 'GET', path: '/projects?select=name,client:clients(clientId:id,name)',
    expect: {
      status: 200,
      body: [
        { name: 'Windows 7', client: { clientId: 1, name: 'Microsoft' } },
        { name: 'Windows 10', client: { clientId: 1, name: 'Microsoft' } },
        { name: 'IOS', client: { clientId: 2, name: 'Apple' } },
        { name: 'OSX', client: { clientId: 2, name: 'Apple' } },
        { name: 'Orphan', client: null },
      ],
    },
  },
  { id: 'B29', title: 'empty to-many embed is []', method: 'GET', path: '/projects?id=in.(5)&select=id,tasks(id)', expect: { status: 200, body: [{ id: 5, tasks: [] }] } },
  {
    id: 'B30a', title: 'many-to-many', method: 'GET', path: '/tasks?select=id,users(id)',
    expect: {
      status: 200,
      body: [
        { id: 1, users: ids(1, 3) }, { id: 2, users: ids(1) }, { id: 3, users: ids(1) }, { id: 4, users: ids(1) },
        { id: 5, users: ids(2, 3) }, { id: 6, users: ids(2) }, { id: 7, users: ids(2) }, { id: 8, users: [] },
      ],
    },
  },
  {
    id: 'B30b', title: 'many-to-many reverse', method: 'GET', path: '/users?select=id,tasks(id)',
    expect: { status: 200, body: [{ id: 1, tasks: ids(1, 2, 3, 4) }, { id: 2, tasks: ids(5, 6, 7) }, { id: 3, tasks: ids(1, 5) }] },
  },
  {
    id: 'B31', title: 'filter two levels deep', method: 'GET', path: '/clients?select=id,projects(id,tasks(id,name))&projects.tasks.name=like.Design*',
    expect: {
      status: 200,
      body: [
        { id: 1, projects: [{ id: 1, tasks: [{ id: 1, name: 'Design w7' }] }, { id: 2, tasks: [{ id: 3, name: 'Design w10' }] }] },
        { id: 2, projects: [{ id: 3, tasks: [{ id: 5, name: 'Design IOS' }] }, { id: 4, tasks: [{ id: 7, name: 'Design OSX' }] }] },
      ],
    },
  },
  {
    id: 'B32', title: 'filter on a resource that is not embedded', method: 'GET', path: '/clients?select=*&non_existent_projects.name=like.*NonExistent*',
    expect: {
      status: 400,
      body: err('PGRST108', "'non_existent_projects' is not an embedded resource in this request", null, "Verify that 'non_existent_projects' is included in the 'select' query parameter."),
      headers: { ...ct, 'content-length': '204' },
    },
  },
  {
    id: 'B33a', title: '!inner removes parents without a match', method: 'GET', path: '/projects?select=id,clients!inner(id)&clients.id=eq.2',
    expect: { status: 200, body: [{ id: 3, clients: { id: 2 } }, { id: 4, clients: { id: 2 } }] },
  },
  {
    id: 'B33b', title: '!left keeps them', method: 'GET', path: '/projects?select=id,clients!left(id)&clients.id=eq.2',
    expect: { status: 200, body: [{ id: 1, clients: null }, { id: 2, clients: null }, { id: 3, clients: { id: 2 } }, { id: 4, clients: { id: 2 } }, { id: 5, clients: null }] },
  },
  {
    id: 'B33c', title: 'exact count with !inner (HEAD)', method: 'HEAD', path: '/projects?select=id,clients!inner(id)', headers: { Prefer: 'count=exact' },
    expect: { status: 200, body: { text: '' }, headers: { 'content-range': '0-3/4' } },
  },
  {
    id: 'B34a', title: 'to-many !inner', method: 'GET', path: '/entities?select=id,child_entities!inner(id)',
    expect: { status: 200, body: [{ id: 1, child_entities: ids(1, 2, 4, 5) }, { id: 2, child_entities: ids(3, 6) }] },
  },
  {
    id: 'B34b', title: 'to-many !inner count (HEAD)', method: 'HEAD', path: '/entities?select=id,child_entities!inner(id)', headers: { Prefer: 'count=exact' },
    expect: { status: 200, headers: { 'content-range': '0-1/2' } },
  },
  {
    id: 'B35', title: '!inner nested inside a left embed nulls the parent embed', method: 'GET', path: '/tasks?select=id,projects(id,clients!inner(id))&projects.clients.id=eq.2',
    expect: {
      status: 200,
      body: [
        { id: 1, projects: null }, { id: 2, projects: null }, { id: 3, projects: null }, { id: 4, projects: null },
        { id: 5, projects: { id: 3, clients: { id: 2 } } }, { id: 6, projects: { id: 3, clients: { id: 2 } } },
        { id: 7, projects: { id: 4, clients: { id: 2 } } }, { id: 8, projects: { id: 4, clients: { id: 2 } } },
      ],
    },
  },
  {
    id: 'B35b', title: 'count with a nested !inner does not filter the root (HEAD)', method: 'HEAD', path: '/tasks?select=id,projects(id,clients!inner(id))&projects.clients.id=eq.2',
    headers: { Prefer: 'count=exact' }, expect: { status: 200, headers: { 'content-range': '0-7/8' } },
  },
  {
    id: 'B36', title: 'empty embed only filters', method: 'GET', path: '/projects?select=id,name,clients!inner()&clients.id=eq.2',
    expect: { status: 200, body: [{ id: 3, name: 'IOS' }, { id: 4, name: 'OSX' }] },
  },
  {
    id: 'B37a', title: 'is.null filter on an embedded column keeps parents', method: 'GET', path: '/rpc/getallprojects?select=id,clients(id)&clients.name=not.is.null',
    expect: { status: 200, body: [{ id: 1, clients: { id: 1 } }, { id: 2, clients: { id: 1 } }, { id: 3, clients: { id: 2 } }, { id: 4, clients: { id: 2 } }, { id: 5, clients: null }] },
  },
  {
    id: 'B37b', title: 'not.is.null on the embed itself acts as !inner', method: 'GET', path: '/rpc/getallprojects?select=id,clients(id)&clients=not.is.null',
    expect: { status: 200, body: [{ id: 1, clients: { id: 1 } }, { id: 2, clients: { id: 1 } }, { id: 3, clients: { id: 2 } }, { id: 4, clients: { id: 2 } }] },
  },
  {
    id: 'B37c', title: 'is.null on the embed is an anti-join', method: 'GET', path: '/projects?select=id,clients(id)&clients=is.null',
    expect: { status: 200, body: [{ id: 5, clients: null }] },
  },
  {
    id: 'B38a', title: 'order inside an embed', method: 'GET', path: '/projects?id=eq.1&select=id, name, tasks(id, name)&tasks.order=name.asc',
    expect: { status: 200, body: [{ id: 1, name: 'Windows 7', tasks: [{ id: 2, name: 'Code w7' }, { id: 1, name: 'Design w7' }] }] },
  },
  {
    id: 'B38b', title: 'order addressed by relation name on an aliased embed', method: 'GET', path: '/projects?id=eq.1&select=id, name, the_tasks:tasks(id, name)&tasks.order=name.asc',
    expect: { status: 200, body: [{ id: 1, name: 'Windows 7', the_tasks: [{ id: 2, name: 'Code w7' }, { id: 1, name: 'Design w7' }] }] },
  },
  {
    id: 'B38c', title: 'order and limit at every level', method: 'GET',
    path: '/clients?select=id,projects(id,tasks(id))&order=id.asc&limit=1&projects.order=id.asc&projects.limit=2&projects.tasks.order=id.asc&projects.tasks.limit=1',
    expect: { status: 200, body: [{ id: 1, projects: [{ id: 1, tasks: ids(1) }, { id: 2, tasks: ids(3) }] }], headers: { 'content-range': '0-0/*' } },
  },
  {
    id: 'B39', title: 'the same relation embedded twice under aliases, filtered per alias', method: 'GET',
    path: '/users?select=id,designTasks:tasks(id,name),codeTasks:tasks(id,name)&designTasks.name=like.*Design*&codeTasks.name=like.*Code*',
    expect: {
      status: 200,
      body: [
        { id: 1, designTasks: [{ id: 1, name: 'Design w7' }, { id: 3, name: 'Design w10' }], codeTasks: [{ id: 2, name: 'Code w7' }, { id: 4, name: 'Code w10' }] },
        { id: 2, designTasks: [{ id: 5, name: 'Design IOS' }, { id: 7, name: 'Design OSX' }], codeTasks: [{ id: 6, name: 'Code IOS' }] },
        { id: 3, designTasks: [{ id: 1, name: 'Design w7' }, { id: 5, name: 'Design IOS' }], codeTasks: [] },
      ],
    },
  },
  {
    id: 'B40a', title: 'embed by foreign key constraint name', method: 'GET', path: '/projects?id=in.(1,3)&select=id,name,client(id,name)',
    expect: { status: 200, body: [{ id: 1, name: 'Windows 7', client: { id: 1, name: 'Microsoft' } }, { id: 3, name: 'IOS', client: { id: 2, name: 'Apple' } }] },
  },
  {
    id: 'B40b', title: 'one-to-one with a column hint', method: 'GET', path: '/country?select=name,capital!country_id(name)',
    expect: { status: 200, body: [{ name: 'Afghanistan', capital: { name: 'Kabul' } }, { name: 'Algeria', capital: { name: 'Algiers' } }] },
  },
  {
    id: 'B40c', title: 'one-to-one by constraint name', method: 'GET', path: '/capital?select=name,capital_country_id_fkey(name)',
    expect: { status: 200, body: [{ name: 'Kabul', capital_country_id_fkey: { name: 'Afghanistan' } }, { name: 'Algiers', capital_country_id_fkey: { name: 'Algeria' } }] },
  },
  {
    id: 'B40d', title: 'one-to-one by column name (reverse)', method: 'GET', path: '/country?select=name,id(name)',
    expect: { status: 200, body: [{ name: 'Afghanistan', id: { name: 'Kabul' } }, { name: 'Algeria', id: { name: 'Algiers' } }] },
  },
  {
    id: 'B40e', title: 'one-to-one through a composite primary key used as foreign key', method: 'GET', path: '/students?select=name,students_info(address)',
    expect: { status: 200, body: [{ name: 'John Doe', students_info: { address: 'Street 1' } }, { name: 'Jane Doe', students_info: { address: 'Street 2' } }] },
  },
  {
    id: 'B41', title: 'ambiguous embed', method: 'GET', path: '/agents?select=*,departments(*)',
    expect: {
      status: 300,
      body: err(
        'PGRST201',
        "Could not embed because more than one relationship was found for 'agents' and 'departments'",
        [
          { cardinality: 'one-to-many', relationship: 'departments_head_id_fkey using agents(id) and departments(head_id)', embedding: 'agents with departments' },
          { cardinality: 'many-to-one', relationship: 'agents_department_id_fkey using agents(department_id) and departments(id)', embedding: 'agents with departments' },
        ],
        "Try changing 'departments' to one of the following: 'departments!departments_head_id_fkey', 'departments!agents_department_id_fkey'. Find the desired relationship in the 'details' key.",
      ),
    },
  },
  {
    id: 'B42', title: 'no relationship with a partition', method: 'GET', path: '/car_models?id=in.(1,2,4)&select=id,name,car_model_sales_202101(id)&order=id.asc',
    expect: {
      status: 400,
      body: err(
        'PGRST200',
        "Could not find a relationship between 'car_models' and 'car_model_sales_202101' in the schema cache",
        "Searched for a foreign key relationship between 'car_models' and 'car_model_sales_202101' in the schema 'test', but no matches were found.",
        "Perhaps you meant 'car_model_sales' instead of 'car_model_sales_202101'.",
      ),
    },
  },
  {
    // No hint: 'car_model_sales' is less than 75% similar (PostgREST v14.17+; v13.0 suggested it).
    id: 'B42b', title: 'partitions are not tables of the API', method: 'GET', path: '/car_model_sales_202101?select=id,name,car_models(id,name)&order=id.asc',
    expect: { status: 404, body: err('PGRST205', "Could not find the table 'test.car_model_sales_202101' in the schema cache") },
  },
  {
    id: 'B43a', title: 'to-one spread', method: 'GET', path: '/projects?select=id,...clients(client_name:name)',
    expect: {
      status: 200,
      body: [
        { id: 1, client_name: 'Microsoft' }, { id: 2, client_name: 'Microsoft' }, { id: 3, client_name: 'Apple' }, { id: 4, client_name: 'Apple' }, { id: 5, client_name: null },
      ],
    },
  },
  {
    id: 'B43b', title: 'to-many spread (v13) makes arrays', method: 'GET', path: '/factories?select=factory:name,...processes(name)&order=name',
    expect: {
      status: 200,
      body: [
        { factory: 'Factory A', name: ['Process A1', 'Process A2'] },
        { factory: 'Factory B', name: ['Process B1', 'Process B2'] },
        { factory: 'Factory C', name: ['Process C1', 'Process C2', 'Process XX', 'Process YY'] },
        { factory: 'Factory D', name: [] },
      ],
    },
  },
  {
    id: 'B44', title: 'self-referencing embed after PATCH', method: 'PATCH', path: '/web_content?id=eq.0&select=id,name,web_content(name)', headers: repr,
    body: { name: 'tardis-patched' },
    expect: {
      status: 200,
      body: [{ id: 0, name: 'tardis-patched', web_content: [{ name: 'fezz' }, { name: 'foo' }, { name: 'bar' }] }],
      headers: { ...ct, 'preference-applied': 'return=representation' },
    },
  },
  {
    id: 'B40f', title: 'embed through the FK column name keeps that name as key', method: 'GET', path: '/projects?id=eq.1&select=id,client_id(name)',
    expect: { status: 200, body: [{ id: 1, client_id: { name: 'Microsoft' } }] },
  },
  {
    id: 'B45a', title: 'order by a to-one embedded column', method: 'GET', path: '/projects?select=id,clients(name)&order=clients(name).nullsfirst',
    expect: {
      status: 200,
      body: [{ id: 5, clients: null }, { id: 3, clients: { name: 'Apple' } }, { id: 4, clients: { name: 'Apple' } }, { id: 1, clients: { name: 'Microsoft' } }, { id: 2, clients: { name: 'Microsoft' } }],
    },
  },
  {
    id: 'B45b', title: 'order by a to-many embed is not possible', method: 'GET', path: '/clients?select=*,projects(*)&order=projects(id)',
    expect: { status: 400, body: err('PGRST118', "A related order on 'projects' is not possible", "'clients' and 'projects' do not form a many-to-one or one-to-one relationship") },
  },
];

// ------------------------------------------------------------------------------- C. insert

const C: ConformanceCase[] = [
  {
    id: 'C45', title: 'insert without Prefer: 201, no body, no Content-Type', method: 'POST', path: '/menagerie', body: { integer: 13, ...MENAGERIE },
    expect: { status: 201, body: { text: '' }, headers: { 'content-type': null, 'content-length': '0' } },
  },
  {
    id: 'C46a', title: 'return=representation with select', method: 'POST', path: '/menagerie?select=integer,varchar', headers: repr, body: [{ integer: 14, ...MENAGERIE }],
    expect: { status: 201, body: [{ integer: 14, varchar: 'testing!' }], headers: { ...ct, 'content-length': '37', 'preference-applied': 'return=representation' } },
  },
  {
    id: 'C46b', title: 'select is ignored without representation', method: 'POST', path: '/menagerie?select=integer,varchar', body: [{ integer: 15, ...MENAGERIE }],
    expect: { status: 201, body: { text: '' }, headers: { 'content-type': null } },
  },
  {
    id: 'C46c', title: 'return=minimal is applied', method: 'POST', path: '/menagerie?select=integer,varchar', headers: { Prefer: 'return=minimal' }, body: [{ integer: 16, ...MENAGERIE }],
    expect: { status: 201, body: { text: '' }, headers: { 'content-type': null, 'preference-applied': 'return=minimal' } },
  },
  {
    id: 'C47', title: 'representation with an embed and exact count', method: 'POST', path: '/projects?select=id,name,clients(id,name)',
    headers: { Prefer: 'return=representation, count=exact' }, body: { id: 6, name: 'New Project', client_id: 2 },
    expect: {
      status: 201,
      body: [{ id: 6, name: 'New Project', clients: { id: 2, name: 'Apple' } }],
      headers: { ...ct, location: null, 'content-range': '*/1', 'preference-applied': 'return=representation, count=exact' },
    },
  },
  {
    id: 'C48a', title: 'return=headers-only gives Location', method: 'POST', path: '/projects?select=name,client_id', headers: { Prefer: 'return=headers-only' },
    body: { id: 11, name: 'New Project', client_id: 2 },
    expect: { status: 201, body: { text: '' }, headers: { location: '/projects?id=eq.11', 'content-range': '*/*', 'preference-applied': 'return=headers-only' } },
  },
  {
    id: 'C48b', title: 'Location for a view with a composite key', method: 'POST', path: '/compound_pk_view', headers: { Prefer: 'return=headers-only' },
    body: { k1: 1, k2: 'test', extra: 2 },
    expect: { status: 201, headers: { location: '/compound_pk_view?k1=eq.1&k2=eq.test', 'content-range': '*/*' } },
  },
  {
    id: 'C49a', title: 'array with a non-object element', method: 'POST', path: '/articles', body: [{ id: 100, body: 'xxxxx' }, 123, 'xxxx', { id: 111, body: 'xxxx' }],
    expect: { status: 400, body: err('PGRST102', 'All object keys must match'), headers: ct },
  },
  {
    id: 'C49b', title: 'objects with different keys', method: 'POST', path: '/articles', body: [{ id: 100, body: 'xxxxx' }, { id: 111, body: 'xxxx', owner: 'me' }],
    expect: { status: 400, body: err('PGRST102', 'All object keys must match') },
  },
  {
    id: 'C50a', title: 'invalid json', method: 'POST', path: '/simple_pk', body: '}{ x = 2', headers: { 'Content-Type': 'application/json' },
    expect: { status: 400, body: err('PGRST102', 'Empty or invalid json'), headers: { ...ct, 'content-length': '80' } },
  },
  {
    id: 'C50b', title: 'empty body', method: 'POST', path: '/simple_pk', body: '', headers: { 'Content-Type': 'application/json' },
    expect: { status: 400, body: err('PGRST102', 'Empty or invalid json') },
  },
  {
    id: 'C51', title: 'unique violation is 409', method: 'POST', path: '/simple_pk', body: { k: 'xyyx', extra: 'e1' },
    expect: { status: 409, body: err('23505', 'duplicate key value violates unique constraint "simple_pk_pkey"', 'Key (k)=(xyyx) already exists.') },
  },
  {
    id: 'C52', title: 'not-null violation is 400', method: 'POST', path: '/simple_pk', body: { extra: 'foo' },
    expect: { status: 400, body: err('23502', 'null value in column "k" of relation "simple_pk" violates not-null constraint', 'Failing row contains (null, foo).') },
  },
  { id: 'C53a', title: 'empty object inserts defaults', method: 'POST', path: '/items', body: {}, expect: { status: 201, headers: { 'content-type': null } } },
  { id: 'C53b', title: 'array of empty objects inserts several rows', method: 'POST', path: '/items', body: [{}, {}], expect: { status: 201, headers: { 'content-type': null } } },
  { id: 'C53c', title: 'empty object with representation', method: 'POST', path: '/items2', headers: repr, body: {}, expect: { status: 201, body: [{ id: 20 }] } },
  { id: 'C53d', title: 'empty object with representation and select=', method: 'POST', path: '/items3?select=id', headers: repr, body: {}, expect: { status: 201, body: [{ id: 20 }] } },
  { id: 'C54', title: 'empty array', method: 'POST', path: '/no_pk', headers: repr, body: [], expect: { status: 201, body: [] } },
  {
    id: 'C55a', title: 'columns= ignores other keys', method: 'POST', path: '/articles?columns=id,body', headers: repr,
    body: { id: 200, body: 'xxx', smth: 'here', other: 'stuff', fake_id: 13 },
    expect: { status: 201, body: [{ id: 200, body: 'xxx', owner: 'anon' }] },
  },
  {
    id: 'C55b', title: 'columns= with an unknown column', method: 'POST', path: '/articles?columns=helicopter', headers: repr, body: { body: 'yyy' },
    expect: { status: 400, body: err('PGRST204', "Could not find the 'helicopter' column of 'articles' in the schema cache") },
  },
  {
    id: 'C55c', title: 'unknown table is checked before columns=', method: 'POST', path: '/garlic?columns=helicopter', headers: repr, body: [{ allies: 'mother' }],
    expect: { status: 404, bodyMatch: { code: 'PGRST205', message: "Could not find the table 'test.garlic' in the schema cache" } },
  },
  {
    id: 'C55d', title: 'unknown payload key', method: 'POST', path: '/articles', headers: repr, body: { id: 300, helicopter: 'x' },
    expect: { status: 400, body: err('PGRST204', "Could not find the 'helicopter' column of 'articles' in the schema cache") },
  },
  {
    id: 'C56', title: 'missing=default fills defaults of absent keys', method: 'POST', path: '/complex_items?columns=id,name,field-with_sep,arr_data',
    headers: { Prefer: 'return=representation, missing=default' },
    body: [{ id: 4, name: 'Vier' }, { id: 5, name: 'Funf', arr_data: null }, { id: 6, name: 'Sechs', 'field-with_sep': 6, arr_data: '{1,2,3}' }],
    expect: {
      status: 201,
      body: [
        { id: 4, name: 'Vier', 'field-with_sep': 1, settings: null, arr_data: null },
        { id: 5, name: 'Funf', 'field-with_sep': 1, settings: null, arr_data: null },
        { id: 6, name: 'Sechs', 'field-with_sep': 6, settings: null, arr_data: [1, 2, 3] },
      ],
      headers: { 'preference-applied': 'missing=default, return=representation' },
    },
  },
  {
    id: 'C57', title: 'form-urlencoded body', method: 'POST', path: '/menagerie', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'integer=7&double=2.71828&varchar=forms+are+fun&boolean=false&date=1900-01-01&money=$3.99&enum=foo',
    expect: { status: 201, body: { text: '' } },
  },
  {
    id: 'C57b', title: 'form-urlencoded body with representation', method: 'POST', path: '/menagerie?select=integer,varchar,boolean',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...repr },
    body: 'integer=8&double=2.71828&varchar=forms+are+fun&boolean=false&date=1900-01-01&money=$3.99&enum=foo',
    expect: { status: 201, body: [{ integer: 8, varchar: 'forms are fun', boolean: false }] },
  },
  {
    id: 'C58a', title: 'CSV in, CSV out', method: 'POST', path: '/no_pk', headers: { 'Content-Type': 'text/csv', Accept: 'text/csv', ...repr }, body: 'a,b\nNULL,foo',
    expect: { status: 201, body: { text: 'a,b\n,foo' }, headers: { 'content-type': CSV_CT } },
  },
  {
    id: 'C58b', title: 'CSV with a short line', method: 'POST', path: '/no_pk', headers: { 'Content-Type': 'text/csv', ...repr }, body: 'a,b\nbar\nbaz,bat',
    expect: { status: 400, body: err('PGRST102', 'All lines must have same number of fields') },
  },
  {
    id: 'C59a', title: 'representation needs SELECT on every returned column', method: 'POST', path: '/limited_article_stars', headers: repr, body: { article_id: 2, user_id: 1 },
    expect: { status: 401, body: err('42501', 'permission denied for view limited_article_stars'), headers: { 'www-authenticate': 'Bearer' } },
  },
  {
    id: 'C59b', title: 'representation of the permitted columns', method: 'POST', path: '/limited_article_stars?select=article_id,user_id', headers: repr, body: { article_id: 2, user_id: 1 },
    expect: { status: 201, body: [{ article_id: 2, user_id: 1 }] },
  },
  { id: 'C59c', title: 'insert-only table with return=minimal', method: 'POST', path: '/insertonly', headers: { Prefer: 'return=minimal' }, body: { v: 'some value' }, expect: { status: 201 } },
  {
    id: 'C60', title: 'a trigger overrides Location through response.headers', method: 'POST', path: '/stuff', body: [{ id: 2, name: 'stuff 2' }],
    expect: { status: 201, headers: { 'content-type': null, location: '/stuff?id=eq.2&overriden=true' } },
  },
  {
    id: 'C55e', title: 'blank columns= is a parse error', method: 'POST', path: '/articles?columns=', body: [{ id: 204, body: 'yyy' }, { id: 205, body: 'zzz' }],
    expect: { status: 400, body: err('PGRST100', '"failed to parse columns parameter ()" (line 1, column 1)', 'unexpected end of input expecting field name (* or [a..z0..9_$])') },
  },
  {
    id: 'C61a', title: 'unsupported request Content-Type', method: 'POST', path: '/simple_pk', headers: { 'Content-Type': 'application/xml' }, body: '<k>x</k>',
    expect: { status: 400, body: err('PGRST102', 'Content-Type not acceptable: application/xml') },
  },
  {
    id: 'C61b', title: 'first occurrence of a preference wins', method: 'POST', path: '/no_pk', headers: { Prefer: 'return=minimal, return=representation' }, body: { a: 'x', b: 'y' },
    expect: { status: 201, body: { text: '' }, headers: { 'preference-applied': 'return=minimal' } },
  },
  { id: 'C61c', title: 'a JSON scalar body inserts nothing', method: 'POST', path: '/no_pk', headers: repr, body: 5, expect: { status: 201, body: [] } },
];

// ------------------------------------------------------------------------------- D. upsert

const D: ConformanceCase[] = [
  {
    id: 'D61', title: 'merge-duplicates inserting one new row: 201', method: 'POST', path: '/tiobe_pls', headers: { Prefer: 'return=representation, resolution=merge-duplicates' },
    body: [{ name: 'Javascript', rank: 6 }, { name: 'Java', rank: 2 }, { name: 'C', rank: 1 }],
    expect: {
      status: 201,
      body: [{ name: 'Javascript', rank: 6 }, { name: 'Java', rank: 2 }, { name: 'C', rank: 1 }],
      headers: { ...ct, 'preference-applied': 'resolution=merge-duplicates, return=representation' },
    },
  },
  {
    id: 'D62', title: 'merge-duplicates updating only: 200', method: 'POST', path: '/tiobe_pls', headers: { Prefer: 'return=representation, resolution=merge-duplicates' },
    body: [{ name: 'Python', rank: 6 }, { name: 'Java', rank: 2 }, { name: 'C', rank: 1 }],
    expect: { status: 200, body: [{ name: 'Python', rank: 6 }, { name: 'Java', rank: 2 }, { name: 'C', rank: 1 }], headers: { 'preference-applied': 'resolution=merge-duplicates, return=representation' } },
  },
  {
    id: 'D62b', title: 'merge-duplicates on a composite key (money column)', method: 'POST', path: '/employees', headers: { Prefer: 'return=representation, resolution=merge-duplicates' },
    body: [{ first_name: 'Frances M.', last_name: 'Roe', salary: '30000' }, { first_name: 'Peter S.', last_name: 'Yang', salary: 42000 }],
    expect: {
      status: 201,
      body: [
        { first_name: 'Frances M.', last_name: 'Roe', salary: '$30,000.00', company: 'One-Up Realty', occupation: 'Author' },
        { first_name: 'Peter S.', last_name: 'Yang', salary: '$42,000.00', company: null, occupation: null },
      ],
    },
  },
  {
    id: 'D63a', title: 'ignore-duplicates returns only inserted rows', method: 'POST', path: '/tiobe_pls', headers: { Prefer: 'return=representation, resolution=ignore-duplicates' },
    body: [{ name: 'PHP', rank: 9 }, { name: 'Python', rank: 10 }],
    expect: { status: 201, body: [{ name: 'PHP', rank: 9 }], headers: { 'preference-applied': 'resolution=ignore-duplicates, return=representation' } },
  },
  {
    id: 'D63b', title: 'ignore-duplicates with only duplicates', method: 'POST', path: '/tiobe_pls', headers: { Prefer: 'return=representation, resolution=ignore-duplicates' },
    body: [{ name: 'Java', rank: 9 }, { name: 'Python', rank: 10 }],
    expect: { status: 201, body: [] },
  },
  {
    id: 'D64a', title: 'merge-duplicates on a unique key (on_conflict)', method: 'POST', path: '/single_unique?on_conflict=unique_key', headers: { Prefer: 'return=representation, resolution=merge-duplicates' },
    body: [{ unique_key: 1, value: 'B' }, { unique_key: 2, value: 'C' }],
    expect: { status: 201, body: [{ unique_key: 1, value: 'B' }, { unique_key: 2, value: 'C' }], headers: { 'preference-applied': 'resolution=merge-duplicates, return=representation' } },
  },
  {
    id: 'D64b', title: 'ignore-duplicates on a unique key', method: 'POST', path: '/single_unique?on_conflict=unique_key', headers: { Prefer: 'return=representation, resolution=ignore-duplicates' },
    body: [{ unique_key: 1, value: 'B' }, { unique_key: 2, value: 'C' }, { unique_key: 3, value: 'D' }],
    expect: { status: 201, body: [{ unique_key: 2, value: 'C' }, { unique_key: 3, value: 'D' }] },
  },
  {
    id: 'D64c', title: 'merge-duplicates on a compound unique key', method: 'POST', path: '/compound_unique?on_conflict=key1,key2', headers: { Prefer: 'return=representation, resolution=merge-duplicates' },
    body: [{ key1: 1, key2: 1, value: 'B' }, { key1: 1, key2: 2, value: 'C' }],
    expect: { status: 201, body: [{ key1: 1, key2: 1, value: 'B' }, { key1: 1, key2: 2, value: 'C' }] },
  },
  {
    id: 'D64d', title: 'merge-duplicates on a table with only PK columns', method: 'POST', path: '/only_pk', headers: { Prefer: 'return=representation, resolution=merge-duplicates' },
    body: ids(1, 2, 4), expect: { status: 201, body: ids(1, 2, 4), headers: { 'preference-applied': 'resolution=merge-duplicates, return=representation' } },
  },
  {
    id: 'D65a', title: 'resolution is ignored on a table without PK', method: 'POST', path: '/no_pk', headers: { Prefer: 'return=representation, resolution=merge-duplicates' },
    body: [{ a: '1', b: '0' }], expect: { status: 201, body: [{ a: '1', b: '0' }], headers: { 'preference-applied': 'return=representation' } },
  },
  {
    id: 'D65b', title: 'merge-duplicates with an empty array: 200', method: 'POST', path: '/articles', headers: { Prefer: 'return=representation, resolution=merge-duplicates' },
    body: [], expect: { status: 200, body: [], headers: ct },
  },
  {
    id: 'D66a', title: 'PUT inserting: 201', method: 'PUT', path: '/tiobe_pls?name=eq.Go', headers: repr, body: [{ name: 'Go', rank: 19 }],
    expect: { status: 201, body: [{ name: 'Go', rank: 19 }] },
  },
  {
    id: 'D66b', title: 'PUT updating: 200', method: 'PUT', path: '/tiobe_pls?name=eq.Java', headers: repr, body: [{ name: 'Java', rank: 13 }],
    expect: { status: 200, body: [{ name: 'Java', rank: 13 }] },
  },
  { id: 'D66c', title: 'PUT without Prefer: 204', method: 'PUT', path: '/tiobe_pls?name=eq.Java', body: [{ name: 'Java', rank: 13 }], expect: { status: 204, body: { text: '' } } },
  {
    id: 'D67a', title: 'PUT with limit', method: 'PUT', path: '/tiobe_pls?name=eq.Javascript&limit=1', body: [{ name: 'Javascript', rank: 1 }],
    expect: { status: 400, body: err('PGRST114', 'limit/offset querystring parameters are not allowed for PUT') },
  },
  ...(
    [
      ['b', 'a non-PK filter', '/tiobe_pls?rank=eq.19'],
      ['c', 'a negated filter', '/tiobe_pls?name=not.eq.Java'],
      ['d', 'an in filter', '/tiobe_pls?name=in.(Go)'],
      ['e', 'a logic tree', '/tiobe_pls?and=(name.eq.Go)'],
      ['f', 'a table without PK', '/no_pk?a=eq.1'],
    ] as const
  ).map(([s, what, path]): ConformanceCase => ({
    id: `D67${s}`, title: `PUT with ${what}`, method: 'PUT', path, body: path.startsWith('/no_pk') ? [{ a: '1', b: '1' }] : [{ name: 'Go', rank: 19 }],
    expect: { status: 405, body: err('PGRST105', "Filters must include all and only primary key columns with 'eq' operators") },
  })),
  {
    id: 'D67g', title: 'PUT with a payload not matching the URL', method: 'PUT', path: '/tiobe_pls?name=eq.MATLAB', body: [{ name: 'Perl', rank: 17 }],
    expect: { status: 400, body: err('PGRST115', 'Payload values do not match URL in primary key column(s)') },
  },
  {
    id: 'D67h', title: 'PUT ignores the Range header', method: 'PUT', path: '/tiobe_pls?name=eq.Go', headers: { Range: '0-0', ...repr }, body: [{ name: 'Go', rank: 19 }],
    expect: { status: 201, body: [{ name: 'Go', rank: 19 }] },
  },
  {
    id: 'D68', title: 'PUT with singular representation', method: 'PUT', path: '/tiobe_pls?name=eq.Ruby', headers: { ...repr, ...single }, body: [{ name: 'Ruby', rank: 11 }],
    expect: { status: 201, body: { name: 'Ruby', rank: 11 }, headers: { 'content-type': OBJECT_CT } },
  },
];

// ------------------------------------------------------------------------------- E. update

const E: ConformanceCase[] = [
  {
    id: 'E69', title: 'PATCH without Prefer: 204', method: 'PATCH', path: '/items?id=eq.2', body: { id: 42 },
    expect: { status: 204, body: { text: '' }, headers: { 'content-type': null, 'content-length': null, 'content-range': '0-0/*' } },
  },
  {
    id: 'E70a', title: 'PATCH matching nothing with representation', method: 'PATCH', path: '/items?id=eq.999999', headers: repr, body: { id: 999999 },
    expect: { status: 200, body: [], headers: { 'content-length': '2' } },
  },
  { id: 'E70b', title: 'PATCH matching nothing', method: 'PATCH', path: '/items?id=eq.999999', body: { id: 999999 }, expect: { status: 204 } },
  {
    id: 'E71', title: 'PATCH with representation', method: 'PATCH', path: '/items?id=eq.2', headers: repr, body: { id: 2 },
    expect: { status: 200, body: [{ id: 2 }], headers: { 'content-range': '0-0/*', 'preference-applied': 'return=representation' } },
  },
  { id: 'E72a', title: 'PATCH with {} is a no-op', method: 'PATCH', path: '/items', body: {}, expect: { status: 204, headers: { 'content-range': '*/*' } } },
  { id: 'E72b', title: 'PATCH with [] is a no-op', method: 'PATCH', path: '/items', body: [], expect: { status: 204, headers: { 'content-range': '*/*' } } },
  { id: 'E72c', title: 'PATCH with [{}] is a no-op', method: 'PATCH', path: '/items', body: [{}], expect: { status: 204, headers: { 'content-range': '*/*' } } },
  { id: 'E72d', title: 'no-op PATCH with representation', method: 'PATCH', path: '/items', headers: repr, body: {}, expect: { status: 200, body: [] } },
  {
    id: 'E73', title: 'Prefer tx=commit is applied', method: 'PATCH', path: '/no_pk?b=eq.0', headers: { Prefer: 'tx=commit' }, body: { b: '1' },
    expect: { status: 204, headers: { 'content-range': '0-1/*', 'preference-applied': 'tx=commit' } },
  },
  {
    id: 'E74a', title: 'PATCH columns= ignores other keys', method: 'PATCH', path: '/articles?id=eq.1&columns=body', headers: repr,
    body: { body: 'Some real content', smth: 'here', other: 'stuff', fake_id: 13 },
    expect: { status: 200, body: [{ id: 1, body: 'Some real content', owner: 'anon' }] },
  },
  {
    id: 'E74b', title: 'PATCH columns= with an unknown column', method: 'PATCH', path: '/articles?id=eq.1&columns=helicopter', headers: repr, body: { body: 'yyy' },
    expect: { status: 400, body: err('PGRST204', "Could not find the 'helicopter' column of 'articles' in the schema cache") },
  },
  {
    id: 'E75', title: 'PATCH representation honours order (v13)', method: 'PATCH', path: '/no_pk?order=a.desc', headers: repr, body: { b: '1' },
    expect: { status: 200, body: [{ a: null, b: '1' }, { a: '2', b: '1' }, { a: '1', b: '1' }] },
  },
  {
    id: 'E76', title: 'PATCH representation with a many-to-many embed', method: 'PATCH', path: '/users?id=eq.1&select=name,tasks(name,project:projects(name))', headers: repr,
    body: { name: 'Kevin Malone' },
    expect: {
      status: 200,
      body: [{
        name: 'Kevin Malone',
        tasks: [
          { name: 'Design w7', project: { name: 'Windows 7' } }, { name: 'Code w7', project: { name: 'Windows 7' } },
          { name: 'Design w10', project: { name: 'Windows 10' } }, { name: 'Code w10', project: { name: 'Windows 10' } },
        ],
      }],
    },
  },
  {
    id: 'E73b', title: 'PATCH with exact count', method: 'PATCH', path: '/no_pk?b=eq.0', headers: { Prefer: 'count=exact' }, body: { b: '1' },
    expect: { status: 204, headers: { 'content-range': '0-1/2', 'preference-applied': 'count=exact' } },
  },
];

// ------------------------------------------------------------------------------- F. delete

const F: ConformanceCase[] = [
  {
    id: 'F77', title: 'DELETE without Prefer: 204', method: 'DELETE', path: '/items?id=eq.1',
    expect: { status: 204, body: { text: '' }, headers: { 'content-range': '*/*', 'content-type': null, 'content-length': null } },
  },
  {
    id: 'F78', title: 'DELETE with representation and count', method: 'DELETE', path: '/items?id=eq.2', headers: { Prefer: 'return=representation, count=exact' },
    expect: { status: 200, body: [{ id: 2 }], headers: { 'content-range': '*/1', 'content-length': '10', 'preference-applied': 'return=representation, count=exact' } },
  },
  {
    id: 'F79', title: 'DELETE representation with an embed', method: 'DELETE', path: '/tasks?id=eq.8&select=id,name,project:projects(id)', headers: repr,
    expect: { status: 200, body: [{ id: 8, name: 'Code OSX', project: { id: 4 } }] },
  },
  { id: 'F80a', title: 'DELETE matching nothing with representation', method: 'DELETE', path: '/items?id=eq.101', headers: repr, expect: { status: 200, body: [] } },
  {
    id: 'F80b', title: 'DELETE on an unknown table', method: 'DELETE', path: '/foozle?id=eq.101',
    expect: { status: 404, bodyMatch: { code: 'PGRST205', message: "Could not find the table 'test.foozle' in the schema cache" } },
  },
  {
    id: 'F81a', title: 'DELETE representation of a column anon cannot SELECT', method: 'DELETE', path: '/app_users?id=eq.1', headers: repr,
    expect: { status: 401, body: err('42501', 'permission denied for table app_users') },
  },
  {
    id: 'F81b', title: 'DELETE representation of permitted columns', method: 'DELETE', path: '/app_users?id=eq.1&select=id,email', headers: repr,
    expect: { status: 200, body: [{ id: 1, email: 'test@123.com' }] },
  },
  {
    id: 'F82a', title: 'max-affected exceeded', method: 'DELETE', path: '/items?id=lt.15', headers: { Prefer: 'handling=strict, max-affected=10' },
    expect: { status: 400, body: err('PGRST124', 'Query result exceeds max-affected preference constraint', 'The query affects 14 rows'), headers: { 'preference-applied': null } },
  },
  {
    id: 'F82b', title: 'max-affected respected', method: 'DELETE', path: '/items?id=lt.10', headers: { Prefer: 'handling=strict, max-affected=10' },
    expect: { status: 204, headers: { 'preference-applied': 'handling=strict, max-affected=10' } },
  },
  {
    id: 'F82c', title: 'max-affected is ignored when lenient', method: 'DELETE', path: '/items?id=lt.15', headers: { Prefer: 'handling=lenient, max-affected=10' },
    expect: { status: 204, headers: { 'preference-applied': 'handling=lenient' } },
  },
  {
    id: 'F78b', title: 'DELETE with exact count, no representation', method: 'DELETE', path: '/items?id=lt.3', headers: { Prefer: 'count=exact' },
    expect: { status: 204, headers: { 'content-range': '*/2', 'preference-applied': 'count=exact' } },
  },
];

// ---------------------------------------------------------------------------------- G. RPC

const G: ConformanceCase[] = [
  { id: 'G83a', title: 'POST set-returning function', method: 'POST', path: '/rpc/getitemrange', body: { min: 2, max: 4 }, expect: { status: 200, body: ids(3, 4), headers: ct } },
  { id: 'G83b', title: 'GET with arguments in the query', method: 'GET', path: '/rpc/getitemrange?min=2&max=4', expect: { status: 200, body: ids(3, 4) } },
  {
    id: 'G84a', title: 'limit/offset on a function result', method: 'POST', path: '/rpc/getitemrange?limit=1&offset=1', body: { min: 2, max: 4 },
    expect: { status: 200, body: ids(4), headers: { 'content-range': '1-1/*', 'content-length': '10' } },
  },
  {
    id: 'G84b', title: 'partial function result with exact count: 206', method: 'POST', path: '/rpc/getitemrange?limit=1&offset=1', headers: { Prefer: 'count=exact' },
    body: { min: 2, max: 4 }, expect: { status: 206, body: ids(4), headers: { 'content-range': '1-1/2' } },
  },
  {
    id: 'G84c', title: 'HEAD on a function', method: 'HEAD', path: '/rpc/getitemrange?min=2&max=4&limit=1&offset=1',
    expect: { status: 200, body: { text: '' }, headers: { 'content-range': '1-1/*', 'content-length': null } },
  },
  {
    id: 'G85a', title: 'scalar result with exact count', method: 'GET', path: '/rpc/add_them?a=3&b=4', headers: { Prefer: 'count=exact' },
    expect: { status: 200, body: 7, headers: { 'content-range': '0-0/1' } },
  },
  {
    id: 'G85b', title: 'extra argument: no such function', method: 'GET', path: '/rpc/add_them?a=1&b=2&smthelse=blabla',
    expect: {
      status: 404,
      body: err(
        'PGRST202',
        'Could not find the function test.add_them(a, b, smthelse) in the schema cache',
        'Searched for the function test.add_them with parameters a, b, smthelse, but no matches were found in the schema cache.',
        'Perhaps you meant to call the function test.add_them(a, b)',
      ),
    },
  },
  {
    id: 'G86', title: 'misspelled function', method: 'GET', path: '/rpc/sayhell',
    expect: {
      status: 404,
      body: err(
        'PGRST202',
        'Could not find the function test.sayhell without parameters in the schema cache',
        'Searched for the function test.sayhell without parameters, but no matches were found in the schema cache.',
        'Perhaps you meant to call the function test.sayhello',
      ),
    },
  },
  { id: 'G87a', title: 'scalar text result', method: 'POST', path: '/rpc/sayhello', body: { name: 'world' }, expect: { status: 200, body: 'Hello, world', headers: ct } },
  { id: 'G87b', title: 'repeated GET argument: last wins', method: 'GET', path: '/rpc/sayhello?name=ignored&name=world', expect: { status: 200, body: 'Hello, world' } },
  { id: 'G87c', title: 'POST with a non-filter query parameter', method: 'POST', path: '/rpc/sayhello?name=John', body: { name: 'world' }, expect: { status: 400, bodyMatch: { code: 'PGRST100' } } },
  {
    id: 'G88a', title: 'void function: 204 without Content-Type', method: 'POST', path: '/rpc/ret_void', body: {},
    expect: { status: 204, body: { text: '' }, headers: { 'content-type': null, 'content-length': null } },
  },
  { id: 'G88b', title: 'null scalar', method: 'POST', path: '/rpc/ret_null', body: {}, expect: { status: 200, body: null } },
  { id: 'G88c', title: 'setof scalar', method: 'POST', path: '/rpc/ret_setof_integers', body: {}, expect: { status: 200, body: [1, 2, 3] } },
  { id: 'G88d', title: 'composite result is an object', method: 'POST', path: '/rpc/ret_point_2d', body: {}, expect: { status: 200, body: { x: 10, y: 5 } } },
  { id: 'G88e', title: 'single row of a table type with select', method: 'POST', path: '/rpc/single_article?select=id', body: { id: 2 }, expect: { status: 200, body: { id: 2 } } },
  {
    id: 'G89a', title: 'filters, select, limit and offset on a function', method: 'GET', path: '/rpc/getallprojects?id=gt.1&id=lt.5&select=id&limit=2&offset=1',
    expect: { status: 200, body: ids(3, 4), headers: { 'content-range': '1-2/*' } },
  },
  {
    id: 'G89b', title: 'embeds on a function result', method: 'GET', path: '/rpc/getproject?id=1&select=id,name,client:clients(id),tasks(id)',
    expect: { status: 200, body: [{ id: 1, name: 'Windows 7', client: { id: 1 }, tasks: ids(1, 2) }] },
  },
  { id: 'G89c', title: 'empty select on a function', method: 'GET', path: '/rpc/getallprojects?select=&id=eq.1', expect: { status: 200, body: [PROJECTS[0]] } },
  { id: 'G90', title: 'same name as argument and filter', method: 'GET', path: '/rpc/get_projects_below?id=5&id=gt.2&select=id', expect: { status: 200, body: ids(3, 4) } },
  { id: 'G91a', title: 'GET on a volatile function that writes: 405', method: 'GET', path: '/rpc/callcounter', expect: { status: 405, bodyMatch: { code: '25006' } } },
  { id: 'G91b', title: 'POST on a volatile function', method: 'POST', path: '/rpc/callcounter', body: {}, expect: { status: 200, body: 1 } },
  {
    id: 'G91c', title: 'POST on a volatile function commits', method: 'POST', path: '/rpc/callcounter', body: {}, setup: [{ method: 'POST', path: '/rpc/callcounter', body: {} }],
    expect: { status: 200, body: 2 },
  },
  {
    id: 'G92', title: 'function without parameters, empty body', method: 'POST', path: '/rpc/noparamsproc', body: '', headers: { 'Content-Type': 'application/json' },
    expect: { status: 200, body: 'Return value of no parameters procedure.' },
  },
  { id: 'G93a', title: 'VARIADIC from a JSON array', method: 'POST', path: '/rpc/variadic_param', body: { v: ['hi', 'hello', 'there'] }, expect: { status: 200, body: ['hi', 'hello', 'there'] } },
  { id: 'G93b', title: 'VARIADIC default', method: 'GET', path: '/rpc/variadic_param', expect: { status: 200, body: [] } },
  { id: 'G93c', title: 'VARIADIC from repeated query parameters', method: 'GET', path: '/rpc/variadic_param?v=hi&v=there', expect: { status: 200, body: ['hi', 'there'] } },
  { id: 'G94a', title: 'single unnamed json parameter gets the body', method: 'POST', path: '/rpc/unnamed_json_param', body: { A: 1, B: 2, C: 3 }, expect: { status: 200, body: { A: 1, B: 2, C: 3 } } },
  { id: 'G94b', title: 'array body: first object is used', method: 'POST', path: '/rpc/add_them', body: [{ a: 1, b: 2 }, { a: 4, b: 6 }], expect: { status: 200, body: 3 } },
  {
    id: 'G95', title: 'DELETE on RPC', method: 'DELETE', path: '/rpc/sayhello',
    expect: { status: 405, body: err('PGRST101', 'Cannot use the DELETE method on RPC'), headers: { 'content-length': '94' } },
  },
  {
    id: 'G96a', title: 'RAISE SQLSTATE PT402', method: 'GET', path: '/rpc/raise_pt402',
    expect: { status: 402, body: err('PT402', 'Payment Required', 'Quota exceeded', 'Upgrade your plan'), headers: { 'proxy-status': 'PostgREST; error=PT402' } },
  },
  { id: 'G96b', title: 'invalid PT status: 500', method: 'GET', path: '/rpc/raise_bad_pt', expect: { status: 500, bodyMatch: { code: 'PT40A', message: 'Wrong' } } },
  { id: 'G96c', title: 'plain RAISE: 400', method: 'POST', path: '/rpc/problem', body: {}, expect: { status: 400, body: err('P0001', 'bad thing') } },
  {
    id: 'G97', title: 'RAISE SQLSTATE PGRST with custom status, reason and headers', method: 'GET', path: '/rpc/raise_sqlstate_test1',
    expect: { status: 332, statusText: 'My Custom Status', body: err('123', 'ABC', 'DEF', 'XYZ'), headers: { 'x-header': 'str' } },
  },
  {
    id: 'G98a', title: 'response.headers GUC', method: 'GET', path: '/rpc/get_projects_and_guc_headers?id=eq.2&select=id',
    expect: { status: 200, body: ids(2), headers: { 'x-test': 'key1=val1; someValue; key2=val2', 'x-test-2': 'key1=val1' } },
  },
  { id: 'G98b', title: 'response.status GUC', method: 'GET', path: '/rpc/send_body_status_403', expect: { status: 403, body: { message: 'invalid user or password' } } },
  {
    id: 'G98c', title: 'two Set-Cookie headers from response.headers', method: 'GET', path: '/rpc/set_cookie_twice',
    expect: {
      status: 204,
      headers: { 'content-type': null, 'set-cookie': ['sessionid=38afes7a8; HttpOnly; Path=/', 'id=a3fWa; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly'] },
    },
  },
  {
    id: 'G99a', title: 'request.headers GUC', method: 'POST', path: '/rpc/get_guc_value', headers: { 'Custom-Header': 'test' }, body: { prefix: 'request.headers', name: 'custom-header' },
    expect: { status: 200, body: 'test' },
  },
  { id: 'G99b', title: 'request.jwt.claims role', method: 'POST', path: '/rpc/get_guc_value', body: { prefix: 'request.jwt.claims', name: 'role' }, expect: { status: 200, body: 'anon' } },
  {
    id: 'G99c', title: 'request.cookies GUC', method: 'POST', path: '/rpc/get_guc_value', headers: { Cookie: 'acookie=cookievalue;secondcookie=anothervalue' },
    body: { prefix: 'request.cookies', name: 'secondcookie' }, expect: { status: 200, body: 'anothervalue' },
  },
  { id: 'G99d', title: 'request.method GUC', method: 'POST', path: '/rpc/get_guc_value', body: { name: 'request.method' }, expect: { status: 200, body: 'POST' } },
  { id: 'G99e', title: 'request.path GUC', method: 'POST', path: '/rpc/get_guc_value', body: { name: 'request.path' }, expect: { status: 200, body: '/rpc/get_guc_value' } },
  {
    id: 'G99f', title: 'Authorization is in request.headers', method: 'POST', path: '/rpc/get_guc_value', authorization: 'Bearer ${token}',
    body: { prefix: 'request.headers', name: 'authorization' }, expect: { status: 200, body: 'Bearer ${token}' },
  },
  {
    id: 'G100', title: 'ambiguous overloads', method: 'GET', path: '/rpc/overloaded_same_args?arg=value',
    expect: {
      status: 300,
      body: err(
        'PGRST203',
        'Could not choose the best candidate function between: test.overloaded_same_args(arg => integer), test.overloaded_same_args(arg => xml), test.overloaded_same_args(arg => text, num => integer)',
        null,
        'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
      ),
      headers: { 'content-length': '353' },
    },
  },
  {
    id: 'G101', title: 'max-affected on a function not returning a set', method: 'POST', path: '/rpc/delete_items_returns_void', headers: { Prefer: 'handling=strict, max-affected=20' }, body: {},
    expect: { status: 400, body: err('PGRST128', 'Function must return SETOF or TABLE when max-affected preference is used with handling=strict') },
  },
];

// ------------------------------------------------------------------------------ H. ranges

const H: ConformanceCase[] = [
  {
    id: 'H102a', title: 'limit and offset', method: 'GET', path: '/items?select=id&order=id.asc&limit=3&offset=2',
    expect: { status: 200, body: ids(3, 4, 5), headers: { 'content-range': '2-4/*' } },
  },
  {
    id: 'H102b', title: 'HEAD with limit and offset', method: 'HEAD', path: '/items?select=id&order=id.asc&limit=3&offset=2',
    expect: { status: 200, body: { text: '' }, headers: { ...ct, 'content-range': '2-4/*', 'content-length': null } },
  },
  {
    id: 'H103', title: 'Range header within limit', method: 'GET', path: '/items?select=id&order=id.asc&limit=3', headers: { Range: '0-1', 'Range-Unit': 'items' },
    expect: { status: 200, body: ids(1, 2), headers: { 'content-range': '0-1/*' } },
  },
  {
    id: 'H104a', title: 'Range past the end', method: 'GET', path: '/items?select=id&order=id', headers: { Range: '10-100' },
    expect: { status: 200, body: ids(11, 12, 13, 14, 15), headers: { 'content-range': '10-14/*' } },
  },
  {
    id: 'H104b', title: 'Range with lower > upper', method: 'GET', path: '/items', headers: { Range: '1-0' },
    expect: { status: 416, body: err('PGRST103', 'Requested range not satisfiable', 'The lower boundary must be lower than or equal to the upper boundary in the Range header.') },
  },
  {
    id: 'H105a', title: 'exact count of nothing', method: 'GET', path: '/items?id=eq.0', headers: { Prefer: 'count=exact' },
    expect: { status: 200, body: [], headers: { 'content-range': '*/0' } },
  },
  {
    id: 'H105b', title: 'offset past the exact count: 416', method: 'GET', path: '/items?offset=100', headers: { Prefer: 'count=exact' },
    expect: { status: 416, body: err('PGRST103', 'Requested range not satisfiable', 'An offset of 100 was requested, but there are only 15 rows.'), headers: { 'content-range': '*/15' } },
  },
  { id: 'H105c', title: 'offset past the end without count', method: 'GET', path: '/items?offset=100', expect: { status: 200, body: [], headers: { 'content-range': '*/*' } } },
  {
    id: 'H105d', title: 'partial page with exact count: 206', method: 'GET', path: '/items?select=id&order=id&limit=2', headers: { Prefer: 'count=exact' },
    expect: { status: 206, body: ids(1, 2), headers: { 'content-range': '0-1/15', 'preference-applied': 'count=exact' } },
  },
  { id: 'H106a', title: 'limit=0', method: 'GET', path: '/items?select=id&limit=0', expect: { status: 200, body: [], headers: { 'content-range': '*/*' } } },
  {
    id: 'H106b', title: 'negative limit', method: 'GET', path: '/items?select=id&limit=-1',
    expect: { status: 416, body: err('PGRST103', 'Requested range not satisfiable', 'Limit should be greater than or equal to zero.') },
  },
  { id: 'H106c', title: 'negative offset is ignored', method: 'GET', path: '/items?select=id&offset=-4&order=id', expect: { status: 200, body: ids(...range(1, 15)), headers: { 'content-range': '0-14/*' } } },
  { id: 'H108', title: 'unknown count value is ignored', method: 'GET', path: '/items?order=id', headers: { Prefer: 'count=none' }, expect: { status: 200, headers: { 'content-range': '0-14/*' } } },
];

// ---------------------------------------------------------------------------- I. singular

const I: ConformanceCase[] = [
  { id: 'I110a', title: 'object media type', method: 'GET', path: '/items?id=eq.5', headers: single, expect: { status: 200, body: { id: 5 }, headers: { 'content-type': OBJECT_CT } } },
  {
    id: 'I110b', title: 'vnd.pgrst.object without +json', method: 'GET', path: '/items?id=eq.5', headers: { Accept: 'application/vnd.pgrst.object' },
    expect: { status: 200, body: { id: 5 } },
  },
  {
    id: 'I111', title: 'no row for an object: 406', method: 'GET', path: '/items?id=gt.0&id=lt.0', headers: single,
    expect: { status: 406, body: err('PGRST116', 'Cannot coerce the result to a single JSON object', 'The result contains 0 rows') },
  },
  {
    id: 'I111b', title: 'many rows for an object: 406', method: 'GET', path: '/items?id=lt.3', headers: single,
    expect: { status: 406, body: err('PGRST116', 'Cannot coerce the result to a single JSON object', 'The result contains 2 rows') },
  },
  {
    id: 'I112a', title: 'PATCH of many rows with object Accept: 406', method: 'PATCH', path: '/addresses', headers: { ...single, Prefer: 'tx=commit' }, body: { address: 'zzz' },
    expect: { status: 406, body: err('PGRST116', 'Cannot coerce the result to a single JSON object', 'The result contains 4 rows') },
  },
  {
    id: 'I112b', title: '…and it was rolled back', method: 'GET', path: '/addresses?id=eq.1',
    setup: [{ method: 'PATCH', path: '/addresses', headers: { ...single, Prefer: 'tx=commit' }, body: { address: 'zzz' } }],
    expect: { status: 200, body: [{ id: 1, address: 'address 1' }] },
  },
  {
    id: 'I112c', title: 'POST of two rows with object Accept: 406', method: 'POST', path: '/addresses', headers: { ...single, ...repr },
    body: [{ id: 200, address: 'xxx' }, { id: 201, address: 'yyy' }],
    expect: { status: 406, body: err('PGRST116', 'Cannot coerce the result to a single JSON object', 'The result contains 2 rows') },
  },
  {
    id: 'I112d', title: 'DELETE of five rows with object Accept is rolled back', method: 'GET', path: '/items?id=lt.6&select=id',
    setup: [{ method: 'DELETE', path: '/items?id=lt.6', headers: single }],
    expect: { status: 200, body: ids(1, 2, 3, 4, 5) },
  },
  {
    id: 'I113a', title: 'POST one row with object Accept', method: 'POST', path: '/addresses', headers: { ...single, ...repr }, body: [{ id: 102, address: 'xxx' }],
    expect: { status: 201, body: { id: 102, address: 'xxx' }, headers: { 'content-type': OBJECT_CT } },
  },
  {
    id: 'I113b', title: 'POST one row with object Accept and return=minimal', method: 'POST', path: '/addresses', headers: { ...single, Prefer: 'return=minimal' },
    body: [{ id: 103, address: 'xxx' }], expect: { status: 201, body: { text: '' }, headers: { 'content-range': '*/*' } },
  },
  {
    id: 'I114a', title: 'function returning one row as object', method: 'POST', path: '/rpc/getproject', headers: single, body: { id: 1 },
    expect: { status: 200, body: PROJECTS[0] },
  },
  { id: 'I114b', title: 'scalar function counts as one row', method: 'POST', path: '/rpc/sayhello', headers: single, body: { name: 'world' }, expect: { status: 200, body: 'Hello, world' } },
  {
    id: 'I114c', title: 'function returning many rows as object: 406', method: 'POST', path: '/rpc/getallprojects', headers: single, body: {},
    expect: { status: 406, body: err('PGRST116', 'Cannot coerce the result to a single JSON object', 'The result contains 5 rows') },
  },
  {
    id: 'I115', title: 'object with nulls stripped', method: 'GET', path: '/organizations?limit=1', headers: { Accept: 'application/vnd.pgrst.object+json;nulls=stripped' },
    expect: { status: 200, body: { id: 1, name: 'Referee Org', manager_id: 1 }, headers: { 'content-type': 'application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8' } },
  },
  {
    id: 'I115b', title: 'array with nulls stripped', method: 'GET', path: '/organizations?id=lt.3&order=id', headers: { Accept: 'application/vnd.pgrst.array+json;nulls=stripped' },
    expect: {
      status: 200,
      body: [{ id: 1, name: 'Referee Org', manager_id: 1 }, { id: 2, name: 'Auditor Org', manager_id: 2 }],
      headers: { 'content-type': 'application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8' },
    },
  },
];

// ---------------------------------------------------------------------------- J. errors/misc

const J: ConformanceCase[] = [
  {
    // PostgREST v14.17+ (its fix for hints that leak table names): a table is suggested only when
    // it is at least 75% similar; v13.0 suggested 'test.private_table' here.
    id: 'J116', title: 'unknown table (no hint below 75% similarity)', method: 'GET', path: '/faketable',
    expect: {
      status: 404,
      body: err('PGRST205', "Could not find the table 'test.faketable' in the schema cache"),
      headers: { ...ct, 'content-length': '120', 'proxy-status': 'PostgREST; error=PGRST205' },
    },
  },
  { id: 'J117', title: 'path too deep', method: 'GET', path: '/first/second/third', expect: { status: 404, body: err('PGRST125', 'Invalid path specified in request URL') } },
  {
    id: 'J118a', title: 'unknown Accept', method: 'GET', path: '/simple_pk', headers: { Accept: 'text/unknowntype' },
    expect: { status: 406, body: err('PGRST107', 'None of these media types are available: text/unknowntype') },
  },
  {
    id: 'J118b', title: 'unknown Accept with */* fallback', method: 'GET', path: '/simple_pk', headers: { Accept: 'text/unknowntype, */*' },
    expect: { status: 200, body: [{ k: 'xyyx', extra: 'u' }, { k: 'xYYx', extra: 'v' }], headers: ct },
  },
  {
    id: 'J118c', title: 'first acceptable media type wins', method: 'GET', path: '/simple_pk', headers: { Accept: 'text/csv, application/json' },
    expect: { status: 200, body: { text: 'k,extra\nxyyx,u\nxYYx,v' }, headers: { 'content-type': CSV_CT } },
  },
  {
    id: 'J119', title: 'unknown column', method: 'GET', path: '/datarep_todos?select=id,label_color,banana',
    expect: { status: 400, body: err('42703', 'column datarep_todos.banana does not exist') },
  },
  {
    id: 'J120a', title: 'handling=strict with an invalid preference', method: 'GET', path: '/items', headers: { Prefer: 'handling=strict, anything' },
    expect: { status: 400, body: err('PGRST122', 'Invalid preferences given with handling=strict', 'Invalid preferences: anything') },
  },
  {
    id: 'J120b', title: 'handling=lenient with an invalid preference', method: 'GET', path: '/items?id=eq.1', headers: { Prefer: 'handling=lenient, anything' },
    expect: { status: 200, body: ids(1), headers: { 'preference-applied': 'handling=lenient' } },
  },
  { id: 'J121a', title: 'infinite recursion: 500', method: 'GET', path: '/infinite_recursion?select=*', expect: { status: 500, bodyMatch: { code: '42P17' } } },
  { id: 'J121b', title: 'subquery returning many rows: 500', method: 'GET', path: '/bad_subquery', expect: { status: 500, bodyMatch: { code: '21000' } } },
  {
    id: 'J122a', title: 'OPTIONS on a table', method: 'OPTIONS', path: '/items',
    expect: { status: 200, body: { text: '' }, headers: { allow: 'OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE', 'content-length': '0' } },
  },
  { id: 'J122b', title: 'OPTIONS on an unknown table', method: 'OPTIONS', path: '/unknown', expect: { status: 404 } },
  { id: 'J122c', title: 'OPTIONS on a volatile function', method: 'OPTIONS', path: '/rpc/callcounter', expect: { status: 200, headers: { allow: 'OPTIONS,POST' } } },
  { id: 'J122d', title: 'OPTIONS on a stable function', method: 'OPTIONS', path: '/rpc/getitemrange', expect: { status: 200, headers: { allow: 'OPTIONS,GET,HEAD,POST' } } },
  { id: 'J122e', title: 'OPTIONS on a view', method: 'OPTIONS', path: '/articles', expect: { status: 200, headers: { allow: 'OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE' } } },
  { id: 'J122f', title: 'OPTIONS on the root', method: 'OPTIONS', path: '/', expect: { status: 200, headers: { allow: 'OPTIONS,GET,HEAD' } } },
  {
    id: 'J123a', known: GATEWAY_CORS, title: 'CORS exposes headers', method: 'GET', path: '/items', headers: { Origin: 'http://example.com' },
    expect: {
      status: 200,
      headers: {
        'access-control-allow-origin': '*',
        'access-control-expose-headers': 'Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, Transfer-Encoding, Range-Unit',
      },
    },
  },
  {
    id: 'J123b', known: GATEWAY_CORS, title: 'CORS preflight', method: 'OPTIONS', path: '/',
    headers: { Origin: 'http://example.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'Foo,Bar' },
    expect: {
      status: 200,
      headers: {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD',
        'access-control-allow-headers': 'Authorization, Foo, Bar, Accept, Accept-Language, Content-Language',
        'access-control-max-age': '86400',
      },
    },
  },
  {
    id: 'J124a', title: 'Accept-Profile selects a schema', method: 'GET', path: '/parents', headers: { 'Accept-Profile': 'v1' },
    expect: { status: 200, body: [{ id: 1, name: 'parent v1-1' }, { id: 2, name: 'parent v1-2' }], headers: { ...ct, 'content-profile': 'v1' } },
  },
  {
    id: 'J124b', title: 'another schema, same table name', method: 'GET', path: '/parents', headers: { 'Accept-Profile': 'v2' },
    expect: { status: 200, body: [{ id: 3, name: 'parent v2-3' }, { id: 4, name: 'parent v2-4' }], headers: { 'content-profile': 'v2' } },
  },
  {
    id: 'J124c', title: 'unknown schema', method: 'GET', path: '/parents', headers: { 'Accept-Profile': 'unknown' },
    expect: { status: 406, body: err('PGRST106', 'Invalid schema: unknown', null, 'Only the following schemas are exposed: test, v1, v2') },
  },
  {
    id: 'J124d', title: 'Content-Profile on insert, with an embed in that schema', method: 'POST', path: '/children?select=id,parent(*)',
    headers: { 'Content-Profile': 'v2', ...repr }, body: { id: 0, name: 'child v2-3', parent_id: 3 },
    expect: { status: 201, body: [{ id: 0, parent: { id: 3, name: 'parent v2-3' } }], headers: { 'content-profile': 'v2' } },
  },
  {
    id: 'J124e', title: 'table of another schema is not found', method: 'GET', path: '/another_table', headers: { 'Accept-Profile': 'v1' },
    expect: { status: 404, body: err('PGRST205', "Could not find the table 'v1.another_table' in the schema cache") },
  },
  {
    id: 'J124f', title: 'unknown Content-Profile', method: 'POST', path: '/children', headers: { 'Content-Profile': 'unknown' }, body: { name: 'child 4', parent_id: 4 },
    expect: { status: 406, body: err('PGRST106', 'Invalid schema: unknown', null, 'Only the following schemas are exposed: test, v1, v2') },
  },
  {
    id: 'J125a', title: 'tx=rollback still answers with the representation', method: 'POST', path: '/items', headers: { Prefer: 'return=representation, tx=rollback' }, body: { id: 0 },
    expect: { status: 201, body: [{ id: 0 }], headers: { 'preference-applied': 'return=representation, tx=rollback' } },
  },
  {
    id: 'J125b', title: '…and nothing is kept', method: 'GET', path: '/items?id=eq.0',
    setup: [{ method: 'POST', path: '/items', headers: { Prefer: 'return=representation, tx=rollback' }, body: { id: 0 } }],
    expect: { status: 200, body: [] },
  },
  {
    id: 'J125c', title: 'tx=commit is kept', method: 'GET', path: '/items?id=eq.0',
    setup: [{ method: 'POST', path: '/items', headers: { Prefer: 'return=representation, tx=commit' }, body: { id: 0 } }],
    expect: { status: 200, body: [{ id: 0 }] },
  },
  {
    id: 'J125d', title: 'errors carry no Preference-Applied', method: 'POST', path: '/items', headers: { Prefer: 'return=representation, tx=commit' }, body: { id: 1 },
    expect: { status: 409, bodyMatch: { code: '23505' }, headers: { 'preference-applied': null } },
  },
  {
    id: 'J125e', title: 'deferred constraint violations surface under tx=rollback', method: 'POST', path: '/rpc/raise_constraint', headers: { Prefer: 'tx=rollback' },
    body: { deferred: true }, expect: { status: 409, bodyMatch: { code: '23505' } },
  },
  {
    id: 'J117b', title: 'unsupported HTTP method', method: 'PROPFIND', path: '/items',
    expect: { status: 405, body: err('PGRST117', 'Unsupported HTTP method: PROPFIND') },
  },
  {
    id: 'J117c', title: 'root is the OpenAPI document', method: 'GET', path: '/',
    expect: { status: 200, bodyMatch: { swagger: '2.0', basePath: '/' }, headers: { 'content-type': 'application/openapi+json; charset=utf-8' } },
  },
  { id: 'J117d', title: 'root with an unsupported Accept', method: 'GET', path: '/', headers: { Accept: 'text/csv' }, expect: { status: 406, bodyMatch: { code: 'PGRST107' } } },
];

// ------------------------------------------------------------------------------- K. auth

const authorClaims = (extra: Record<string, unknown> = {}) => ({ role: 'authenticated', ...extra });

const K: ConformanceCase[] = [
  {
    id: 'K126', title: 'anon without privilege: 401', method: 'GET', path: '/authors_only',
    expect: { status: 401, body: err('42501', 'permission denied for table authors_only'), headers: { 'www-authenticate': 'Bearer' } },
  },
  {
    id: 'K127a', title: 'authenticated without privilege: 403', method: 'GET', path: '/private_table', role: 'authenticated',
    expect: { status: 403, body: err('42501', 'permission denied for table private_table'), headers: { 'www-authenticate': null } },
  },
  { id: 'K127b', title: 'function executable by the role', method: 'POST', path: '/rpc/privileged_hello', role: 'authenticated', body: { name: 'jdoe' }, expect: { status: 200, body: 'Privileged hello to jdoe' } },
  {
    id: 'K127c', title: 'function not executable by anon: 401', method: 'POST', path: '/rpc/privileged_hello', body: { name: 'anonymous' },
    expect: { status: 401, body: err('42501', 'permission denied for function privileged_hello') },
  },
  { id: 'K128a', title: 'role with privilege', method: 'GET', path: '/authors_only', claims: authorClaims({ id: 'jdoe' }), expect: { status: 200, body: [] } },
  {
    id: 'K128b', title: 'lower-case bearer scheme', method: 'GET', path: '/authors_only', claims: authorClaims({ id: 'jdoe' }), authorization: 'bearer ${token}',
    expect: { status: 200, body: [] },
  },
  {
    id: 'K130a', title: 'expired token', method: 'GET', path: '/items', claims: { exp: 1446678149, role: 'authenticated' },
    expect: { status: 401, body: err('PGRST303', 'JWT expired'), headers: { 'www-authenticate': 'Bearer error="invalid_token", error_description="JWT expired"' } },
  },
  {
    id: 'K130b', title: 'token with two parts', method: 'GET', path: '/items', authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9',
    expect: { status: 401, body: err('PGRST301', 'Expected 3 parts in JWT; got 2') },
  },
  {
    id: 'K131a', title: 'non-numeric exp', method: 'GET', path: '/items', claims: { exp: 'invalid', role: 'authenticated' },
    expect: { status: 401, body: err('PGRST303', "The JWT 'exp' claim must be a number") },
  },
  {
    id: 'K131b', title: 'aud of the wrong type', method: 'GET', path: '/items', claims: { aud: { invalid: 'value' }, role: 'authenticated' },
    expect: { status: 401, body: err('PGRST303', "The JWT 'aud' claim must be a string or an array of strings") },
  },
  {
    id: 'K131c', title: 'bad signature', method: 'GET', path: '/items', authorization: 'Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYW5vbiJ9.Xod-F15qsGL0WhdOCr2j3DdKuTw9QJERVgoFD3vGaWA', expect: { status: 401, body: err('PGRST301', 'JWT cryptographic operation failed') },
  },
  { id: 'K132', title: 'token without role is anon', method: 'GET', path: '/authors_only', claims: { id: 'jdoe' }, expect: { status: 401, bodyMatch: { code: '42501' } } },
  {
    id: 'K135', title: 'functions see every JWT claim', method: 'POST', path: '/rpc/reveal_big_jwt', body: {},
    claims: { iss: 'joe', sub: 'fun', exp: FAR_FUTURE, nbf: 1300819380, iat: 1300819380, jti: 'foo', role: 'authenticated', 'http://postgrest.com/foo': true },
    expect: { status: 200, body: [{ iss: 'joe', sub: 'fun', exp: FAR_FUTURE, nbf: 1300819380, iat: 1300819380, jti: 'foo', 'http://postgrest.com/foo': true }] },
  },
  {
    id: 'K135b', title: 'request.jwt.claims has the effective role', method: 'POST', path: '/rpc/get_guc_value', claims: { id: 'jdoe' },
    body: { prefix: 'request.jwt.claims', name: 'role' }, expect: { status: 200, body: 'anon' },
  },
  {
    id: 'K136', title: 'trigger reads the JWT claims', method: 'POST', path: '/authors_only', claims: authorClaims({ id: 'jroe' }), headers: repr,
    body: { secret: 'lolcat', owner: 'hacker' }, expect: { status: 201, body: [{ owner: 'jroe', secret: 'lolcat' }] },
  },
];

export const CASES: ConformanceCase[] = [...A, ...B, ...C, ...D, ...E, ...F, ...G, ...H, ...I, ...J, ...K];
