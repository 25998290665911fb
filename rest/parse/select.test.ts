import { describe, expect, it } from 'vitest';
import type { SelectItem } from '../ast.ts';
import { parseError } from '../../test/helpers/rest-parse.ts';
import { MAX_NESTING } from './lexer.ts';
import { parseSelect } from './select.ts';


function expectSelectError(input: string, column?: number, details?: string): void {
  const err = parseError(() => parseSelect(input));
  expect(err.status).toBe(400);
  expect(err.code).toBe('PGRST100');
  expect(err.message).toMatch(new RegExp(`^"failed to parse select parameter \\(.*\\)" \\(line 1, column \\d+\\)$`, 's'));
  if (column !== undefined) expect(err.message).toBe(`"failed to parse select parameter (${input})" (line 1, column ${column})`);
  if (details !== undefined) expect(err.details).toBe(details);
}

const col = (name: string, extra: Partial<Extract<SelectItem, { type: 'field' }>> = {}): SelectItem => ({
  type: 'field',
  field: { name, jsonPath: [] },
  ...extra,
});
const star: SelectItem = { type: 'star' };

describe('parseSelect: basics', () => {
  it('empty, blank or star means all columns', () => {
    expect(parseSelect('')).toEqual([star]);
    expect(parseSelect('   ')).toEqual([star]);
    expect(parseSelect('*')).toEqual([star]);
  });

  it('plain columns, in order', () => {
    expect(parseSelect('id,name')).toEqual([col('id'), col('name')]);
    expect(parseSelect('*,id')).toEqual([star, col('id')]);
  });

  it('tolerates whitespace around items and inside embeds', () => {
    expect(parseSelect(' id , name ')).toEqual([col('id'), col('name')]);
    expect(parseSelect('id, name, clients(*), tasks(id, name)')).toEqual([
      col('id'),
      col('name'),
      { type: 'embed', name: 'clients', spread: false, select: [star] },
      { type: 'embed', name: 'tasks', spread: false, select: [col('id'), col('name')] },
    ]);
    expect(parseSelect('clients ( id )')).toEqual([{ type: 'embed', name: 'clients', spread: false, select: [col('id')] }]);
    expect(parseSelect('* , id')).toEqual([star, col('id')]);
  });
});

describe('parseSelect: identifiers (§1.3)', () => {
  it('unquoted names with spaces, $, _, digits, unicode letters and inner dashes', () => {
    expect(parseSelect('Just A Server Model')).toEqual([col('Just A Server Model')]);
    expect(parseSelect('a$num$,_x,123,$')).toEqual([col('a$num$'), col('_x'), col('123'), col('$')]);
    expect(parseSelect('field-with_sep')).toEqual([col('field-with_sep')]);
    expect(parseSelect('a - b')).toEqual([col('a-b')]);
    expect(parseSelect('naïve,名前')).toEqual([col('naïve'), col('名前')]);
  });

  it('quoted names with backslash escapes keep everything, including spaces', () => {
    expect(parseSelect('"a.dotted.column"')).toEqual([col('a.dotted.column')]);
    expect(parseSelect('":arr->ow::cast"')).toEqual([col(':arr->ow::cast')]);
    expect(parseSelect('"(inside,parens)"')).toEqual([col('(inside,parens)')]);
    expect(parseSelect('"a\\"b\\\\c\\d"')).toEqual([col('a"b\\cd')]);
    expect(parseSelect('" padded "')).toEqual([col(' padded ')]);
  });

  it('a dash followed by > starts a JSON path instead', () => {
    expect(parseSelect('data->a')).toEqual([col('data', { field: { name: 'data', jsonPath: [{ arrow: '->', key: 'a' }] } })]);
  });

  it('rejects a dangling dash and an unterminated quote', () => {
    expectSelectError('a-');
    expectSelectError('a-,b');
    expectSelectError('"abc');
    expectSelectError('id,"abc\\"');
  });
});

