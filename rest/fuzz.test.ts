/**
 * Property-based security fuzz of the REST engine over HTTP: random and adversarial requests built
 * from the PostgREST grammar (docs/postgrest.md §1–2) go through the embedded stack
 * to the real engine and a real Postgres (rest-basic.sql plus the extras below). Real table, column,
 * relationship and function names are mixed with hostile ones (SQL injection strings, quotes, null
 * bytes, huge numbers, unicode, deep nesting).
 *
 * Properties, for every request:
 * - never 5xx (no allow-list: a 503/504 would mean connection trouble and fails too), except the
 *   known engine bugs listed in KNOWN_BUGS (each pinned by an `it.fails` regression below);
 * - every error body is exactly `{code, details, hint, message}`, JSON, with a JSON content type;
 * - `code` is never a SQLSTATE that means the engine built bad SQL or bad parameters
 *   (42601 syntax error — except Postgres' own "syntax error in tsquery/tsvector", which is about the
 *   user's search text —, 42P18/42P02/08P01 parameter problems, XX000–XX002 internal errors);
 * - 2xx JSON bodies parse.
 * RLS properties (tenant A = JWT tenant_id A): reads of `todos`, of `projects` embedding `todos`,
 * of `tenants`, counts (`Prefer: count=exact`, Content-Range) and RPCs (`todo_count`, `whoami`,
 * `my_todos`) never show a tenant-B row, and never count more than A's rows; writes as A never
 * change tenant B's rows (checked with a superuser query after every write). At the end the
 * database still has all its relations, policies and a canary table no API role can touch.
 *
 * Budget: ~500 requests in total (FUZZ_RUNS scales it). FUZZ_SEED=<n> replays a run; the seed is
 * printed on failure.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const SEED = process.env.FUZZ_SEED !== undefined && process.env.FUZZ_SEED !== '' ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
const SCALE = Number(process.env.FUZZ_RUNS ?? 1) || 1;
const RUNS = { generic: Math.ceil(260 * SCALE), rlsRead: Math.ceil(130 * SCALE), rlsWrite: Math.ceil(100 * SCALE) };
const REQUEST_TIMEOUT_MS = 10_000;

const TENANT_A = '00000000-0000-4000-8000-00000000000a';
const TENANT_B = '00000000-0000-4000-8000-00000000000b';
const USER_A = '11111111-1111-4111-8111-11111111111a';
const USER_B = '11111111-1111-4111-8111-11111111111b';
/** Tenant B's todos get ids and titles nothing else has, so a leaked row is recognisable anywhere. */
const B_IDS = [77700001, 77700002, 77700003];
const B_MARKERS = ['b: secret', TENANT_B, 'Tenant B', 'tenant-b'];
const B_ID_PATTERN = /(?<![0-9])7770000[1-3](?![0-9])/;

/** Loaded after rest-basic.sql. B's rows sit on project 1 (A's project) too, to catch embed leaks. */
const EXTRA_SQL = `
delete from public.todos where tenant_id = '${TENANT_B}';
insert into public.todos (id, tenant_id, owner, title, done, project_id) overriding system value values
  (${B_IDS[0]}, '${TENANT_B}', '${USER_B}', 'b: secret one', true, 1),
  (${B_IDS[1]}, '${TENANT_B}', '${USER_B}', 'b: secret two', true, 3),
  (${B_IDS[2]}, '${TENANT_B}', null, 'b: secret three', true, null);
create function public.my_todos() returns setof public.todos language sql stable as $$ select * from public.todos $$;
create function public.fuzz_settings() returns text language sql stable
  as $$ select current_user || ' ' || current_setting('statement_timeout') $$;
create table public.fuzz_text_pk (k text primary key, v text);
create table public.fuzz_canary (id int primary key, note text);
insert into public.fuzz_canary values (1, 'still here');
revoke all on public.fuzz_canary from anon, authenticated, service_role;
`;

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------

interface TableInfo {
  cols: string[];
  /** Embeddable names (relation names, FK columns) → target table. */
  rels: Record<string, string>;
}

const TABLES: Record<string, TableInfo> = {
  clients: { cols: ['id', 'name'], rels: { projects: 'projects' } },
  projects: { cols: ['id', 'name', 'client_id'], rels: { clients: 'clients', client_id: 'clients', tasks: 'tasks', todos: 'todos' } },
  tasks: { cols: ['id', 'name', 'project_id'], rels: { projects: 'projects', users: 'users', users_tasks: 'users_tasks' } },
  users: { cols: ['id', 'name'], rels: { tasks: 'tasks', users_tasks: 'users_tasks' } },
  users_tasks: { cols: ['user_id', 'task_id'], rels: { users: 'users', tasks: 'tasks' } },
  complex_items: { cols: ['id', 'name', 'settings', 'arr_data', 'field-with_sep'], rels: {} },
  items: { cols: ['id', 'note'], rels: {} },
  no_pk: { cols: ['a', 'b'], rels: {} },
  chores: { cols: ['id', 'name', 'done'], rels: {} },
  ranges: { cols: ['id', 'range'], rels: {} },
  entities: { cols: ['id', 'name', 'arr', 'text_search_vector'], rels: {} },
  todos: { cols: ['id', 'tenant_id', 'owner', 'title', 'done', 'project_id'], rels: { projects: 'projects', project_id: 'projects', tenants: 'tenants' } },
  tenants: { cols: ['id', 'name', 'slug', 'metadata', 'created_at'], rels: { todos: 'todos' } },
  fuzz_text_pk: { cols: ['k', 'v'], rels: {} },
  fuzz_canary: { cols: ['id', 'note'], rels: {} },
};
const TABLE_NAMES = Object.keys(TABLES);
const ALL_COLS = [...new Set(Object.values(TABLES).flatMap((t) => t.cols))];

/** Functions and their argument names; the table a set-returning one returns rows of. */
const FUNCS: Record<string, { args: string[]; table?: string }> = {
  getitemrange: { args: ['min', 'max'], table: 'items' },
  sayhello: { args: ['name'] },
  add_them: { args: ['a', 'b'] },
  ret_void: { args: [] },
  ret_setof_integers: { args: [] },
  getproject: { args: ['id'], table: 'projects' },
  add_item: { args: ['note'] },
  whoami: { args: [] },
  todo_count: { args: [] },
  my_todos: { args: [], table: 'todos' },
  current_tenant_id: { args: [] },
  enable_tenant_isolation: { args: ['target'] },
  fuzz_settings: { args: [] },
};

const HINTS = [
  'inner', 'left', 'projects_client_id_fkey', 'tasks_project_id_fkey', 'todos_project_id_fkey', 'todos_tenant_id_fkey',
  'users_tasks_user_id_fkey', 'users_tasks_task_id_fkey', 'client_id', 'project_id', 'users_tasks', 'nope',
];

const INJECTIONS = [
  "'; drop table todos; --", '"; drop table todos; --', '") or 1=1 --', "' or '1'='1", "1; select pg_sleep(5)", "1) or (1=1",
  '$1', '$2::text', '$$', '$tag$ x $tag$', '?', '%s', '%', '_', '\\', '\\"', "''", '""', '"', "'", '\u0000', 'a\u0000b', '--', '/*', '*/', ';',
  'null', 'NULL', '{', '}', '(', ')', '[', ']', ',', '.', ':', '::', '->', '->>', '!', '*', '1e400', '-0', 'NaN', 'Infinity', '-Infinity',
  '99999999999999999999999999', '-9223372036854775809', '9223372036854775808', '0x10', "E'\\x41'", 'U&"\\0041"',
  'pg_catalog.pg_sleep(5)', 'current_user', '"todos"', 'public.todos', 'pg_authid', '🙂', 'ß', 'ǅ', '\u202e', '\ud800', '\udfff',
  ' ', '\t', '\n', '\r\n', 'a'.repeat(600), '('.repeat(200), '{'.repeat(200), '\\x00', '%00', '%zz', 'select', 'order', 'limit',
];

/** Values safe to write anywhere (never a B marker, never a B id). */
const VALUES = [
  '1', '2', '0', '-1', '3', '15', '999', 'a: first', 'a: second', 'Windows 7', 'Microsoft', 'Design*', '%OS%', '*', 'true', 'false',
  'null', '2020-01-01', '2020-01-01T00:00:00Z', '{"foo":{"int":1}}', '{1,2}', '{}', '[1,3]', '(3,10]', 'empty', 'foo', 'foo & bar',
  'bar:2', "it's", 'entity 1', TENANT_A, USER_A, USER_B, '00000000-0000-4000-8000-000000000000', 'todos', 'public.todos',
];
/** Filter values that go after tenant B's rows (filters only: they are never written). */
const B_PROBES = ['b: secret one', 'b: secret*', 'b:*', TENANT_B, String(B_IDS[0]), String(B_IDS[1]), String(B_IDS[2]), '77700000', 'Tenant B'];

const CASTS = [
  'text', 'int', 'integer', 'bigint', 'numeric', 'json', 'jsonb', 'bool', 'uuid', 'date', 'tsvector', '_int4', 'regclass',
  'regproc', 'xml', 'bytea', 'double precision', 'character varying', 'unknowntype', 'todos', 'int4range', 'money', 'interval',
];
const JSON_KEYS = ['foo', 'bar', 'int', '0', '1', '-1', '10', 'a b', '"quoted,key"', '"->"', '$1', '"\'; drop table todos; --"'];
const LANGS = ['english', 'simple', 'german', 'xx', 'pg_catalog.english', 'english;drop', "'english'", 'a b'];

// ---------------------------------------------------------------------------------------------
// Small arbitraries. Every generator takes `h` ("hostile"): false keeps to names and values that
// fit the schema, so requests get deep into planning and SQL; true mixes in the hostile vocabulary.
// ---------------------------------------------------------------------------------------------

const pick = <T,>(xs: readonly T[]) => fc.constantFrom(...xs);
/** `rec[key]` for own keys only (generated names include `constructor`, `__proto__`, `toString`). */
const own = <T,>(rec: Record<string, T>, key: string): T | undefined => (Object.hasOwn(rec, key) ? rec[key] : undefined);
/** `arb` about one draw in `n`, else undefined. */
const sometimes = <T,>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
/** `tame`, or when hostile, `wild` about one draw in `n`. */
const mix = <T,>(h: boolean, tame: fc.Arbitrary<T>, wild: fc.Arbitrary<T>, n = 4): fc.Arbitrary<T> =>
  h ? fc.oneof({ weight: n - 1, arbitrary: tame }, { weight: 1, arbitrary: wild }) : tame;
