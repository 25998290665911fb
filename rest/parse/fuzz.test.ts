/**
 * Property-based tests for every parser in rest/parse: on arbitrary input (random unicode, lone
 * surrogates, and strings assembled from the grammar's own tokens) each parser either returns a
 * well-formed value or throws a 4xx RestError — never another exception — and stays linear-time
 * on long adversarial input. Plus round-trip properties for the quoting rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Field, Filter, LogicTree, MediaType, OrderTerm, ParsedQuery, Preferences, SelectItem } from '../ast.ts';
import { RestError } from '../errors.ts';
import { parseField, parseFilterValue, parseLogicTree, parseTreePath, tryParseFilterValue } from './filter.ts';
import { parseAccept, parsePrefer, parseRange } from './headers.ts';
import { parseOrder } from './order.ts';
import { parseColumnList, parseQuery } from './query.ts';
import { parseSelect } from './select.ts';

// ---------------------------------------------------------------------------------------------
// Shape validators
// ---------------------------------------------------------------------------------------------

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isString = (x: unknown): x is string => typeof x === 'string';
const optional = (x: unknown, check: (v: unknown) => boolean) => x === undefined || check(x);
const onlyKeys = (x: Record<string, unknown>, keys: string[]) => Object.keys(x).every((k) => keys.includes(k));

const OPS = new Set(['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch', 'in', 'is', 'isdistinct', 'fts', 'plfts', 'phfts', 'wfts', 'cs', 'cd', 'ov', 'sl', 'sr', 'nxr', 'nxl', 'adj']);
const QUANT_OPS = new Set(['eq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch']);
const FTS_OPS = new Set(['fts', 'plfts', 'phfts', 'wfts']);
const IS_VALUES = new Set(['null', 'not_null', 'true', 'false', 'unknown']);

function isField(x: unknown): x is Field {
  return (
    isObject(x) &&
    onlyKeys(x, ['name', 'jsonPath']) &&
    isString(x.name) &&
    Array.isArray(x.jsonPath) &&
    x.jsonPath.every(
      (s) => isObject(s) && onlyKeys(s, ['arrow', 'key']) && (s.arrow === '->' || s.arrow === '->>') && (isString(s.key) || (Number.isSafeInteger(s.key) && !Object.is(s.key, -0))),
    )
  );
}

function isSelectItems(x: unknown, top = true): x is SelectItem[] {
  if (!Array.isArray(x) || (top && x.length === 0)) return false;
  return x.every((item) => {
    if (!isObject(item)) return false;
    switch (item.type) {
      case 'star':
        return onlyKeys(item, ['type']);
      case 'count':
        return onlyKeys(item, ['type', 'alias', 'cast']) && optional(item.alias, isString) && optional(item.cast, (c) => isString(c) && c !== '');
      case 'field':
        return (
          onlyKeys(item, ['type', 'field', 'alias', 'cast', 'aggregate']) &&
          isField(item.field) &&
          optional(item.alias, isString) &&
          optional(item.cast, (c) => isString(c) && c !== '') &&
          optional(item.aggregate, (a) => isObject(a) && ['sum', 'avg', 'max', 'min', 'count'].includes(a.fn as string) && optional(a.cast, (c) => isString(c) && c !== ''))
        );
      case 'embed':
        return (
          onlyKeys(item, ['type', 'name', 'alias', 'hint', 'joinType', 'spread', 'select']) &&
          isString(item.name) &&
          typeof item.spread === 'boolean' &&
          (!item.spread || item.alias === undefined) &&
          optional(item.alias, isString) &&
          optional(item.hint, isString) &&
          optional(item.joinType, (j) => j === 'inner' || j === 'left') &&
          isSelectItems(item.select, false)
        );
      default:
        return false;
    }
  });
}

function isFilter(x: unknown): x is Filter {
  if (!isObject(x) || !onlyKeys(x, ['field', 'negated', 'op', 'quantifier', 'language', 'value'])) return false;
  if (!isField(x.field) || typeof x.negated !== 'boolean' || !OPS.has(x.op as string)) return false;
  if (x.quantifier !== undefined && !((x.quantifier === 'any' || x.quantifier === 'all') && QUANT_OPS.has(x.op as string))) return false;
  if (x.language !== undefined && !(isString(x.language) && FTS_OPS.has(x.op as string))) return false;
  if (x.op === 'in') return Array.isArray(x.value) && x.value.every(isString);
  if (x.op === 'is') return IS_VALUES.has(x.value as string);
  return isString(x.value) && (!(x.op === 'like' || x.op === 'ilike') || !x.value.includes('*'));
}

function isLogicTree(x: unknown): x is LogicTree {
  return (
    isObject(x) &&
    x.type === 'logic' &&
    (x.operator === 'and' || x.operator === 'or') &&
    typeof x.negated === 'boolean' &&
    Array.isArray(x.conditions) &&
    x.conditions.length > 0 &&
    x.conditions.every((c) => (isObject(c) && c.type === 'logic' ? isLogicTree(c) : isFilter(c)))
  );
}

function isOrder(x: unknown): x is OrderTerm[] {
  return (
    Array.isArray(x) &&
    x.length > 0 &&
    x.every(
      (t) =>
        isObject(t) &&
        onlyKeys(t, ['field', 'relation', 'direction', 'nulls']) &&
        isField(t.field) &&
        optional(t.relation, isString) &&
        optional(t.direction, (d) => d === 'asc' || d === 'desc') &&
        optional(t.nulls, (n) => n === 'first' || n === 'last'),
    )
  );
}

const isPath = (p: unknown) => Array.isArray(p) && p.every(isString);
const isAtPaths = (x: unknown, check: (v: unknown) => boolean) => Array.isArray(x) && x.every((a) => isObject(a) && isPath(a.path) && check(a.value));
const isNames = (x: unknown) => Array.isArray(x) && x.length > 0 && x.every(isString);

function isParsedQuery(x: unknown): x is ParsedQuery {
  return (
    isObject(x) &&
    isSelectItems(x.select) &&
    isAtPaths(x.filters, isFilter) &&
    isAtPaths(x.logic, isLogicTree) &&
    isAtPaths(x.order, isOrder) &&
    isAtPaths(x.limits, (n) => Number.isSafeInteger(n) && (n as number) >= 0) &&
    isAtPaths(x.offsets, (n) => Number.isSafeInteger(n) && (n as number) >= 0) &&
    optional(x.columns, isNames) &&
    optional(x.onConflict, isNames) &&
    Array.isArray(x.rpcArgs) &&
    x.rpcArgs.every((a) => Array.isArray(a) && a.length === 2 && isString(a[0]) && isString(a[1]))
  );
}

function isPreferences(x: unknown): x is Preferences {
  return (
    isObject(x) &&
    Array.isArray(x.invalid) &&
    x.invalid.every((s) => isString(s) && s !== '') &&
    optional(x.return, (v) => ['minimal', 'headers-only', 'representation'].includes(v as string)) &&
    optional(x.count, (v) => ['exact', 'planned', 'estimated'].includes(v as string)) &&
    optional(x.timezone, isString) &&
    optional(x.maxAffected, (n) => Number.isSafeInteger(n))
  );
}

const isMediaTypes = (x: unknown): x is MediaType[] =>
  Array.isArray(x) &&
  x.length > 0 &&
  x.every((m) => isObject(m) && isString(m.type) && m.type === m.type.toLowerCase() && isObject(m.params) && Object.values(m.params).every(isString) && typeof m.q === 'number' && !Number.isNaN(m.q));

const isRange = (x: unknown) =>
  x === undefined || (isObject(x) && Number.isSafeInteger(x.first) && optional(x.last, (l) => Number.isSafeInteger(l) && (l as number) >= (x.first as number)));

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/** Fragments of the grammars: operators, punctuation, keywords, unicode and control characters. */
const TOKENS = [
  '.', ',', '(', ')', '"', ':', '::', '!', '*', '-', '>', '->', '->>', '{', '}', '\\', ' ', '\t', '...', '..', '[', ']', '%', '+', '&', '=', '$', '_',
  'not', 'not.', 'and', 'or', 'in', 'in.', 'is', 'is.', 'isdistinct', 'eq', 'eq.', 'neq', 'gt', 'gte', 'like', 'ilike', 'match', 'cs', 'cd', 'ov', 'adj',
  'fts', 'wfts', '(english)', '(any)', '(all)', 'null', 'NULL', 'not_null', 'true', 'unknown', 'count()', '.sum()', '.avg()', 'count', 'inner', 'left',
  'asc', 'desc', '.asc', '.desc', 'nullsfirst', '.nullslast', 'select', 'order', 'limit', 'offset', 'columns', 'on_conflict', 'rpc',
  'a', 'id', 'name', 'x y', '0', '1', '-1', '42', '9999999999999999999999', 'é', '名', '😀', '\u0000', '\n', '\uD800', '\uDC00', '\u200B', '\uFEFF',
];