describe('parseSelect: JSON paths', () => {
  const path = (name: string, ...steps: [string, string | number][]) => ({
    name,
    jsonPath: steps.map(([arrow, key]) => ({ arrow: arrow as '->' | '->>', key })),
  });

  it('keys and integer indexes', () => {
    expect(parseSelect('settings->foo->>bar')).toEqual([{ type: 'field', field: path('settings', ['->', 'foo'], ['->>', 'bar']) }]);
    expect(parseSelect('data->0->a->>2')).toEqual([{ type: 'field', field: path('data', ['->', 0], ['->', 'a'], ['->>', 2]) }]);
    expect(parseSelect('data->>-1')).toEqual([{ type: 'field', field: path('data', ['->>', -1]) }]);
    expect(parseSelect('data->-0')).toEqual([{ type: 'field', field: path('data', ['->', 0]) }]);
  });

  it('an integer not followed by ->, ::, ., , ) or the end is a key', () => {
    expect(parseSelect('data->0xy1')).toEqual([{ type: 'field', field: path('data', ['->', '0xy1']) }]);
    expect(parseSelect('data->1 ')).toEqual([{ type: 'field', field: path('data', ['->', '1']) }]);
    expect(parseSelect('x(data->0)')).toEqual([{ type: 'embed', name: 'x', spread: false, select: [{ type: 'field', field: path('data', ['->', 0]) }] }]);
    expect(parseSelect('data->0.sum()')).toEqual([{ type: 'field', field: path('data', ['->', 0]), aggregate: { fn: 'sum' } }]);
  });

  it('keys may hold special characters, spaces (trimmed), inner dashes and quotes', () => {
    expect(parseSelect('a->!@#$%^&*_a')).toEqual([{ type: 'field', field: path('a', ['->', '!@#$%^&*_a']) }]);
    expect(parseSelect('a->some key ->>x-y')).toEqual([{ type: 'field', field: path('a', ['->', 'some key'], ['->>', 'x-y']) }]);
    expect(parseSelect('a->"k.e,y"')).toEqual([{ type: 'field', field: path('a', ['->', 'k.e,y']) }]);
  });

  it('with aliases and casts', () => {
    expect(parseSelect('myInt:settings->foo->>int::integer')).toEqual([
      { type: 'field', field: path('settings', ['->', 'foo'], ['->>', 'int']), alias: 'myInt', cast: 'integer' },
    ]);
    expect(parseSelect('data->>-1::int')).toEqual([{ type: 'field', field: path('data', ['->>', -1]), cast: 'int' }]);
    expect(parseSelect('settings->>foo::json')).toEqual([{ type: 'field', field: path('settings', ['->>', 'foo']), cast: 'json' }]);
    expect(parseSelect('a:numbers->0')).toEqual([{ type: 'field', field: path('numbers', ['->', 0]), alias: 'a' }]);
  });

  it('rejects malformed paths with Parsec-like positions', () => {
    expectSelectError('data->>--34', 9, 'unexpected "-" expecting digit');
    expectSelectError('data->>-78xy', 11, `unexpected 'x' expecting digit, "->", "::", ".", "," or end of input`);
    expectSelectError('data->>-xy-4', 9);
    expectSelectError('data->');
    expectSelectError('data->>');
    expectSelectError('data->(a)');
    expectSelectError('data->"unterminated');
    expectSelectError('data->99999999999999999999');
  });
});

describe('parseSelect: aliases, casts, aggregates, count', () => {
  it('aliases: ":" not followed by ":"', () => {
    expect(parseSelect('myId:id::text')).toEqual([col('id', { alias: 'myId', cast: 'text' })]);
    expect(parseSelect('"my alias":id')).toEqual([col('id', { alias: 'my alias' })]);
    expect(parseSelect('a: b')).toEqual([col('b', { alias: 'a' })]);
    expect(parseSelect('factory:name')).toEqual([col('name', { alias: 'factory' })]);
  });

  it('casts are identifier-like, may contain spaces, and are trimmed', () => {
    expect(parseSelect('id::text')).toEqual([col('id', { cast: 'text' })]);
    expect(parseSelect('id::character varying')).toEqual([col('id', { cast: 'character varying' })]);
    expect(parseSelect('arr::_int4')).toEqual([col('arr', { cast: '_int4' })]);
    expectSelectError('name::', 7);
    expectSelectError('name::  ');
    expectSelectError('id::int[]');
    expectSelectError('a:::int');
  });

  it('aggregates with optional casts before and after', () => {
    for (const fn of ['sum', 'avg', 'max', 'min', 'count'] as const) {
      expect(parseSelect(`amount.${fn}()`)).toEqual([col('amount', { aggregate: { fn } })]);
    }
    expect(parseSelect('total:amount::numeric.sum()::text')).toEqual([
      col('amount', { alias: 'total', cast: 'numeric', aggregate: { fn: 'sum', cast: 'text' } }),
    ]);
    expectSelectError('amount.median()');
    expectSelectError('amount.sum');
    expectSelectError('a.b');
  });

  it('count() with alias and cast; bare `count` is a column', () => {
    expect(parseSelect('count()')).toEqual([{ type: 'count' }]);
    expect(parseSelect('n:count()::int')).toEqual([{ type: 'count', alias: 'n', cast: 'int' }]);
    expect(parseSelect('projects(count())')).toEqual([{ type: 'embed', name: 'projects', spread: false, select: [{ type: 'count' }] }]);
    expect(parseSelect('count')).toEqual([col('count')]);
    expect(parseSelect('projects(count)')).toEqual([{ type: 'embed', name: 'projects', spread: false, select: [col('count')] }]);
    expectSelectError('count(*)');
    expectSelectError('count()x');
  });
});