/** PostgREST's quoted field name (and Postgres' array element quoting): backslash escapes. */
const quoteName = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
const anyText = fc.string({ unit: 'grapheme', maxLength: 16 });

type Kind = 'num' | 'text' | 'bool' | 'array' | 'range' | 'tsv' | 'json' | 'uuid' | 'time';
const COLUMN_KINDS: Record<string, Kind> = {
  id: 'num', client_id: 'num', project_id: 'num', user_id: 'num', task_id: 'num', 'field-with_sep': 'num',
  name: 'text', note: 'text', title: 'text', a: 'text', b: 'text', k: 'text', v: 'text', slug: 'text',
  done: 'bool', arr_data: 'array', arr: 'array', range: 'range', text_search_vector: 'tsv', settings: 'json', metadata: 'json',
  tenant_id: 'uuid', owner: 'uuid', created_at: 'time',
};
const kindOf = (col: string): Kind => own(COLUMN_KINDS, col) ?? 'text';
const KIND_VALUES: Record<Kind, string[]> = {
  num: ['1', '2', '3', '0', '-1', '4', '15'],
  text: ['Microsoft', 'Windows 7', 'IOS', 'a: first', 'entity 1', 'x', 'Design w7', 'Windows*', '*OS*', 'a:*', "it's", 'foo & bar'],
  bool: ['true', 'false'],
  array: ['{1,2}', '{1}', '{}', '{2,3}'],
  range: ['[1,3]', '(3,10]', '[0,4]', 'empty', '[5,5]'],
  tsv: ['foo', 'bar', 'foo & bar', 'qux', 'foo bar'],
  json: ['{"foo":{"int":1}}', '{}', '{"a":1}', '1', '"baz"'],
  uuid: [TENANT_A, USER_A, '00000000-0000-4000-8000-000000000000'],
  time: ['2020-01-01', '2020-01-01T00:00:00Z', 'now'],
};
/** Operators that make sense per kind; `q` = any/all-quantified comparison. */
const KIND_OPS: Record<Kind, string[]> = {
  num: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'is', 'isdistinct', 'q'],
  text: ['eq', 'neq', 'gt', 'like', 'ilike', 'match', 'imatch', 'in', 'is', 'isdistinct', 'fts', 'q'],
  bool: ['is', 'eq', 'neq', 'isdistinct'],
  array: ['cs', 'cd', 'ov', 'eq', 'is'],
  range: ['sl', 'sr', 'nxr', 'nxl', 'adj', 'ov', 'cs', 'cd', 'eq', 'is'],
  tsv: ['fts', 'is'],
  json: ['eq', 'is', 'cs', 'cd'],
  uuid: ['eq', 'neq', 'in', 'is'],
  time: ['gt', 'lt', 'eq', 'is'],
};
const ALL_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch', 'isdistinct', 'in', 'is', 'fts', 'q', 'cs', 'cd', 'ov', 'sl', 'sr', 'nxr', 'nxl', 'adj'];
const TAME_CASTS: Record<Kind, string[]> = {
  num: ['text', 'bigint', 'numeric', 'int', 'double precision'],
  text: ['text', 'varchar', 'character varying'],
  bool: ['text', 'int'],
  array: ['text', 'json', 'jsonb'],
  range: ['text'],
  tsv: ['text'],
  json: ['text', 'jsonb'],
  uuid: ['text'],
  time: ['text', 'date'],
};

const hostileName = fc.oneof(pick(INJECTIONS).map(quoteName), pick(INJECTIONS), anyText, pick(['count', 'tenant_id', 'Todos', 'ID', 'id ', ' id', '*']));
const colsOf = (table: string) => own(TABLES, table)?.cols ?? ALL_COLS;
const fieldName = (table: string, h: boolean) =>
  mix(h, pick(colsOf(table)), fc.oneof({ weight: 3, arbitrary: pick(ALL_COLS) }, { weight: 2, arbitrary: hostileName }), 5);
const jsonPath = (h: boolean) =>
  fc.array(fc.tuple(pick(['->', '->>']), mix(h, pick(['foo', 'bar', 'int', 'a', '0', '1', '-1']), fc.oneof(pick(JSON_KEYS), pick(INJECTIONS)), 3)), { minLength: 1, maxLength: 3 })
    .map((steps) => steps.map(([a, k]) => `${a}${k}`).join(''));
/** A JSON path after a column: mostly none; tame ones only on json columns. */
const pathFor = (col: string, h: boolean) =>
  h || kindOf(col) === 'json' ? fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 1, arbitrary: jsonPath(h) }) : fc.constant('');
const castFor = (col: string, h: boolean) => mix(h, pick(TAME_CASTS[kindOf(col)]), fc.oneof({ weight: 5, arbitrary: pick(CASTS) }, { weight: 1, arbitrary: pick(INJECTIONS) }), 2);
const aliasArb = (h: boolean) => mix(h, pick(['x', 'y', 'alias', 'id', 'name', 'a b', 'Ünï', '$x', 'field-with_sep']), fc.oneof(pick(['count', '""']), hostileName));

const scalarValue = fc.oneof(
  { weight: 6, arbitrary: pick(VALUES) },
  { weight: 3, arbitrary: pick(INJECTIONS) },
  { weight: 2, arbitrary: anyText },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
);
const valueFor = (kind: Kind, h: boolean) =>
  mix(h, pick(KIND_VALUES[kind]), fc.oneof({ weight: 6, arbitrary: scalarValue }, { weight: 1, arbitrary: pick(B_PROBES) }), 2);