const grammarish = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((parts) => parts.join(''));
const specialChars = fc.string({ unit: fc.constantFrom(...'.,()":!*->{}\\ a1é😀'.split('')), maxLength: 60 });
const loneSurrogates = fc.string({ unit: fc.constantFrom('\uD800', '\uDBFF', '\uDC00', 'a', '(', '"'), maxLength: 20 });
const anyInput = fc.oneof(
  { arbitrary: fc.string({ maxLength: 80 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 80 }), weight: 1 },
  { arbitrary: grammarish, weight: 4 },
  { arbitrary: specialChars, weight: 3 },
  { arbitrary: loneSurrogates, weight: 1 },
);

/** Query strings: keys and values from the grammar, sometimes percent-encoded, joined with & and =. */
const queryString = fc
  .array(
    fc.tuple(
      fc.oneof(grammarish, fc.constantFrom('select', 'order', 'limit', 'offset', 'or', 'not.and', 'a.or', 'columns', 'on_conflict', 'id', 'tasks.order', 'a.limit')),
      fc.option(anyInput, { nil: undefined }),
      fc.boolean(),
    ),
    { maxLength: 8 },
  )
  .map((params) =>
    params
      .map(([k, v, encode]) => {
        const enc = (s: string) => (encode ? encodeURIComponent(s.replaceAll(/[\uD800-\uDFFF]/g, '?')) : s.replaceAll('&', ''));
        return v === undefined ? enc(k) : `${enc(k)}=${enc(v)}`;
      })
      .join('&'),
  );