describe('parseSelect: embeds and spreads', () => {
  const embed = (name: string, select: SelectItem[], extra: object = {}): SelectItem => ({ type: 'embed', name, spread: false, select, ...extra });

  it('plain, aliased, hinted and joined embeds', () => {
    expect(parseSelect('clients(*)')).toEqual([embed('clients', [star])]);
    expect(parseSelect('client:clients(clientId:id,name)')).toEqual([embed('clients', [col('id', { alias: 'clientId' }), col('name')], { alias: 'client' })]);
    expect(parseSelect('clients!inner(id)')).toEqual([embed('clients', [col('id')], { joinType: 'inner' })]);
    expect(parseSelect('clients!left(id)')).toEqual([embed('clients', [col('id')], { joinType: 'left' })]);
    expect(parseSelect('capital!country_id(name)')).toEqual([embed('capital', [col('name')], { hint: 'country_id' })]);
    expect(parseSelect('a:rel!hint!inner(*)')).toEqual([embed('rel', [star], { alias: 'a', hint: 'hint', joinType: 'inner' })]);
    expect(parseSelect('rel!inner!hint(*)')).toEqual([embed('rel', [star], { hint: 'hint', joinType: 'inner' })]);
    expect(parseSelect('rel!"inner"(*)')).toEqual([embed('rel', [star], { hint: 'inner' })]);
    expect(parseSelect('rel!leftover(*)')).toEqual([embed('rel', [star], { hint: 'leftover' })]);
    expect(parseSelect('client_id(name)')).toEqual([embed('client_id', [col('name')])]);
  });

  it('empty embeds (filter only)', () => {
    expect(parseSelect('id,name,clients!inner()')).toEqual([col('id'), col('name'), embed('clients', [], { joinType: 'inner' })]);
    expect(parseSelect('clients()')).toEqual([embed('clients', [])]);
    expect(parseSelect('clients( )')).toEqual([embed('clients', [])]);
  });

  it('nesting', () => {
    expect(parseSelect('id,projects(id,tasks(id,name))')).toEqual([col('id'), embed('projects', [col('id'), embed('tasks', [col('id'), col('name')])])]);
    expect(parseSelect('*,client(*,nested(*))')).toEqual([star, embed('client', [star, embed('nested', [star])])]);
    expect(parseSelect('name,tasks(name,project:projects(name))')).toEqual([
      col('name'),
      embed('tasks', [col('name'), embed('projects', [col('name')], { alias: 'project' })]),
    ]);
  });

  it('spreads, with hints, nested, never aliased', () => {
    expect(parseSelect('id,...clients(client_name:name)')).toEqual([col('id'), { type: 'embed', name: 'clients', spread: true, select: [col('name', { alias: 'client_name' })] }]);
    expect(parseSelect('...rel!hint!inner(*)')).toEqual([{ type: 'embed', name: 'rel', spread: true, select: [star], hint: 'hint', joinType: 'inner' }]);
    expect(parseSelect('factory:name,...processes(name)')).toEqual([col('name', { alias: 'factory' }), { type: 'embed', name: 'processes', spread: true, select: [col('name')] }]);
    expect(parseSelect('*,...client(*),other(*)')).toEqual([star, { type: 'embed', name: 'client', spread: true, select: [star] }, embed('other', [star])]);
    expectSelectError('alias:...rel(*)');
    expectSelectError('...rel');
    expectSelectError('..rel(*)');
    expectSelectError('...rel->jsonpath(*)');
  });

  it('rejects malformed embeds', () => {
    expectSelectError('id,clients(name[])', 16);
    expectSelectError('rel->jsonpath(*)');
    expectSelectError('name!hint');
    expectSelectError('rel!a!b!c(*)');
    expectSelectError('rel!(*)');
    expectSelectError('clients(id');
    expectSelectError('clients(id,)');
    expectSelectError('clients(,id)');
    expectSelectError('clients(a)b');
  });

  it('caps nesting depth', () => {
    const nested = (n: number) => 'a('.repeat(n) + ')'.repeat(n);
    expect(() => parseSelect(nested(MAX_NESTING))).not.toThrow();
    expectSelectError(nested(MAX_NESTING + 1));
    expectSelectError('a('.repeat(100_000));
  });
});

describe('parseSelect: errors', () => {
  it('rejects stray punctuation and trailing text', () => {
    expectSelectError('*!hint', 2);
    expectSelectError('id)', 3, 'unexpected ")" expecting "," or end of input');
    expectSelectError('id,');
    expectSelectError(',id');
    expectSelectError('id,,name');
    expectSelectError('(id)');
    expectSelectError('a:*');
    expectSelectError('*::text');
    expectSelectError('id name!');
    expectSelectError(':x');
  });
});