/** A value inside a logic tree, in-list or array literal: quoted when it holds `,(){}"\` (hostile: sometimes raw). */
const itemValue = (kind: Kind, h: boolean) =>
  fc.tuple(valueFor(kind, h), fc.nat(9)).map(([v, r]) => (/[,(){}"\\]/.test(v) && (!h || r > 2) ? quoteName(v) : v));

const COMPARE = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch', 'isdistinct'];
const QUANTIFIABLE = ['eq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch'];
const GARBAGE_OPS = ['eq', 'eq.', 'not.', 'not.eq', 'in.(', 'in.()', 'in.("a', 'is.', 'fts().x', 'eq(any).1', 'cs(any).{1}', 'not.not.eq.1', 'eq(some).{1}', 'fts(english'];

/** `[not.]op[(mod)].value` for column `col`; `inTree`: the value must survive inside `or=(…)`. */
function opExpr(col: string, h: boolean, inTree: boolean): fc.Arbitrary<string> {
  const kind = kindOf(col);
  const v = inTree ? itemValue(kind, h) : valueFor(kind, h);
  const list = fc.array(itemValue(kind, h), { maxLength: 4 }).map((xs) => xs.join(','));
  const one = (op: string): fc.Arbitrary<string> => {
    switch (op) {
      case 'in':
        return list.map((l) => `in.(${l})`);
      case 'is':
        return mix(h, pick(kind === 'bool' ? ['null', 'not_null', 'true', 'false', 'unknown'] : ['null', 'not_null']), fc.oneof(pick(['NULL', 'True', 'maybe', 'true']), pick(INJECTIONS)), 2).map((x) => `is.${x}`);
      case 'q':
        return fc.tuple(pick(kind === 'text' ? ['eq', 'like', 'ilike', 'match'] : h ? QUANTIFIABLE : ['eq', 'gt', 'gte', 'lt', 'lte']), pick(['any', 'all']), list).map(([o, q, l]) => `${o}(${q}).{${l}}`);
      case 'fts':
        return fc.tuple(pick(['fts', 'plfts', 'phfts', 'wfts']), sometimes(mix(h, pick(['english', 'simple']), pick(LANGS), 2), 3), v).map(([o, l, x]) => `${o}${l ? `(${l})` : ''}.${x}`);
      default:
        return v.map((x) => `${op}.${x}`);
    }
  };
  const ops = h ? ALL_OPS : KIND_OPS[kind];
  const expr = mix(h, fc.oneof(...ops.map(one)), fc.oneof(anyText, pick(INJECTIONS), pick(GARBAGE_OPS)), 8);
  return fc.tuple(fc.nat(4), expr).map(([n, e]) => `${n === 0 ? 'not.' : ''}${e}`);
}

/** `col[->path]` and an operator expression that fits it. */
const condition = (table: string, h: boolean, inTree: boolean) =>
  fieldName(table, h).chain((col) => fc.tuple(pathFor(col, h), opExpr(col, h, inTree)).map(([p, e]) => ({ field: `${col}${p}`, expr: e })));

// ---------------------------------------------------------------------------------------------
// select trees and the query string
// ---------------------------------------------------------------------------------------------

type Sel =
  | { t: 'star' }
  | { t: 'count'; alias?: string; cast?: string }
  | { t: 'field'; alias?: string; name: string; path: string; cast?: string; agg?: string }
  | { t: 'embed'; alias?: string; name: string; target?: string; hints: string[]; spread: boolean; items: Sel[] };

function renderSelect(items: Sel[]): string {
  return items
    .map((s) => {
      const a = 'alias' in s && s.alias !== undefined ? `${s.alias}:` : '';
      switch (s.t) {
        case 'star':
          return '*';
        case 'count':
          return `${a}count()${s.cast ? `::${s.cast}` : ''}`;
        case 'field':
          return `${a}${s.name}${s.path}${s.cast ? `::${s.cast}` : ''}${s.agg ?? ''}`;
        case 'embed':
          return `${s.spread ? '...' : a}${s.name}${s.hints.map((x) => `!${x}`).join('')}(${renderSelect(s.items)})`;
      }
    })
    .join(',');
}

/** Many-to-one embeds (`table.name` → target), the ones a related order may use. */
const TO_ONE: Record<string, string> = {
  'projects.clients': 'clients', 'projects.client_id': 'clients', 'tasks.projects': 'projects', 'users_tasks.users': 'users',
  'users_tasks.tasks': 'tasks', 'todos.projects': 'projects', 'todos.project_id': 'projects', 'todos.tenants': 'tenants',
};

interface EmbedPath {
  path: string[];
  table: string;
  /** To-one embeds at this level: the key to use in `order=key(col)` and the table it reaches. */
  toOne: { key: string; table: string }[];
}

/** Every level of a select tree: its path (alias or name per level), the table it reaches, its to-one embeds. */
function embedPaths(items: Sel[], table: string, prefix: string[] = []): EmbedPath[] {
  const toOne = items.flatMap((s) => (s.t === 'embed' && !s.spread && own(TO_ONE, `${table}.${s.name}`) ? [{ key: s.alias ?? s.name, table: TO_ONE[`${table}.${s.name}`] }] : []));
  const out: EmbedPath[] = [{ path: prefix, table, toOne }];
  for (const s of items) if (s.t === 'embed') out.push(...embedPaths(s.items, s.target ?? table, [...prefix, s.alias ?? s.name]));
  return out;
}

const selectCache = new Map<string, fc.Arbitrary<Sel[]>>();
/** A select list for `table`, with embeds `depth` levels deep at most. */
function selectArb(table: string, depth: number, h: boolean): fc.Arbitrary<Sel[]> {
  const key = `${table}/${depth}/${h}`;
  const cached = selectCache.get(key);
  if (cached) return cached;
  const rels = Object.entries(own(TABLES, table)?.rels ?? {});
  const field: fc.Arbitrary<Sel> = fieldName(table, h).chain((name) =>
    fc
      .record({
        alias: sometimes(aliasArb(h), 4),
        path: pathFor(name, h),
        cast: sometimes(castFor(name, h), 6),
        agg: sometimes(
          fc.tuple(mix(h, pick(kindOf(name) === 'num' ? ['sum', 'avg', 'max', 'min', 'count'] : ['max', 'min', 'count']), pick(['sum', 'avg'])), sometimes(castFor(name, h), 3)).map(([f, c]) => `.${f}()${c ? `::${c}` : ''}`),
          12,
        ),
      })
      .map((r): Sel => ({ t: 'field', name, ...r })),
  );
  const leaf = fc.oneof(
    { weight: 2, arbitrary: fc.constant<Sel>({ t: 'star' }) },
    { weight: 6, arbitrary: field },
    { weight: 1, arbitrary: fc.record({ alias: sometimes(aliasArb(h), 3), cast: sometimes(mix(h, pick(['text', 'int', 'bigint']), pick(CASTS)), 4) }).map((r): Sel => ({ t: 'count', ...r })) },
  );
  const embeds: fc.Arbitrary<Sel>[] = [];
  if (depth > 0) {
    const embedOf = (name: string, target: string | undefined) =>
      fc
        .record({
          alias: sometimes(mix(h, pick(['x', 'y', 'rel', 'Ünï']), aliasArb(true)), 4),
          hints: mix(h, fc.array(pick(['inner', 'left']), { maxLength: 1 }), fc.array(fc.oneof({ weight: 4, arbitrary: pick(HINTS) }, { weight: 1, arbitrary: hostileName }), { maxLength: 2 })),
          spread: fc.nat(6).map((n) => n === 0),
          items: target ? selectArb(target, depth - 1, h) : fc.constant<Sel[]>([{ t: 'star' }]),
        })
        .map((r): Sel => ({ t: 'embed', name, target, ...r, alias: r.spread ? undefined : r.alias }));
    for (const [name, target] of rels) embeds.push(embedOf(name, target));
    if (h) {
      embeds.push(pick([...TABLE_NAMES, 'nope', 'count']).chain((n) => embedOf(n, own(TABLES, n) ? n : undefined)));
      embeds.push(hostileName.chain((n) => embedOf(n, undefined)));
    }
  }
  const item = embeds.length ? fc.oneof({ weight: 3, arbitrary: leaf }, { weight: 2, arbitrary: fc.oneof(...embeds) }) : leaf;
  const arb = fc.array(item, { minLength: 1, maxLength: depth > 0 ? 4 : 3 });
  selectCache.set(key, arb);
  return arb;
}

interface Param {
  k: string;
  /** undefined: a bare `key` without `=`. */
  v?: string;
}

const keyPrefix = (path: string[]) => (path.length ? `${path.join('.')}.` : '');

/** The query string of a read/write on `table` (select, filters, logic trees, order, limit/offset, extras). */
function queryArb(table: string, opts: { depth?: number; forceSelect?: Sel[]; h: boolean }): fc.Arbitrary<Param[]> {
  const { h } = opts;
  const known = own(TABLES, table) ? table : 'items';
  const sel = opts.forceSelect ? fc.constant(opts.forceSelect) : selectArb(known, opts.depth ?? 2, h);
  return sel.chain((items) => {
    const paths = embedPaths(items, known);
    const pathArb = pick(paths);
    const columnFilter = pathArb.chain((p) => condition(p.table, h, false).map(({ field, expr }): Param => ({ k: `${keyPrefix(p.path)}${field}`, v: expr })));
    // Null-embed filters: `clients=is.null`, `projects.tasks=not.is.null`.
    const embedFilter = paths.length > 1 ? [fc.tuple(pick(paths.slice(1)), mix(h, pick(['is.null', 'not.is.null']), pick(['is.not_null', 'eq.1', 'is.true']))).map(([p, e]): Param => ({ k: p.path.join('.'), v: e }))] : [];
    const filter = embedFilter.length ? fc.oneof({ weight: 4, arbitrary: columnFilter }, { weight: 1, arbitrary: embedFilter[0] }) : columnFilter;
    const tree = (tbl: string, d: number): fc.Arbitrary<string> => {
      const leafCond = condition(tbl, h, true).map(({ field, expr }) => `${field}.${expr}`);
      return d <= 0
        ? leafCond
        : fc.oneof(
            { weight: 3, arbitrary: leafCond },
            { weight: 1, arbitrary: fc.tuple(fc.boolean(), pick(['and', 'or']), fc.array(tree(tbl, d - 1), { minLength: 1, maxLength: 3 })).map(([n, op, cs]) => `${n ? 'not.' : ''}${op}(${cs.join(',')})`) },
          );
    };
    const logic = pathArb.chain((p) =>
      fc
        .tuple(fc.boolean(), pick(['and', 'or']), fc.array(tree(p.table, 2), { minLength: 1, maxLength: 3 }), h ? sometimes(pick([')', ' ', '()', ',', 'garbage']), 6) : fc.constant(undefined))
        .map(([n, op, cs, tail]): Param => ({ k: `${keyPrefix(p.path)}${n ? 'not.' : ''}${op}`, v: `(${cs.join(',')})${tail ?? ''}` })),
    );
    const orderTerm = (p: EmbedPath) => {
      const own = fieldName(p.table, h).chain((col) => pathFor(col, h).map((j) => `${col}${j}`));
      const related = p.toOne.length ? [pick(p.toOne).chain((r) => fieldName(r.table, h).map((f) => `${r.key}(${f})`))] : [];
      const wild = fc.tuple(pick(['clients', 'projects', 'todos', 'tasks', 'nope']), fieldName(p.table, true)).map(([r, f]) => `${r}(${f})`);
      return fc
        .tuple(
          mix(h, related.length ? fc.oneof({ weight: 3, arbitrary: own }, { weight: 1, arbitrary: related[0] }) : own, wild),
          mix(h, pick(['', '.asc', '.desc']), pick(['.ASC', '.up', '.desc.desc'])),
          mix(h, pick(['', '', '.nullsfirst', '.nullslast']), pick(['.nullsmiddle', '.nulls'])),
        )
        .map(([f, d, n]) => `${f}${d}${n}`);
    };
    const order = pathArb.chain((p) =>
      mix(
        h,
        fc.array(orderTerm(p), { minLength: 1, maxLength: 3 }).map((ts): Param => ({ k: `${keyPrefix(p.path)}order`, v: ts.join(',') })),
        fc.oneof(anyText, pick(INJECTIONS)).map((v): Param => ({ k: `${keyPrefix(p.path)}order`, v })),
        6,
      ),
    );
    const limitValue = mix(h, fc.nat(10).map(String), pick(['-1', '-0', '99999999999999999999', '9223372036854775807', '1.5', 'abc', '', ' 1', '1e3', '+1']), 3);
    const limit = fc.tuple(pathArb, pick(['limit', 'offset']), limitValue).map(([p, kind, v]): Param => ({ k: `${keyPrefix(p.path)}${kind}`, v }));
    const columnList = fc.array(mix(h, pick(colsOf(known)), fc.oneof(fieldName(known, true), pick(['', ' ', ',', '""', '*']))), { minLength: 1, maxLength: 4 }).map((cs) => cs.join(','));
    const junk = fc.tuple(fc.oneof(pick(['select', 'apikey', 'x', 'not', 'and', 'or', 'order', 'limit', '', '.', 'a.b.c.d', 'tasks.order', 'not.and', 'count']), hostileName, anyText), fc.oneof({ weight: 4, arbitrary: fc.oneof(scalarValue, pick(INJECTIONS)) }, { weight: 1, arbitrary: fc.constant(undefined) })).map(([k, v]): Param => ({ k, v }));
    const extra = fc.oneof(
      columnList.map((v): Param => ({ k: 'columns', v })),
      mix(h, pick(['id', ...colsOf(known).slice(0, 1)]), columnList).map((v): Param => ({ k: 'on_conflict', v })),
      ...(h ? [junk] : []),
    );
    return fc
      .tuple(
        fc.nat(9),
        fc.array(filter, { maxLength: 3 }),
        fc.array(logic, { maxLength: 2 }),
        fc.array(order, { maxLength: 2 }),
        fc.array(limit, { maxLength: 2 }),
        fc.array(extra, { maxLength: 1 }),
      )
      .map(([s, filters, logics, orders, limits, extras]) => {
        const select: Param[] = s === 0 ? [] : s === 1 ? [{ k: 'select', v: '' }] : [{ k: 'select', v: renderSelect(items) }];
        return [...select, ...filters, ...logics, ...orders, ...limits, ...extras];
      });
  });
}

// ---------------------------------------------------------------------------------------------
// Bodies and headers
// ---------------------------------------------------------------------------------------------

const jsonScalar = fc.oneof(
  { weight: 5, arbitrary: pick(VALUES) },
  { weight: 3, arbitrary: pick(INJECTIONS) },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);
const jsonField = fc.oneof({ weight: 6, arbitrary: jsonScalar }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, { weight: 1, arbitrary: fc.array(jsonScalar, { maxLength: 3 }) });
/** A JSON value that fits a column of the given kind. */
const TAME_JSON: Record<Kind, fc.Arbitrary<unknown>> = {
  num: fc.integer({ min: -2, max: 40 }),
  text: fc.oneof(pick(KIND_VALUES.text), fc.string({ maxLength: 8 })),
  bool: fc.boolean(),
  array: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
  range: pick(KIND_VALUES.range),
  tsv: pick(['foo:1', 'bar:2 foo:1']),
  json: fc.jsonValue({ maxDepth: 2 }),
  uuid: pick([TENANT_A, USER_A, USER_B]),
  time: pick(['2020-01-01', '2021-06-01T12:00:00Z']),
};
const rowArb = (table: string, h: boolean, values: fc.Arbitrary<unknown> = jsonField): fc.Arbitrary<Record<string, unknown>> =>
  h
    ? fc.dictionary(fc.oneof({ weight: 8, arbitrary: pick(colsOf(table)) }, { weight: 1, arbitrary: fc.oneof(pick(INJECTIONS), pick(['__proto__', 'constructor', ''])) }), values, { maxKeys: 4 })
    : tameRows(table, 1).map((rs) => rs[0]);
/** 1..max rows with the same keys (a bulk payload PostgREST accepts), values that fit the columns. */
function tameRows(table: string, max: number): fc.Arbitrary<Record<string, unknown>[]> {
  return fc.subarray(colsOf(table).filter((c) => c !== 'id' || table !== 'todos'), { minLength: 1 }).chain((cols) =>
    fc.array(fc.tuple(...cols.map((c) => fc.oneof({ weight: 7, arbitrary: TAME_JSON[kindOf(c)] }, { weight: 1, arbitrary: fc.constant(null) }))), { minLength: 1, maxLength: max })
      .map((rows) => rows.map((vs) => Object.fromEntries(cols.map((c, i) => [c, vs[i]])))),
  );
}

const RAW_BODIES = [
  '', ' ', '{', '[', '[1,', 'null', 'true', '5', '"x"', '{}', '[]', '[{}]', '[{},1]', '[[]]', '{"a":1}{"b":2}', '\u0000', '{"id":1,"id":2}',
  '{"id": 99999999999999999999999999}', '{"id": 1e400}', '{"id": -0}', '{"note": "\\u0000"}', '{"note": "\\ud800"}', '[{"id":1},{"name":"x"}]',
  '{"__proto__": {"id": 1}}', "{'id': 1}", '{"id": NaN}', '\ufeff{"id": 1}',
];
const csvCell = (v: unknown) => (v === null ? 'NULL' : /[",\n\r]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
const bodyArb = (table: string, h: boolean) => {
  const tame = fc.oneof(
    { weight: 6, arbitrary: rowArb(table, false).map((r) => JSON.stringify(r)) },
    { weight: 3, arbitrary: tameRows(table, 3).map((rs) => JSON.stringify(rs)) },
    { weight: 1, arbitrary: rowArb(table, false).map((r) => `${Object.keys(r).join(',')}\n${Object.values(r).map((v) => csvCell(typeof v === 'object' && v !== null ? JSON.stringify(v) : v)).join(',')}`) },
    { weight: 1, arbitrary: rowArb(table, false).map((r) => new URLSearchParams(Object.entries(r).map(([k, v]): [string, string] => [k, String(v)])).toString()) },
  );
  const wild = fc.oneof(
    { weight: 6, arbitrary: rowArb(table, true).map((r) => JSON.stringify(r)) },
    { weight: 3, arbitrary: fc.array(rowArb(table, true), { maxLength: 3 }).map((rs) => JSON.stringify(rs)) },
    { weight: 2, arbitrary: pick(RAW_BODIES) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    // Deep nesting (Postgres' JSON parser is recursive).
    { weight: 1, arbitrary: fc.tuple(pick([5, 100, 1000, 5000, 40_000]), pick(['note', 'settings', 'name', 'x'])).map(([n, k]) => `{"${k}":${'['.repeat(n)}${']'.repeat(n)}}`) },
    { weight: 1, arbitrary: fc.tuple(fc.array(pick(colsOf(table)), { minLength: 1, maxLength: 3 }), fc.array(fc.array(fc.oneof(pick(VALUES), pick(INJECTIONS), pick(['NULL', '"a,b"', '"'])), { maxLength: 3 }), { maxLength: 3 })).map(([hd, ls]) => [hd.join(','), ...ls.map((l) => l.join(','))].join('\n')) },
    { weight: 1, arbitrary: fc.array(fc.tuple(pick(colsOf(table)), scalarValue), { maxLength: 3 }).map((kv) => new URLSearchParams(kv).toString()) },
  );
  return mix(h, tame, wild, 2);
};

const TAME_PREFS = [
  'return=minimal', 'return=representation', 'return=representation', 'return=headers-only', 'count=exact', 'count=exact', 'count=planned', 'count=estimated',
  'resolution=merge-duplicates', 'resolution=ignore-duplicates', 'missing=default', 'handling=strict', 'handling=lenient', 'timezone=UTC', 'max-affected=1', 'tx=commit',
];
const WILD_PREFS = [
  'missing=null', 'tx=rollback', 'timezone=America/New_York', 'timezone=Mars/Olympus', 'timezone=US/Pacific-New', "timezone='; drop table todos; --",
  'max-affected=-1', 'max-affected=99999999999999999999', 'params=single-object', 'return', 'count=', '=', ',', 'count=exact;q=1', 'return=representation, return=minimal',
];
const TAME_ACCEPTS = ['application/json', '*/*', 'text/csv', 'application/vnd.pgrst.object+json', 'application/vnd.pgrst.object+json;nulls=stripped', 'application/vnd.pgrst.array+json;nulls=stripped'];
const WILD_ACCEPTS = [
  'application/vnd.pgrst.object', 'application/geo+json', 'application/openapi+json', 'text/plain', 'application/vnd.pgrst.plan+json', 'text/csv;q=0.5, application/json;q=0.9',
  'application/json;q=0', 'application/*', 'invalid', ',', ';;;', 'text/csv; version=1', 'APPLICATION/JSON',
];
const PROFILES = ['auth', 'storage', 'pg_catalog', 'PUBLIC', ' public ', 'public, auth', "public'; drop table todos; --", '"public"', ''];
const TAME_CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/csv', 'application/x-www-form-urlencoded'];
const WILD_CONTENT_TYPES = ['text/plain', 'application/octet-stream', 'application/vnd.pgrst.object+json', 'multipart/form-data', 'garbage/x', 'garbage', 'application/json; charset=latin1', 'APPLICATION/JSON'];
const TAME_RANGES = ['0-1', '1-', '2-3', '0-0', '0-99'];
const WILD_RANGES = ['5-2', '99999999999999999999-', '0-99999999999999999999', '-1', 'a-b', 'items=0-1', '', '1-1-1', ' 0-1'];

/** fetch only takes printable Latin-1 header values without CR/LF. */
const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');

const headersArb = (h: boolean, contentType: string | undefined) =>
  fc
    .record({
      prefer: sometimes(fc.array(mix(h, pick(TAME_PREFS), fc.oneof(pick(WILD_PREFS), pick(INJECTIONS)), 3), { minLength: 1, maxLength: 3 }).map((ps) => ps.join(', ')), 2),
      accept: sometimes(mix(h, pick(TAME_ACCEPTS), pick(WILD_ACCEPTS), 2), 3),
      range: sometimes(mix(h, pick(TAME_RANGES), pick(WILD_RANGES), 2), 5),
      'accept-profile': sometimes(mix(h, fc.constant('public'), pick(PROFILES), 2), 8),
      'content-profile': sometimes(mix(h, fc.constant('public'), pick(PROFILES), 2), 8),
      'content-type': contentType !== undefined ? fc.constant(contentType) : sometimes(mix(h, pick(TAME_CONTENT_TYPES), pick(WILD_CONTENT_TYPES), 2), 5),
    })
    .map((hd) => Object.fromEntries(Object.entries(hd).filter(([, v]) => v !== undefined).map(([k, v]) => [k, headerSafe(v!)])));

/** The content type a body was written in (so tame CSV/form bodies are sent as such). */
const contentTypeOf = (body: string | undefined): string | undefined =>
  body === undefined || /^\s*[[{]/.test(body) ? undefined : body.includes('\n') ? 'text/csv' : body.includes('=') ? 'application/x-www-form-urlencoded' : undefined;

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

type Who = 'anon' | 'a' | 'a_confused' | 'a_meta' | 'service' | 'hostile';

interface Req {
  who: Who;
  method: string;
  /** Path below /rest/v1, already encoded. */
  path: string;
  params: Param[];
  /** `pct` (every reserved byte escaped), `plus` (spaces as `+`), `light` (postgrest-js-like, punctuation raw). */
  enc: 'pct' | 'plus' | 'light';
  /** Raw text appended to the query string (malformed escapes, stray `&`, `=`). */
  tail: string;
  headers: Record<string, string>;
  body?: string;
  /** Run in `Prefer: tx=rollback` (prepended, so it wins). */
  rollback: boolean;
}

const clip = (s: string, n = 240) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

/** Percent-encodes UTF-8 bytes (lone surrogates become U+FFFD). */
function encode(s: string, enc: Req['enc']): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(ch)) out += ch;
    else if (enc === 'plus' && ch === ' ') out += '+';
    else if (enc === 'light' && b > 0x20 && b < 0x7f && !/[&=#%+]/.test(ch)) out += ch;
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function queryString(req: Req): string {
  const q = req.params.map((p) => (p.v === undefined ? encode(p.k, req.enc) : `${encode(p.k, req.enc)}=${encode(p.v, req.enc)}`)).join('&');
  return q + req.tail;
}

function describeReq(req: Req): string {
  const lines = [`${req.method} /rest/v1${req.path}${req.params.length || req.tail ? `?${clip(queryString(req), 600)}` : ''}  (as ${req.who}${req.rollback ? ', tx=rollback' : ''})`];
  if (req.params.length) lines.push(`  params: ${clip(JSON.stringify(req.params.map((p) => (p.v === undefined ? p.k : `${p.k}=${p.v}`))), 600)}`);
  for (const [k, v] of Object.entries(req.headers)) lines.push(`  ${k}: ${v}`);
  if (req.body !== undefined) lines.push(`  body: ${clip(JSON.stringify(req.body), 400)}`);
  return lines.join('\n');
}

/** Gives a request a readable fast-check counterexample. */
function finish(req: Req): Req {
  Object.defineProperty(req, fc.toStringMethod, { value: () => `\n${describeReq(req)}\n`, enumerable: false });
  return req;
}

const WRITE_METHODS = ['POST', 'PATCH', 'DELETE', 'PUT'];
const encArb = (h: boolean) => mix(h, pick<Req['enc']>(['pct', 'light', 'plus']), fc.constant<Req['enc']>('light'), 2);
const tailArb = (h: boolean) =>
  h ? fc.oneof({ weight: 8, arbitrary: fc.constant('') }, { weight: 1, arbitrary: pick(['%', '%zz', '&%ff%fe', '&%C0%AF=1', '&%00=%00', '&&&', '&=', '&==', '&=x', '&a=b=c', '&select', '&order', '&limit=', '&select=%', '&id=eq.%']) }) : fc.constant('');
const tableNameArb = (h: boolean) =>
  mix(h, pick(TABLE_NAMES), fc.oneof(pick(['nope', 'Todos', 'todos2', 'pg_authid', 'pg_catalog.pg_authid', 'auth.users', 'users ', 'rpc']), pick(INJECTIONS), anyText), 6);
const hostility = fc.nat(9).map((n) => n < 4);

/** Any request on a table (or a missing/hostile name), by any generic caller. */
const tableReq = hostility.chain((h) =>
  tableNameArb(h).chain((table) =>
    fc
      .record({
        who: pick<Who>(['anon', 'a', 'a', 'service', 'hostile']),
        method: mix(h, fc.oneof({ weight: 3, arbitrary: pick(['GET', 'GET', 'HEAD']) }, { weight: 3, arbitrary: pick(WRITE_METHODS) }), pick(['OPTIONS', 'PROPFIND']), 10),
        params: queryArb(table, { h }),
        enc: encArb(h),
        tail: tailArb(h),
        body: bodyArb(table, h),
        rollback: fc.nat(9).map((n) => n < 7),
      })
      .chain((r) => headersArb(h, h ? undefined : contentTypeOf(r.body)).map((headers) => ({ ...r, headers })))
      .map((r): Req => finish({ ...r, path: `/${encode(table, 'pct')}`, body: ['GET', 'HEAD'].includes(r.method) ? undefined : r.body })),
  ),
);

const ARG_KINDS: Record<string, Kind> = { min: 'num', max: 'num', a: 'num', b: 'num', id: 'num', name: 'text', note: 'text', target: 'text' };

/** Any RPC call: GET args as query params, POST args as a JSON (or CSV/form) body, plus filters on set results. */
const rpcReq = hostility.chain((h) =>
  mix(h, pick(Object.keys(FUNCS)), fc.oneof(pick(['nope', 'pg_sleep', 'pg_catalog.pg_sleep', 'version', 'Whoami']), pick(INJECTIONS)), 6).chain((fn) => {
    const spec = own(FUNCS, fn);
    const names = spec?.args.length ? spec.args : ['x'];
    const argName = mix(h, pick(names), fc.oneof(hostileName, pick(['select', 'order', 'a', 'min'])));
    const argValue = (name: string) => mix(h, valueFor(own(ARG_KINDS, name) ?? 'text', false), fc.oneof(scalarValue, pick(['eq.1', 'not.eq.1', 'in.(1,2)', 'is.null', '', ' '])));
    const args = h ? fc.array(argName.chain((n) => argValue(n).map((v): [string, string] => [n, v])), { maxLength: 3 }) : fc.tuple(...(spec?.args ?? []).map((n) => argValue(n).map((v): [string, string] => [n, v])));
    return fc
      .record({
        who: pick<Who>(['anon', 'a', 'service', 'hostile']),
        method: mix(h, pick(['GET', 'POST', 'POST', 'HEAD']), pick(['PATCH', 'DELETE', 'PUT', 'OPTIONS'])),
        args,
        json: h ? fc.oneof({ weight: 3, arbitrary: fc.dictionary(argName, jsonField, { maxKeys: 3 }).map((o) => JSON.stringify(o)) }, { weight: 1, arbitrary: fc.oneof(pick(RAW_BODIES), fc.json({ maxDepth: 2 })) }) : fc.constant(undefined),
        query: spec?.table ? queryArb(spec.table, { depth: 1, h }) : h ? fc.oneof(fc.constant<Param[]>([]), queryArb('items', { depth: 0, h })) : fc.constant<Param[]>([]),
        enc: encArb(h),
        tail: tailArb(h),
        headers: headersArb(h, h ? undefined : 'application/json'),
        rollback: fc.nat(9).map((n) => n < 7),
      })
      .map((r): Req => {
        const get = r.method !== 'POST';
        const params = get ? [...r.args.map(([k, v]) => ({ k, v })), ...r.query] : r.query;
        const body = get ? undefined : r.json ?? JSON.stringify(Object.fromEntries(r.args.map(([k, v]) => [k, own(ARG_KINDS, k) === 'num' && v !== '' && Number.isFinite(Number(v)) ? Number(v) : v])));
        return finish({ who: r.who, method: r.method, path: `/rpc/${encode(fn, 'pct')}`, params, enc: r.enc, tail: r.tail, headers: r.headers, body: ['GET', 'HEAD'].includes(r.method) ? undefined : body, rollback: r.rollback });
      });
  }),
);

/** Paths outside the grammar: root, deeper paths, bad escapes. */
const oddPathReq = fc
  .record({
    who: pick<Who>(['anon', 'a', 'service']),
    method: pick(['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS', 'PATCH']),
    path: pick(['/', '', '/todos/', '//todos', '/todos/x', '/rpc', '/rpc/', '/rpc/whoami/x', '/%zz', '/todos%2F..%2Fclients', '/%E2%80%AE', '/todos%00', '/%22todos%22', '/public.todos', '/rpc/%27%3B%20drop', '/todos;drop', '/todos%3Bdrop', '/todos/%2E%2E/clients']),
    headers: headersArb(true, undefined),
    tail: tailArb(true),
  })
  .map((r): Req => finish({ ...r, params: [], enc: 'pct', body: ['GET', 'HEAD'].includes(r.method) ? undefined : '{}', rollback: true }));

const genericReq = fc.oneof({ weight: 7, arbitrary: tableReq }, { weight: 3, arbitrary: rpcReq }, { weight: 1, arbitrary: oddPathReq });

// ---------------------------------------------------------------------------------------------
// HTTP and checks
// ---------------------------------------------------------------------------------------------

let t: TestStack;
const tokens: Partial<Record<Who, string>> = {};

function sign(claims: Record<string, unknown>): Promise<string> {
  return testToken(claims);
}

interface Res {
  status: number;
  contentType: string;
  contentRange: string | null;
  text: string;
  ms: number;
}

async function send(req: Req): Promise<Res> {
  const qs = queryString(req);
  const url = `${t.stack.url}/rest/v1${req.path}${qs ? `?${qs}` : ''}`;
  const headers: Record<string, string> = { ...req.headers };
  headers.apikey = req.who === 'service' ? t.db.config.serviceRoleKey : t.db.config.anonKey;
  const token = tokens[req.who];
  if (token) headers.authorization = `Bearer ${token}`;
  if (req.rollback || req.who === 'service') headers.prefer = headers.prefer ? `tx=rollback, ${headers.prefer}` : 'tx=rollback';
  const started = performance.now();
  let r: Response;
  try {
    // A Buffer body, so fetch adds no `text/plain` content type of its own: no header means JSON.
    const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
    r = await fetch(url, { method: req.method, headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw new Error(`no response (${(err as Error).message}) after ${Math.round(performance.now() - started)} ms for\n${describeReq(req)}`);
  }
  const text = await r.text();
  if (process.env.FUZZ_VERBOSE === '2') console.log(`${r.status} ${clip(text, 120)}\n${describeReq(req)}`);
  const key = `${r.status} ${r.status >= 300 ? (/"code":"([^"]*)"/.exec(text)?.[1] ?? '') : ''}`.trim();
  stats.set(key, (stats.get(key) ?? 0) + 1);
  return { status: r.status, contentType: r.headers.get('content-type') ?? '', contentRange: r.headers.get('content-range'), text, ms: Math.round(performance.now() - started) };
}

function jsonDepth(text: string | undefined): number {
  let depth = 0;
  let max = 0;
  for (const ch of text ?? '') {
    if (ch === '[' || ch === '{') max = Math.max(max, ++depth);
    else if (ch === ']' || ch === '}') depth--;
  }
  return max;
}

function errorCode(res: Res): string | undefined {
  try {
    const body = JSON.parse(res.text) as { code?: unknown };
    return typeof body?.code === 'string' ? body.code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Engine bugs the fuzz already found (see the `it.fails` regressions at the end). Requests that hit
 * exactly one of these signatures are tallied, not failed, so the fuzz keeps looking for new ones.
 * Remove an entry when its bug is fixed.
 */
const KNOWN_BUGS: { id: string; match(req: Req, res: Res): boolean }[] = [
];
const knownHits = new Map<string, number>();
/** Responses by status and error code (printed with FUZZ_VERBOSE=1). */
const stats = new Map<string, number>();

/** SQLSTATEs that mean the engine produced bad SQL or bad parameters, never the client's fault. */
function forbiddenCode(code: string, message: string): boolean {
  // Postgres reports bad tsquery/tsvector *input* (user text) with 42601 too.
  if (code === '42601') return !/^syntax error in ts(query|vector)\b/.test(message);
  return ['42P18', '42P02', '08P01', 'XX000', 'XX001', 'XX002', 'PGRSTX00'].includes(code);
}

/** The generic properties; returns the violations (empty when the response is fine). */
function violations(req: Req, res: Res): string[] {
  const known = KNOWN_BUGS.find((k) => k.match(req, res));
  if (known) {
    knownHits.set(known.id, (knownHits.get(known.id) ?? 0) + 1);
    return [];
  }
  const out: string[] = [];
  // The role's statement_timeout (anon 3s, authenticated 8s) cancelling a costly request is a 500
  // with SQLSTATE 57014, as in PostgREST: a limit doing its job, not an engine bug.
  if (res.status >= 500 && !(res.status === 500 && errorCode(res) === '57014')) out.push(`status ${res.status}`);
  const hasBody = req.method !== 'HEAD' && res.text !== '';
  if (res.status >= 300) {
    // 431: Node's HTTP parser refused the request line (URL too long) before any service saw it.
    if (res.status === 431 && res.text === '') return out;
    if (!hasBody) {
      if (req.method !== 'HEAD') out.push('error response without a body');
      return out;
    }
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      out.push('error body is not JSON');
      return out;
    }
    if (!/^application\/json/.test(res.contentType)) out.push(`error content-type ${res.contentType}`);
    const b = body as Record<string, unknown>;
    const keys = b && typeof b === 'object' && !Array.isArray(b) ? Object.keys(b).sort() : [];
    if (keys.join(',') !== 'code,details,hint,message') out.push(`error keys [${keys.join(',')}]`);
    else {
      if (typeof b.code !== 'string' || typeof b.message !== 'string') out.push('code/message are not strings');
      if (!(b.hint === null || typeof b.hint === 'string')) out.push('hint is not string|null');
      if (!(b.details === null || typeof b.details === 'string' || Array.isArray(b.details))) out.push('details is not string|null|array');
      if (typeof b.code === 'string' && forbiddenCode(b.code, String(b.message))) out.push(`forbidden SQLSTATE ${b.code}`);
    }
  } else if (hasBody && /json/.test(res.contentType)) {
    try {
      JSON.parse(res.text);
    } catch {
      out.push('2xx JSON body does not parse');
    }
  }
  return out;
}

function assertOk(req: Req, res: Res, extra: string[] = []): void {
  const v = [...violations(req, res), ...extra];
  if (v.length) {
    throw new Error(`${v.join('; ')}\nrequest:\n${describeReq(req)}\nresponse: ${res.status} ${res.contentType} ${res.contentRange ?? ''} (${res.ms} ms)\n  ${clip(res.text, 800)}`);
  }
}

/** Runs a property with the run's seed; on failure the seed to replay it is printed and attached. */
async function check<T>(name: string, arb: fc.Arbitrary<T>, numRuns: number, predicate: (x: T) => Promise<void>): Promise<void> {
  try {
    await fc.assert(fc.asyncProperty(arb, predicate), { seed: SEED, numRuns, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: true });
  } catch (err) {
    console.error(`[rest fuzz] "${name}" failed — replay with FUZZ_SEED=${SEED}`);
    (err as Error).message = `FUZZ_SEED=${SEED}\n${(err as Error).message}`;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Database snapshots (superuser)
// ---------------------------------------------------------------------------------------------

async function snapshotB(): Promise<string> {
  const { rows } = await t.db.admin.query(
    `select (select coalesce(json_agg(x order by x.id), '[]') from public.todos x where x.tenant_id = $1 or x.id = any($2::bigint[])) as todos,
            (select row_to_json(tn) from public.tenants tn where tn.id = $1) as tenant`,
    [TENANT_B, B_IDS],
  );
  return JSON.stringify(rows[0]);
}

async function snapshotSchema(): Promise<string> {
  const { rows } = await t.db.admin.query(`
    select (select json_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text order by 1)
              from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
               and n.nspname not like 'pg_temp%' and n.nspname not like 'pg_toast_temp%') as relations,
           (select json_agg(schemaname || '.' || tablename || '.' || policyname || ':' || qual || ':' || coalesce(with_check, '') order by 1) from pg_policies) as policies,
           (select json_agg(c.relname::text order by 1) from pg_class c where c.relrowsecurity) as rls,
           (select json_agg(x) from public.fuzz_canary x) as canary`);
  return JSON.stringify(rows[0]);
}

async function visibleToA(): Promise<{ rows: number; projects: number }> {
  const { rows } = await t.db.admin.query<{ rows: number; projects: number }>(
    'select count(*)::int as rows, count(distinct project_id)::int as projects from public.todos where tenant_id = $1',
    [TENANT_A],
  );
  return rows[0];
}

/** A 2xx body showing tenant B's data: a marker string or one of B's ids. */
function leakIn(text: string): string | undefined {
  const marker = B_MARKERS.find((m) => text.includes(m));
  if (marker) return `body contains tenant-B marker ${JSON.stringify(marker)}`;
  if (B_ID_PATTERN.test(text)) return `body contains a tenant-B id (${text.match(B_ID_PATTERN)![0]})`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

let schemaBefore: string;
let bBefore: string;
let started: number;

beforeAll(async () => {
  started = performance.now();
  t = await startTestStack({ fixtures: 'rest-basic.sql', sql: EXTRA_SQL });
  tokens.a = await sign({ role: 'authenticated', sub: USER_A, tenant_id: TENANT_A, app_metadata: { tenant_id: TENANT_A } });
  // The top-level claim wins over app_metadata: still tenant A.
  tokens.a_confused = await sign({ role: 'authenticated', sub: USER_A, tenant_id: TENANT_A, app_metadata: { tenant_id: TENANT_B } });
  tokens.a_meta = await sign({ role: 'authenticated', sub: USER_A, app_metadata: { tenant_id: TENANT_A } });
  tokens.hostile = await sign({ role: 'authenticated', sub: "' or 1=1 --", tenant_id: "'; drop table todos; --", app_metadata: { tenant_id: TENANT_B } });
  schemaBefore = await snapshotSchema();
  bBefore = await snapshotB();
});

afterAll(async () => {
  if (knownHits.size) console.log(`[rest fuzz] known-bug hits (seed ${SEED}): ${JSON.stringify(Object.fromEntries(knownHits))}`);
  if (process.env.FUZZ_VERBOSE) console.log(`[rest fuzz] responses: ${JSON.stringify(Object.fromEntries([...stats].sort((x, y) => y[1] - x[1])))}`);
  if (started) console.log(`[rest fuzz] seed ${SEED}, ${RUNS.generic + RUNS.rlsRead + RUNS.rlsWrite} fuzz runs, ${Math.round(performance.now() - started)} ms including stack start`);
  await t?.close();
});

const base = (who: Who, method: string, path: string, params: Param[], extra: Partial<Req> = {}): Req =>
  finish({ who, method, path, params, enc: 'pct', tail: '', headers: {}, rollback: true, ...extra });

// ---------------------------------------------------------------------------------------------
// Engine bugs found by this fuzz: minimal requests, expected to fail until fixed. When one starts
// passing, `it.fails` turns red: drop the `.fails` and its KNOWN_BUGS entry. They run before the
// fuzz, whose committed writes change the fixture data.
// ---------------------------------------------------------------------------------------------

describe('regressions found by the fuzz (known engine bugs)', () => {
  it('fixed: a select list of more than 1664 output columns is a 500 (SQLSTATE 54011), not a 4xx', async () => {
    // rest/query-builder.ts QueryBuilder.selectList emits one target entry per item without a cap and
    // rest/errors.ts statusForSqlState maps class 54 to 500. `select=*` ×833 on items hits it too.
    const req = base('anon', 'GET', '/items', [{ k: 'select', v: Array(1665).fill('id').join(',') }]);
    const res = await send(req);
    expect(res.status).toBeLessThan(500);
  });

  it('fixed: a deeply nested JSON payload is a 500 (SQLSTATE 54001 stack depth), not a 400', async () => {
    // rest/payload.ts parsePayload accepts any depth (JSON.parse is iterative) and hands the text to
    // json_populate_recordset, whose recursive parser overflows max_stack_depth (~30 000 levels).
    const depth = 40_000;
    const req = base('anon', 'POST', '/items', [], { headers: { 'content-type': 'application/json' }, body: `{"note":${'['.repeat(depth)}${']'.repeat(depth)}}` });
    const res = await send(req);
    expect(res.status).toBeLessThan(500);
  });

  it('fixed: Prefer return=headers-only with a text primary key holding CR/LF or non-Latin-1 is a 500 with a Fastify body', async () => {
    // rest/engine.ts locationExpr only escapes % and & in the key values, so Node refuses the Location
    // header (ERR_INVALID_CHAR) after the engine answered; PostgREST URL-encodes the values.
    for (const k of ['a\r\nX-Injected: 1', '中']) {
      const req = base('anon', 'POST', '/fuzz_text_pk', [], { headers: { 'content-type': 'application/json', prefer: 'return=headers-only' }, body: JSON.stringify({ k }) });
      const res = await send(req);
      expect(res.status).toBe(201);
    }
  });

  it('fixed: duplicate names in `columns=` reach the SQL: PATCH is 42601 (syntax class), POST 42701', async () => {
    // rest/parse/query.ts parseColumnList keeps duplicates and rest/engine.ts payloadColumns uses the
    // list as is: `update … set ("note", "note") = …` / `insert … ("note", "note")`. PostgREST parses
    // `columns` into a set, so `columns=note,note` means `columns=note`.
    const headers = { 'content-type': 'application/json' };
    const patch = await send(base('anon', 'PATCH', '/items', [{ k: 'columns', v: 'note,note' }, { k: 'id', v: 'eq.1' }], { headers, body: '{"note":"x"}' }));
    expect(patch.status).toBe(204);
    const post = await send(base('anon', 'POST', '/items', [{ k: 'columns', v: 'note,note' }], { headers, body: '{"note":"x"}' }));
    expect(post.status).toBe(201);
  });

  it('fixed: a NUL byte in a select alias or JSON path key truncates the SQL text: 503 with SQLSTATE 08P01 (protocol violation)', async () => {
    // Output names come from the request (aliases, the last JSON key: rest/query-builder.ts outputName)
    // and go into the SQL text through rest/sql.ts ident(), which quotes but keeps U+0000. The Parse
    // message then ends at the NUL ("insufficient data left in message" / "invalid message format"),
    // and rest/errors.ts maps class 08 to 503 + Retry-After, so postgrest-js even retries it. Values
    // with NUL are fine (bound, 22021 → 400); names need a 400 PGRST100 (or NUL-free output names).
    const codes: Record<string, string | undefined> = {};
    for (const select of ['note->\u0000', '"a\u0000":id', '"a\u0000":count()']) codes[select] = errorCode(await send(base('anon', 'GET', '/items', [{ k: 'select', v: select }])));
    expect(Object.values(codes)).not.toContain('08P01');
  });

  it('fixed: an upsert whose payload repeats a key is a 500 (SQLSTATE 21000), not a 4xx', async () => {
    // rest/engine.ts insert: `on conflict … do update` over a payload that holds the same key twice
    // fails with 21000 "ON CONFLICT DO UPDATE command cannot affect row a second time", and
    // rest/errors.ts statusForSqlState maps 21000 to 500 (PostgREST v13 does too). It is the
    // client's payload: 400/409 would be right, like 54001/54011 are now.
    const req = base('anon', 'POST', '/clients', [], {
      headers: { 'content-type': 'application/json', prefer: 'resolution=merge-duplicates' },
      body: '[{"id":30,"name":"a"},{"id":30,"name":"b"}]',
    });
    expect((await send(req)).status).toBeLessThan(500);
  });

  it('fixed: an empty quoted alias ("":count(), "":id.max(), "":clients(id)) reaches the SQL as a zero-length identifier (42601)', async () => {
    // rest/query-builder.ts selectList/embedSubquery use `item.alias ?? default`, so the alias ''
    // (from `"":`) becomes `as ""`, a syntax error; outputName already treats '' as no alias.
    const codes: Record<string, string | undefined> = {};
    for (const select of ['"":count()', 'id,"":id.max()', 'id,"":clients(id)']) codes[select] = errorCode(await send(base('anon', 'GET', '/projects', [{ k: 'select', v: select }])));
    expect(Object.values(codes)).not.toContain('42601');
  });

  it('fixed: a Content-Type without a slash is answered by Fastify (415, {statusCode,code,error,message}), not PGRST102', async () => {
    // rest/service.ts registers a catch-all content-type parser ('*'), but Fastify validates the
    // media type syntax before any parser runs and replies itself. PostgREST answers 400 PGRST102
    // "Content-Type not acceptable: garbage" (§2.4) — the engine's parsePayload would too.
    const res = await send(base('anon', 'POST', '/items', [], { headers: { 'content-type': 'garbage' }, body: '{}' }));
    expect(res.status).toBe(400);
    expect(Object.keys(JSON.parse(res.text)).sort()).toEqual(['code', 'details', 'hint', 'message']);
  });

  it('fixed: a malformed percent-escape in the path is answered by Fastify (400 FST_ERR_BAD_URL), not 404 PGRST125', async () => {
    // Fastify's router rejects `/%zz` before rest/service.ts's handler runs; rest/engine.ts routeTarget
    // already maps undecodable segments to 404 PGRST125 but never sees the request.
    const res = await send(base('anon', 'GET', '/%zz', []));
    expect(Object.keys(JSON.parse(res.text)).sort()).toEqual(['code', 'details', 'hint', 'message']);
    expect(res.status).toBe(404);
  });

  it("fixed: per-role settings (statement_timeout 3s/8s from sql/0001_roles.sql) are not applied to the request's role", async () => {
    // db/request-context.ts contextStatement did `set_config('role', …)` only; ALTER ROLE … SET values
    // apply at login, not on SET ROLE, so every REST request runs with the authenticator's
    // statement_timeout (0). PostgREST applies the impersonated role's pg_db_role_setting per request.
    // Effect: an expensive request (e.g. 300 `clients(id)` embeds: ~16 s) is never cancelled.
    const res = await send(base('anon', 'GET', '/rpc/fuzz_settings', []));
    expect(JSON.parse(res.text)).toBe('anon 3s');
  });

  it('fixed: an embed filter addressed by relation names under aliased embeds is accepted but silently ignored', async () => {
    // rest/query-builder.ts: checkPaths resolves `projects.tasks` to the aliased embeds x:projects /
    // y:tasks (alias or name per level), but QueryBuilder.at matches only the last segment by name
    // (`['x','projects']`-style), so the filter is never rendered and all tasks come back.
    const select = { k: 'select', v: 'id,x:projects(id,y:tasks(id))' };
    const order = [{ k: 'order', v: 'id' }, { k: 'x.order', v: 'id' }, { k: 'x.y.order', v: 'id' }];
    const byAlias = await send(base('anon', 'GET', '/clients', [select, { k: 'x.y.id', v: 'eq.1' }, ...order]));
    const byName = await send(base('anon', 'GET', '/clients', [select, { k: 'projects.tasks.id', v: 'eq.1' }, ...order]));
    expect(byName.status).toBe(200);
    expect(JSON.parse(byName.text)).toEqual(JSON.parse(byAlias.text));
  });
});

describe('REST fuzz', () => {
  it('nesting at the MAX_NESTING (100) boundary: deep embeds, logic trees and embed paths are 2xx or 4xx', async () => {
    // todos → projects → todos … is linear for tenant A (one A todo per project), so depth 100 is cheap.
    const chain = (n: number) => {
      let s = 'id';
      for (let i = 0; i < n; i++) s = `${(n - 1 - i) % 2 ? 'todos' : 'projects'}(id,${s})`;
      return s;
    };
    const tree = (n: number) => `(${'or('.repeat(n - 1)}id.eq.1${')'.repeat(n - 1)})`;
    const reqs = [
      ...[99, 100, 101].map((n) => base('a', 'GET', '/todos', [{ k: 'select', v: chain(n) }])),
      ...[99, 100, 101, 300].map((n) => base('a', 'GET', '/items', [{ k: 'or', v: tree(n) }])),
      base('a', 'GET', '/items', [{ k: 'not.and', v: `(${'not.and('.repeat(99)}id.eq.1${')'.repeat(99)})` }]),
      base('a', 'GET', '/todos', [{ k: 'select', v: chain(6) }, { k: `${Array(6).fill(0).map((_, i) => (i % 2 ? 'todos' : 'projects')).join('.')}.id`, v: 'gt.0' }]),
      base('a', 'GET', '/todos', [{ k: 'select', v: 'id' }, { k: `${Array(120).fill('projects').join('.')}.id`, v: 'eq.1' }]),
      base('a', 'GET', '/clients', [{ k: 'select', v: `${'projects('.repeat(150)}id${')'.repeat(150)}` }]),
      base('anon', 'GET', '/items', [{ k: 'id', v: `in.(${Array(1500).fill('1').join(',')})` }]),
      base('anon', 'GET', '/complex_items', [{ k: 'select', v: `settings${'->a'.repeat(1000)}` }]),
      base('anon', 'POST', '/items', [], { body: `{"note":${'['.repeat(5000)}${']'.repeat(5000)}}`, headers: { 'content-type': 'application/json' } }),
    ];
    for (const req of reqs) {
      const res = await send(req);
      assertOk(req, res);
    }
  });

  it(`generic requests: never 5xx, PostgREST error bodies, no SQL syntax/parameter errors (${RUNS.generic} runs)`, async () => {
    await check('generic', genericReq, RUNS.generic, async (req) => {
      assertOk(req, await send(req));
    });
  }, 120_000);

  describe('RLS: tenant A never sees or changes tenant B', () => {
    type ReadKind = 'todos' | 'projects' | 'tenants' | 'todo_count' | 'whoami' | 'my_todos';
    interface ReadReq {
      req: Req;
      kind: ReadKind;
      /** `projects` with an inner-joined `todos` embed: the rows are bounded by A's projects. */
      innerTodos: boolean;
    }
    const readWho = pick<Who>(['a', 'a', 'a_confused', 'a_meta', 'anon', 'hostile']);
    const readHeaders = fc
      .record({
        prefer: sometimes(pick(['count=exact', 'count=exact', 'count=planned', 'count=estimated', 'count=exact, tx=rollback', 'return=representation']), 2),
        accept: sometimes(pick(['application/json', 'text/csv', 'application/vnd.pgrst.object+json', 'application/vnd.pgrst.array+json;nulls=stripped']), 4),
        range: sometimes(pick(['0-0', '0-1', '1-', '0-99', '2-5']), 5),
      })
      .map((hd) => Object.fromEntries(Object.entries(hd).filter(([, v]) => v !== undefined)) as Record<string, string>);
    /** Filters aimed at tenant B's rows (`prefix`: the embed path of `todos`). */
    const B_FILTERS: Param[] = [
      { k: 'tenant_id', v: `eq.${TENANT_B}` },
      { k: 'id', v: `eq.${B_IDS[0]}` },
      { k: 'id', v: `in.(${B_IDS.join(',')})` },
      { k: 'id', v: `gte.${B_IDS[0]}` },
      { k: 'title', v: 'like.b:*' },
      { k: 'title', v: 'eq.b: secret one' },
      { k: 'or', v: `(tenant_id.eq.${TENANT_B},id.gt.0)` },
      { k: 'tenant_id', v: `neq.${TENANT_A}` },
      { k: 'not.and', v: `(tenant_id.eq.${TENANT_A})` },
      { k: 'done', v: 'is.true' },
      { k: 'owner', v: `eq.${USER_B}` },
      { k: 'project_id', v: 'eq.3' },
    ];
    const bProbes = (prefix: string) => fc.array(pick(B_FILTERS).map((f): Param => ({ k: `${prefix}${f.k}`, v: f.v })), { maxLength: 2 });
    const readH = fc.nat(9).map((n) => n < 3);
    const todosEmbed = fc
      .record({
        alias: sometimes(pick(['t', 'todo_list']), 4),
        hints: fc.constantFrom<string[]>([], ['inner'], ['todos_project_id_fkey', 'inner'], ['left']),
        spread: fc.nat(5).map((n) => n === 0),
        items: readH.chain((h) => selectArb('todos', 1, h)),
        nullFilter: fc.oneof({ weight: 4, arbitrary: fc.constant<string | undefined>(undefined) }, { weight: 1, arbitrary: pick(['not.is.null', 'is.null']) }),
      })
      .map((r) => ({ ...r, alias: r.spread ? undefined : r.alias }));
    const readArb: fc.Arbitrary<ReadReq> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .record({ who: readWho, method: pick(['GET', 'GET', 'HEAD']), params: readH.chain((h) => queryArb('todos', { depth: 1, h })), probes: bProbes(''), headers: readHeaders })
          .map((r): ReadReq => ({ kind: 'todos', innerTodos: false, req: base(r.who, r.method, '/todos', [...r.params, ...r.probes], { headers: r.headers }) })),
      },
      {
        weight: 4,
        arbitrary: fc
          .record({ who: readWho, method: pick(['GET', 'GET', 'HEAD']), others: selectArb('projects', 0, false), embed: todosEmbed, headers: readHeaders, h: readH })
          .chain((r) => {
            const embed: Sel = { t: 'embed', name: 'todos', target: 'todos', alias: r.embed.alias, hints: r.embed.hints, spread: r.embed.spread, items: r.embed.items };
            const select = [...r.others, embed];
            const key = r.embed.alias ?? 'todos';
            return fc.tuple(queryArb('projects', { forceSelect: select, h: r.h }), bProbes(`${key}.`)).map(([params, probes]): ReadReq => {
              const extra: Param[] = [...(r.embed.nullFilter ? [{ k: key, v: r.embed.nullFilter }] : []), ...(r.embed.spread ? [] : probes)];
              const withSelect = params.some((p) => p.k === 'select' && p.v) ? params : [{ k: 'select', v: renderSelect(select) }, ...params.filter((p) => p.k !== 'select')];
              // An aggregate-only embed (`todos!inner(count())`) has a row even over no todos: no bound then.
              const aggregated = /count|\.(sum|avg|max|min)\(\)/.test(renderSelect(r.embed.items));
              const innerTodos = !aggregated && (r.embed.hints.includes('inner') || r.embed.nullFilter === 'not.is.null');
              return { kind: 'projects', innerTodos, req: base(r.who, r.method, '/projects', [...withSelect, ...extra], { headers: r.headers }) };
            });
          }),
      },
      { weight: 1, arbitrary: fc.record({ who: readWho, params: readH.chain((h) => queryArb('tenants', { depth: 1, h })), headers: readHeaders }).map((r): ReadReq => ({ kind: 'tenants', innerTodos: false, req: base(r.who, 'GET', '/tenants', r.params, { headers: r.headers }) })) },
      {
        weight: 3,
        arbitrary: fc
          .record({ who: readWho, fn: pick<ReadKind>(['todo_count', 'whoami', 'my_todos', 'my_todos']), method: pick(['GET', 'POST', 'HEAD']), params: readH.chain((h) => queryArb('todos', { depth: 1, h })), probes: bProbes(''), headers: readHeaders })
          .map((r): ReadReq => {
            const params = r.fn === 'my_todos' ? [...r.params, ...r.probes] : [];
            return { kind: r.fn, innerTodos: false, req: base(r.who, r.method, `/rpc/${r.fn}`, params, { headers: r.headers, body: r.method === 'POST' ? '{}' : undefined }) };
          }),
      },
    );

    it(`reads, counts, embeds and RPCs as A show no B row and count no more than A's rows (${RUNS.rlsRead} runs)`, async () => {
      await check('rls-read', readArb, RUNS.rlsRead, async ({ req, kind, innerTodos }) => {
        const res = await send(req);
        const seesA = ['a', 'a_confused', 'a_meta'].includes(req.who);
        const a = seesA ? await visibleToA() : { rows: 0, projects: 0 };
        const extra: string[] = [];
        const ok = res.status >= 200 && res.status < 300;
        if (ok) {
          const leak = leakIn(res.text);
          if (leak) extra.push(leak);
          const bound = kind === 'todos' || kind === 'my_todos' ? a.rows : kind === 'projects' && innerTodos ? a.projects : kind === 'tenants' ? (seesA ? 1 : 0) : undefined;
          const total = res.contentRange?.match(/\/(\d+)$/)?.[1];
          const exact = /^count=exact/.test(req.headers.prefer ?? '');
          if (bound !== undefined && exact && total !== undefined && Number(total) > bound) extra.push(`Content-Range total ${total} exceeds the ${bound} rows A may see`);
          if (bound !== undefined && req.method !== 'HEAD' && /json/.test(res.contentType)) {
            const body = JSON.parse(res.text) as unknown;
            // An aggregate without GROUP BY (count(), id.max(), legacy select=count) is one row even over none.
            const aggregated = req.params.some((p) => p.k.endsWith('select') && /count|\.(sum|avg|max|min)\(\)/.test(p.v ?? ''));
            const rowBound = aggregated ? Math.max(bound, 1) : bound;
            if (Array.isArray(body) && body.length > rowBound) extra.push(`${body.length} rows returned, A may see ${bound}`);
          }
          if (kind === 'todo_count' && req.method !== 'HEAD' && Number(res.text) > a.rows) extra.push(`todo_count ${res.text} exceeds A's ${a.rows} rows`);
          if (kind === 'whoami' && req.method !== 'HEAD' && seesA && (JSON.parse(res.text) as { tenant?: string }).tenant !== TENANT_A) extra.push('whoami is not tenant A');
        }
        assertOk(req, res, extra);
      });
    }, 120_000);

    // Attacks on B's rows through the tenant/owner/project columns; B's uuid only ever goes into tenant_id
    // (as a title it would come back in A's own representation and look like a leak).
    const writeRow = fc
      .tuple(
        fc.record(
          {
            tenant_id: pick<string | null>([TENANT_B, TENANT_B, TENANT_A, null, 'x']),
            owner: pick<string | null>([USER_B, USER_A, null]),
            title: jsonScalar,
            done: fc.oneof(fc.boolean(), jsonScalar),
            project_id: pick<number | string | null>([1, 3, null, 99, 'x']),
            id: pick<number | string>([1, 2, 999, 'x']),
          },
          { requiredKeys: ['title'] },
        ),
        rowArb('todos', true, jsonScalar),
        fc.nat(4),
      )
      // `id` is GENERATED ALWAYS (428C9 whenever present): keep it rare.
      .map(([known, random, n]) => {
        const row: Record<string, unknown> = n === 0 ? { ...random, ...known } : { ...known };
        if (n > 1) delete row.id;
        return row;
      });
    const bFilter = fc.oneof(
      pick<Param>([
        { k: 'tenant_id', v: `eq.${TENANT_B}` },
        { k: 'id', v: `eq.${B_IDS[0]}` },
        { k: 'id', v: `in.(${B_IDS.join(',')})` },
        { k: 'title', v: 'like.b:*' },
        { k: 'or', v: `(tenant_id.eq.${TENANT_B},id.gt.0)` },
        { k: 'tenant_id', v: `neq.${TENANT_A}` },
        { k: 'not.and', v: `(tenant_id.eq.${TENANT_A})` },
        { k: 'id', v: 'gt.0' },
        { k: 'project_id', v: 'eq.3' },
        { k: 'owner', v: `eq.${USER_B}` },
      ]),
      queryArb('todos', { depth: 1, h: false }).map((ps) => ps.find((p) => p.k !== 'select') ?? { k: 'id', v: 'eq.1' }),
    );
    const writeArb = fc
      .record({
        who: pick<Who>(['a', 'a_confused', 'a_meta']),
        method: pick(WRITE_METHODS),
        table: fc.oneof({ weight: 8, arbitrary: fc.constant('todos') }, { weight: 1, arbitrary: pick(['projects', 'tenants']) }),
        filters: fc.array(bFilter, { maxLength: 3 }),
        row: writeRow,
        rows: fc.array(writeRow, { minLength: 1, maxLength: 3 }),
        bulk: fc.boolean(),
        pkFilter: fc.oneof(pick(B_IDS), fc.constantFrom(1, 2)).map((id): Param => ({ k: 'id', v: `eq.${id}` })),
        extras: fc.array(pick<Param>([{ k: 'on_conflict', v: 'id' }, { k: 'columns', v: 'title,tenant_id' }, { k: 'columns', v: 'id,title' }, { k: 'select', v: '*,projects(*)' }, { k: 'select', v: 'id,tenant_id,title' }]), { maxLength: 2 }),
        prefer: fc.array(pick(['return=representation', 'return=representation', 'return=headers-only', 'resolution=merge-duplicates', 'resolution=ignore-duplicates', 'missing=default', 'count=exact']), { maxLength: 3 }),
        rollback: fc.nat(9).map((n) => n < 4),
      })
      .map((r): Req => {
        const body = r.method === 'DELETE' ? undefined : JSON.stringify(r.method === 'POST' && r.bulk ? r.rows : r.method === 'PUT' ? { ...r.row, id: Number(r.pkFilter.v!.slice(3)) } : r.row);
        const params = r.method === 'PUT' ? [r.pkFilter, ...r.extras.filter((p) => p.k === 'select')] : r.method === 'POST' ? r.extras : [...r.filters, ...r.extras];
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (r.prefer.length) headers.prefer = r.prefer.join(', ');
        return base(r.who, r.method, `/${r.table}`, params, { headers, body, rollback: r.rollback });
      });

    it(`writes as A leave every tenant-B row unchanged (${RUNS.rlsWrite} runs)`, async () => {
      await check('rls-write', writeArb, RUNS.rlsWrite, async (req) => {
        const res = await send(req);
        const extra: string[] = [];
        if (res.status >= 200 && res.status < 300) {
          const leak = leakIn(res.text);
          if (leak) extra.push(leak);
        }
        const after = await snapshotB();
        if (after !== bBefore) extra.push(`tenant B's rows changed:\n  before ${bBefore}\n  after  ${after}`);
        assertOk(req, res, extra);
      });
    }, 120_000);
  });

  it('afterwards every relation, policy, RLS flag, the canary table and tenant B are intact', async () => {
    expect(await snapshotSchema()).toBe(schemaBefore);
    expect(await snapshotB()).toBe(bBefore);
  });
});