const RUNS = 3000;

/** `run()` returns something `valid`, or throws a 4xx RestError — nothing else. */
function holds<T>(run: () => T, valid: (x: unknown) => boolean): boolean {
  let result: T;
  try {
    result = run();
  } catch (err) {
    if (!(err instanceof RestError)) throw err;
    if (err.status < 400 || err.status > 499) throw new Error(`non-4xx status ${err.status}`);
    if (err.code !== 'PGRST100' && err.code !== 'PGRST103') throw new Error(`unexpected code ${err.code}`);
    return true;
  }
  if (!valid(result)) throw new Error(`malformed result: ${JSON.stringify(result)}`);
  return true;
}

const id: Field = { name: 'id', jsonPath: [] };

describe('fuzz: parsers never throw anything but a 4xx RestError', () => {
  it('parseSelect', () => fc.assert(fc.property(anyInput, (s) => holds(() => parseSelect(s), (x) => isSelectItems(x))), { numRuns: RUNS }));

  it('parseFilterValue / tryParseFilterValue', () => {
    fc.assert(
      fc.property(anyInput, (s) => holds(() => parseFilterValue(id, s), isFilter) && holds(() => tryParseFilterValue(id, s), (x) => x === undefined || isFilter(x))),
      { numRuns: RUNS },
    );
  });

  it('parseLogicTree', () => {
    const tree = fc.oneof(anyInput, anyInput.map((s) => `(${s})`));
    fc.assert(
      fc.property(tree, fc.boolean(), fc.constantFrom('and' as const, 'or' as const), (s, negated, op) => holds(() => parseLogicTree(s, negated, op), isLogicTree)),
      { numRuns: RUNS },
    );
  });

  it('parseField / parseTreePath', () => {
    fc.assert(
      fc.property(anyInput, (s) => holds(() => parseField(s), isField) && holds(() => parseTreePath(s), (x) => isObject(x) && isPath(x.path) && isField(x.field))),
      { numRuns: RUNS },
    );
  });

  it('parseOrder', () => fc.assert(fc.property(anyInput, (s) => holds(() => parseOrder(s), isOrder)), { numRuns: RUNS }));

  it('parseColumnList', () => fc.assert(fc.property(anyInput, (s) => holds(() => parseColumnList('columns', s), isNames)), { numRuns: RUNS }));

  it('parseQuery', () => {
    fc.assert(
      fc.property(fc.oneof(queryString, anyInput), fc.boolean(), (q, rpcRead) => holds(() => parseQuery(q, { rpcRead }), isParsedQuery)),
      { numRuns: RUNS },
    );
  });

  it('parsePrefer / parseAccept / parseRange', () => {
    const header = fc.oneof(anyInput, fc.array(fc.constantFrom('return=minimal', 'count=exact', ',', ' ', ';', 'q=0.5', 'text/csv', '*/*', '=', '"', '1-2', '-'), { maxLength: 12 }).map((a) => a.join('')));
    fc.assert(
      fc.property(header, fc.array(header, { maxLength: 3 }), (h, hs) =>
        holds(() => parsePrefer(h), isPreferences) && holds(() => parsePrefer(hs), isPreferences) && holds(() => parseAccept(h), isMediaTypes) && holds(() => parseRange(h), isRange),
      ),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: round trips of the quoting rules', () => {
  const quote = (s: string) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  const text = fc.string({ unit: 'binary', maxLength: 30 });

  it('a top-level filter value is everything after the operator', () => {
    fc.assert(
      fc.property(fc.constantFrom('eq', 'neq', 'gt', 'match', 'cs', 'isdistinct', 'fts', 'wfts(english)', 'eq(any)', 'not.lte'), text, (op, v) => {
        const f = parseFilterValue(id, `${op}.${v}`);
        return f.value === v;
      }),
      { numRuns: RUNS },
    );
    fc.assert(fc.property(text, (v) => parseFilterValue(id, `like.${v}`).value === v.replaceAll('*', '%')), { numRuns: 500 });
  });

  it('quoted in-list items come back exactly', () => {
    fc.assert(fc.property(fc.array(text, { maxLength: 6 }), (items) => JSON.stringify(parseFilterValue(id, `in.(${items.map(quote).join(',')})`).value) === JSON.stringify(items)), { numRuns: RUNS });
  });

  it('quoted logic-tree values come back exactly', () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 5 }), (values) => {
        const tree = parseLogicTree(`(${values.map((v) => `a.eq.${quote(v)}`).join(',')})`, false, 'or');
        return JSON.stringify(tree.conditions.map((c) => (c as Filter).value)) === JSON.stringify(values);
      }),
      { numRuns: RUNS },
    );
  });

  it('quoted names come back exactly (select, order, columns, filter keys)', () => {
    fc.assert(
      // No Postgres name holds U+0000 (parseSelect refuses it: aliases and JSON keys become output names).
      fc.property(fc.array(text.filter((n) => !n.includes('\u0000')), { minLength: 1, maxLength: 4 }), (names) => {
        const select = parseSelect(names.map(quote).join(','));
        const order = parseOrder(names.map((n) => `${quote(n)}.desc`).join(','));
        const columns = parseColumnList('columns', names.map(quote).join(','));
        const key = parseTreePath(names.map(quote).join('.'));
        return (
          JSON.stringify(select.map((i) => (i as { field: Field }).field.name)) === JSON.stringify(names) &&
          JSON.stringify(order.map((t) => t.field.name)) === JSON.stringify(names) &&
          JSON.stringify(columns) === JSON.stringify(names) &&
          JSON.stringify([...key.path, key.field.name]) === JSON.stringify(names)
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: linear time on long adversarial input', () => {
  const N = 200_000;
  const inputs = [
    'a'.repeat(N),
    ' '.repeat(N) + '!',
    '"'.repeat(N),
    '\\'.repeat(N),
    '"\\'.repeat(N / 2),
    '-'.repeat(N),
    'a-'.repeat(N / 2),
    '->'.repeat(N / 2),
    '->0'.repeat(N / 3),
    '->-'.repeat(N / 3),
    '('.repeat(N),
    ')'.repeat(N),
    '{'.repeat(N),
    ','.repeat(N),
    'a:'.repeat(N / 2),
    '"a":'.repeat(N / 4),
    'a!'.repeat(N / 2),
    '...'.repeat(N / 3),
    'a.'.repeat(N / 2),
    'a(b),'.repeat(N / 5) + 'x',
    'a.asc,'.repeat(N / 6) + '.',
    'in.(' + '"a",'.repeat(N / 4),
    'in.(' + '"a'.repeat(N / 2),
    '(' + 'a.eq."x,'.repeat(N / 8),
    '(' + 'a.eq.{,'.repeat(N / 7),
    '(' + 'a.in.(1,'.repeat(N / 8),
    '(' + 'not.and(a.eq.1,'.repeat(50) + 'b.eq.'.repeat(N / 5),
    '(' + 'a.eq.1,'.repeat(N / 7) + ')',
    '(' + 'or(a.eq.1),'.repeat(N / 11) + ')',
    'eq.' + 'x'.repeat(N),
    '名'.repeat(N),
    '😀'.repeat(N / 2),
  ];

  it('every parser finishes quickly on every input', () => {
    for (const input of inputs) {
      const started = performance.now();
      const attempt = (run: () => unknown) => holds(run, () => true);
      attempt(() => parseSelect(input));
      attempt(() => parseFilterValue(id, input));
      attempt(() => tryParseFilterValue(id, input));
      attempt(() => parseLogicTree(input, false, 'or'));
      attempt(() => parseField(input));
      attempt(() => parseTreePath(input));
      attempt(() => parseOrder(input));
      attempt(() => parseColumnList('columns', input));
      attempt(() => parseQuery(`select=${encodeURIComponent(input.replaceAll(/[\uD800-\uDFFF]/g, ''))}&order=${input.slice(0, 1000)}`, { rpcRead: true }));
      attempt(() => parsePrefer(input));
      attempt(() => parseAccept(input));
      attempt(() => parseRange(input));
      const elapsed = performance.now() - started;
      // Linear parsing of these 200k-character inputs takes well under a second on an idle machine; a
      // quadratic parser takes minutes. The bound only has to tell them apart, also on a loaded
      // 2-core machine (a 2 s bound was once exceeded by 2 ms under load).
      expect(elapsed, `input starting ${JSON.stringify(input.slice(0, 20))}`).toBeLessThan(10_000);
    }
  });

  it('long query strings', () => {
    const started = performance.now();
    holds(() => parseQuery('a=eq.1&'.repeat(N / 7), { rpcRead: false }), isParsedQuery);
    holds(() => parseQuery('&'.repeat(N), { rpcRead: false }), isParsedQuery);
    holds(() => parseQuery('x'.repeat(N), { rpcRead: true }), isParsedQuery);
    holds(() => parseQuery(`or=(${'a.eq.1,'.repeat(N / 7)}b.eq.2)`, { rpcRead: false }), isParsedQuery);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});
