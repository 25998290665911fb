import { describe, expect, it } from 'vitest';
import type { Field, Filter, LogicTree } from '../ast.ts';
import { RestError } from '../errors.ts';
import { filter, fld, parseError } from '../../test/helpers/rest-parse.ts';
import { MAX_NESTING } from './lexer.ts';
import { parseField, parseFilterValue, parseLogicPath, parseLogicTree, parseTreePath, tryParseFilterValue } from './filter.ts';

const id: Field = { name: 'id', jsonPath: [] };
const f = (value: string) => parseFilterValue(id, value);

function expectFilterError(value: string, column?: number, details?: string): void {
  const err = parseError(() => f(value));
  expect(err.status).toBe(400);
  expect(err.code).toBe('PGRST100');
  if (column !== undefined) expect(err.message).toBe(`"failed to parse filter (${value})" (line 1, column ${column})`);
  if (details !== undefined) expect(err.details).toBe(details);
}

describe('parseFilterValue: operators (§1.5)', () => {
  it('simple comparison and pattern operators keep the raw value after the dot', () => {
    for (const op of ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'match', 'imatch', 'cs', 'cd', 'ov', 'sl', 'sr', 'nxr', 'nxl', 'adj', 'isdistinct'] as const) {
      expect(f(`${op}.some.value`)).toEqual(filter('id', op, 'some.value'));
    }
  });

  it('the value may be empty, contain dots, parentheses, quotes and stars', () => {
    expect(f('eq.')).toEqual(filter('id', 'eq', ''));
    expect(f('eq.a,b(c)"d"*')).toEqual(filter('id', 'eq', 'a,b(c)"d"*'));
    expect(f('imatch..*YY.*')).toEqual(filter('id', 'imatch', '.*YY.*'));
    expect(f('match.^xy')).toEqual(filter('id', 'match', '^xy'));
  });

  it('like/ilike turn * into %', () => {
    expect(f('like.*yx')).toEqual(filter('id', 'like', '%yx'));
    expect(f('ilike.xy*')).toEqual(filter('id', 'ilike', 'xy%'));
    expect(f('like.Design*')).toEqual(filter('id', 'like', 'Design%'));
    expect(f('eq.*')).toEqual(filter('id', 'eq', '*'));
  });

  it('containment, ranges and JSON operands are raw text', () => {
    expect(f('cs.{2}')).toEqual(filter('id', 'cs', '{2}'));
    expect(f('cd.{1,2,4}')).toEqual(filter('id', 'cd', '{1,2,4}'));
    expect(f('cs.{"a":1}')).toEqual(filter('id', 'cs', '{"a":1}'));
    expect(f('ov.[0,4]')).toEqual(filter('id', 'ov', '[0,4]'));
    expect(f('adj.(3,10]')).toEqual(filter('id', 'adj', '(3,10]'));
    expect(f('nxl.[4,7]')).toEqual(filter('id', 'nxl', '[4,7]'));
  });

  it('not. negates', () => {
    expect(f('not.eq.5')).toEqual(filter('id', 'eq', '5', { negated: true }));
    expect(f('not.in.(2,4)')).toEqual(filter('id', 'in', ['2', '4'], { negated: true }));
    expect(f('not.is.null')).toEqual(filter('id', 'is', 'null', { negated: true }));
    expectFilterError('not.not.eq.1');
    expectFilterError('not.', 5);
    expectFilterError('not.xyz.1', 5, 'unexpected "x" expecting operator (eq, gt, ...)');
  });

  it('is: null, not_null, true, false, unknown, case-insensitively', () => {
    expect(f('is.null')).toEqual(filter('id', 'is', 'null'));
    expect(f('is.NULL')).toEqual(filter('id', 'is', 'null'));
    expect(f('is.not_null')).toEqual(filter('id', 'is', 'not_null'));
    expect(f('is.NoT_NuLl')).toEqual(filter('id', 'is', 'not_null'));
    expect(f('is.true')).toEqual(filter('id', 'is', 'true'));
    expect(f('is.FAlSe')).toEqual(filter('id', 'is', 'false'));
    expect(f('is.UnKnOwN')).toEqual(filter('id', 'is', 'unknown'));
    expectFilterError('is.nil', 4);
    expectFilterError('is.');
    expectFilterError('is.1');
  });

  it('in: quoted items, raw items, empty lists', () => {
    expect(f('in.(1,3,5)')).toEqual(filter('id', 'in', ['1', '3', '5']));
    expect(f('in.("Hebdon, John","Williams, Mary","Smith, Joseph")')).toEqual(filter('id', 'in', ['Hebdon, John', 'Williams, Mary', 'Smith, Joseph']));
    expect(f('in.("Double\\"Quote\\"McGraw\\"")')).toEqual(filter('id', 'in', ['Double"Quote"McGraw"']));
    expect(f('in.("\\\\")')).toEqual(filter('id', 'in', ['\\']));
    expect(f('in.("/\\\\Slash/\\\\Beast/\\\\")')).toEqual(filter('id', 'in', ['/\\Slash/\\Beast/\\']));
    expect(f('in.(a,"b,c",d)')).toEqual(filter('id', 'in', ['a', 'b,c', 'd']));
    expect(f('in.()')).toEqual(filter('id', 'in', []));
    expect(f('in.(   )')).toEqual(filter('id', 'in', []));
    expect(f('in.("")')).toEqual(filter('id', 'in', ['']));
    expect(f('in.( ,3,4)')).toEqual(filter('id', 'in', ['', '3', '4']));
    expect(f('in.(,)')).toEqual(filter('id', 'in', ['', '']));
    expect(f('in.( 1 , 2 )')).toEqual(filter('id', 'in', ['1 ', ' 2 ']));
    expect(f('in.(5)')).toEqual(filter('id', 'in', ['5']));
  });

  it('in: a quote not followed by , or ) is raw text; text after the list is ignored (as PostgREST)', () => {
    expect(f('in.("a"x,b)')).toEqual(filter('id', 'in', ['"a"x', 'b']));
    expect(f('in.("unterminated,b)')).toEqual(filter('id', 'in', ['"unterminated', 'b']));
    expect(f('in.(1,2)trailing')).toEqual(filter('id', 'in', ['1', '2']));
    expectFilterError('in.1,2', 4, 'unexpected "1" expecting "("');
    expectFilterError('in.(1,2');
    expectFilterError('in.');
  });

  it('full-text search, with an optional language', () => {
    expect(f('fts.foo')).toEqual(filter('id', 'fts', 'foo'));
    expect(f('fts(english).impossible')).toEqual(filter('id', 'fts', 'impossible', { language: 'english' }));
    expect(f('plfts.a b')).toEqual(filter('id', 'plfts', 'a b'));
    expect(f('phfts(german).x')).toEqual(filter('id', 'phfts', 'x', { language: 'german' }));
    expect(f('wfts(simple).x or y')).toEqual(filter('id', 'wfts', 'x or y', { language: 'simple' }));
    expect(f('not.fts(english).x')).toEqual(filter('id', 'fts', 'x', { language: 'english', negated: true }));
    expectFilterError('fts().value');
    expectFilterError('fts(english.value');
  });

  it('any/all only on eq, gt, gte, lt, lte, like, ilike, match, imatch', () => {
    for (const op of ['eq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch'] as const) {
      expect(f(`${op}(any).{a,b}`)).toEqual(filter('id', op, '{a,b}', { quantifier: 'any' }));
      expect(f(`${op}(all).{a,b}`)).toEqual(filter('id', op, '{a,b}', { quantifier: 'all' }));
    }
    expect(f('eq(any).{3,4,5}')).toEqual(filter('id', 'eq', '{3,4,5}', { quantifier: 'any' }));
    expect(f('like(any).{*plan*,%brain%}')).toEqual(filter('id', 'like', '{%plan%,%brain%}', { quantifier: 'any' }));
    expect(f('not.eq(all).value')).toEqual(filter('id', 'eq', 'value', { quantifier: 'all', negated: true }));
    for (const bad of ['neq(any).x', 'cs(all).x', 'in(any).(1)', 'is(any).null', 'isdistinct(any).x', 'fts(any)x', 'eq().x', 'eq(some).x', 'eq(any)x']) {
      expectFilterError(bad, 1);
    }
  });

  it('rejects non-operators with PGRST100', () => {
    expectFilterError('0', 1, 'unexpected "0" expecting "not" or operator (eq, gt, ...)');
    expectFilterError('', 1, 'unexpected end of input expecting "not" or operator (eq, gt, ...)');
    expectFilterError('eq', 1);
    expectFilterError('noop.0', 1);
    expectFilterError('EQ.1', 1);
    expectFilterError('eqx.1', 1);
    expectFilterError('is(', 1);
    expectFilterError('in().value', 1);
  });

  it('keeps the field it is given', () => {
    const data: Field = { name: 'data', jsonPath: [{ arrow: '->', key: 'foo' }, { arrow: '->>', key: 'bar' }] };
    expect(parseFilterValue(data, 'eq.baz')).toEqual({ field: data, negated: false, op: 'eq', value: 'baz' });
  });
});

describe('tryParseFilterValue (GET /rpc arguments)', () => {
  it('is undefined when the value is not an operator expression at all', () => {
    for (const v of ['5', 'hello', '', 'eq', 'nothing', 'not', 'eqx.1', 'fts(english', 'neq(any).x', 'world', 'ignored', '{1,2}']) {
      expect(tryParseFilterValue(id, v)).toBeUndefined();
    }
  });

  it('parses operator expressions', () => {
    expect(tryParseFilterValue(id, 'gt.2')).toEqual(filter('id', 'gt', '2'));
    expect(tryParseFilterValue(id, 'not.is.null')).toEqual(filter('id', 'is', 'null', { negated: true }));
  });

  it('still fails once the value has committed to an operator', () => {
    for (const v of ['not.sure', 'in.x', 'is.maybe', 'in.(1']) {
      expect(parseError(() => tryParseFilterValue(id, v)).code).toBe('PGRST100');
    }
  });
});

describe('parseField and parseTreePath (filter keys)', () => {
  it('columns with JSON paths', () => {
    expect(parseField('id')).toEqual(id);
    expect(parseField('data->foo->>bar')).toEqual({ name: 'data', jsonPath: [{ arrow: '->', key: 'foo' }, { arrow: '->>', key: 'bar' }] });
    expect(parseField('data->0->>-1')).toEqual({ name: 'data', jsonPath: [{ arrow: '->', key: 0 }, { arrow: '->>', key: -1 }] });
    expect(parseField('Just A Server Model')).toEqual(fld('Just A Server Model'));
    expect(parseField('"a.b"')).toEqual(fld('a.b'));
  });

  it('embed paths', () => {
    expect(parseTreePath('id')).toEqual({ path: [], field: id });
    expect(parseTreePath('projects.tasks.name')).toEqual({ path: ['projects', 'tasks'], field: fld('name') });
    expect(parseTreePath('clients.data->a')).toEqual({ path: ['clients'], field: { name: 'data', jsonPath: [{ arrow: '->', key: 'a' }] } });
    expect(parseTreePath('"a.b".c')).toEqual({ path: ['a.b'], field: fld('c') });
  });

  it('rejects malformed keys', () => {
    for (const key of ['', '.', 'a.', '.a', 'a..b', 'a!', 'id[]', 'a->', 'a->b.c', '"a']) {
      const err = parseError(() => parseTreePath(key));
      expect(err.code).toBe('PGRST100');
      expect(err.message).toContain(`"failed to parse tree path (${key})"`);
    }
    expect(parseError(() => parseField('a.b')).code).toBe('PGRST100');
  });

  it('logic keys', () => {
    expect(parseLogicPath('or')).toEqual({ path: [], negated: false, operator: 'or' });
    expect(parseLogicPath('not.and')).toEqual({ path: [], negated: true, operator: 'and' });
    expect(parseLogicPath('tasks.not.and')).toEqual({ path: ['tasks'], negated: true, operator: 'and' });
    expect(parseLogicPath('children.gChildren.or')).toEqual({ path: ['children', 'gChildren'], negated: false, operator: 'or' });
    expect(parseError(() => parseLogicPath('a!.or')).code).toBe('PGRST100');
    expect(parseError(() => parseLogicPath('xor')).code).toBe('PGRST100');
  });
});

describe('parseLogicTree (§1.6)', () => {
  const or = (...conditions: (Filter | LogicTree)[]): LogicTree => ({ type: 'logic', operator: 'or', negated: false, conditions });
  const and = (...conditions: (Filter | LogicTree)[]): LogicTree => ({ type: 'logic', operator: 'and', negated: false, conditions });

  function expectTreeError(input: string, operator: 'and' | 'or' = 'or', column?: number, details?: string, negated = false): void {
    const err = parseError(() => parseLogicTree(input, negated, operator));
    expect(err.status).toBe(400);
    expect(err.code).toBe('PGRST100');
    if (column !== undefined) expect(err.message).toBe(`"failed to parse logic tree (${input})" (line 1, column ${column})`);
    if (details !== undefined) expect(err.details).toBe(details);
  }

  it('flat trees; the key supplies operator and negation', () => {
    expect(parseLogicTree('(id.eq.1,id.eq.2)', false, 'or')).toEqual(or(filter('id', 'eq', '1'), filter('id', 'eq', '2')));
    expect(parseLogicTree('(id.eq.1,id.eq.2)', true, 'or')).toEqual({ ...or(filter('id', 'eq', '1'), filter('id', 'eq', '2')), negated: true });
    expect(parseLogicTree('(name.is.null,arr.is.null)', false, 'and')).toEqual(and(filter('name', 'is', 'null'), filter('arr', 'is', 'null')));
  });

  it('nested and/or/not, values with spaces', () => {
    expect(parseLogicTree('(and(name.eq.entity 2,id.eq.2),and(name.eq.entity 1,id.eq.1))', false, 'or')).toEqual(
      or(and(filter('name', 'eq', 'entity 2'), filter('id', 'eq', '2')), and(filter('name', 'eq', 'entity 1'), filter('id', 'eq', '1'))),
    );
    expect(parseLogicTree('(id.eq.1,not.and(id.gt.2,not.or(id.eq.3)))', false, 'or')).toEqual(
      or(filter('id', 'eq', '1'), { type: 'logic', operator: 'and', negated: true, conditions: [filter('id', 'gt', '2'), { type: 'logic', operator: 'or', negated: true, conditions: [filter('id', 'eq', '3')] }] }),
    );
    expect(parseLogicTree('(id.eq.1,name.eq.child entity 2)', false, 'or')).toEqual(or(filter('id', 'eq', '1'), filter('name', 'eq', 'child entity 2')));
  });

  it('quoted values may contain , ( ) and escaped quotes', () => {
    expect(parseLogicTree('(name.eq."(grandchild,entity,4)",name.eq."(grandchild,entity,5)")', false, 'or')).toEqual(
      or(filter('name', 'eq', '(grandchild,entity,4)'), filter('name', 'eq', '(grandchild,entity,5)')),
    );
    expect(parseLogicTree('(name.eq."a\\"b",name.like."*,*")', false, 'or')).toEqual(or(filter('name', 'eq', 'a"b'), filter('name', 'like', '%,%')));
    expect(parseLogicTree('(name.eq."a"b)', false, 'or')).toEqual(or(filter('name', 'eq', '"a"b')));
  });

  it('{pg,array} values, any/all, containment', () => {
    expect(parseLogicTree('(arr.cs.{1,2},id.eq(any).{3,4},arr.cd.{})', false, 'and')).toEqual(
      and(filter('arr', 'cs', '{1,2}'), filter('id', 'eq', '{3,4}', { quantifier: 'any' }), filter('arr', 'cd', '{}')),
    );
    expect(parseLogicTree('(body.like(all).{*a*,*b*})', false, 'or')).toEqual(or(filter('body', 'like', '{%a%,%b%}', { quantifier: 'all' })));
    expect(parseLogicTree('(range.ov."[1,3]")', false, 'or')).toEqual(or(filter('range', 'ov', '[1,3]')));
    // Unquoted, the comma of a range literal ends the value (as in PostgREST).
    expect(() => parseLogicTree('(range.ov.[1,3])', false, 'or')).toThrow(RestError);
  });

  it('in, is, isdistinct, fts, JSON paths and not. inside trees', () => {
    expect(parseLogicTree('(id.in.(1,"2,3"),id.not.is.null,a.isdistinct.2,tsv.fts(english).foo,jsonb_col->a->>b.eq.foo)', false, 'or')).toEqual(
      or(
        filter('id', 'in', ['1', '2,3']),
        filter('id', 'is', 'null', { negated: true }),
        filter('a', 'isdistinct', '2'),
        filter('tsv', 'fts', 'foo', { language: 'english' }),
        { field: { name: 'jsonb_col', jsonPath: [{ arrow: '->', key: 'a' }, { arrow: '->>', key: 'b' }] }, negated: false, op: 'eq', value: 'foo' },
      ),
    );
  });

  it('columns named and/or/not are filters', () => {
    expect(parseLogicTree('(not.eq.1,and.is.null,or.gt.2)', false, 'or')).toEqual(or(filter('not', 'eq', '1'), filter('and', 'is', 'null'), filter('or', 'gt', '2')));
  });

  it('tolerates whitespace around tokens (values keep theirs)', () => {
    expect(parseLogicTree('( and ( id.in.( 1, 2, 3 ) , id.eq.3 ) , or ( id.eq.2 , id.eq.3 ) )', false, 'and')).toEqual(
      and(and(filter('id', 'in', ['1', ' 2', ' 3 ']), filter('id', 'eq', '3 ')), or(filter('id', 'eq', '2 '), filter('id', 'eq', '3 '))),
    );
    expect(parseLogicTree(' (id.eq.1)', false, 'or')).toEqual(or(filter('id', 'eq', '1')));
  });

  it('ignores text after the closing parenthesis', () => {
    expect(parseLogicTree('(id.eq.1,id.neq.2))', false, 'and')).toEqual(and(filter('id', 'eq', '1'), filter('id', 'neq', '2')));
    expect(parseLogicTree('(id.eq.1)garbage', false, 'or')).toEqual(or(filter('id', 'eq', '1')));
  });

  it('errors, with columns counted from `[not.]op` as PostgREST does', () => {
    expectTreeError('()', 'or', 4, 'unexpected ")" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)');
    expectTreeError('()', 'or', 8, undefined, true);
    expectTreeError('(id.in.1,2,id.eq.3)', 'or', 10, 'unexpected "1" expecting "("');
    expectTreeError(')(', 'or', 3, 'unexpected ")" expecting "("');
    expectTreeError('(ord(id.eq.1,id.eq.1),id.eq.2)', 'and', 7, 'unexpected "d" expecting "("');
    expectTreeError('(id.eq.1,not.xor(id.eq.2,id.eq.3))', 'or', 16, 'unexpected "x" expecting logic operator (and, or)');
    expectTreeError('');
    expectTreeError('(');
    expectTreeError('(id.eq.1');
    expectTreeError('(id.eq.1,)');
    expectTreeError('(id)');
    expectTreeError('(id.eq)');
    expectTreeError('(id.is.nil)');
    expectTreeError('(id.is.nullx)');
    expectTreeError('(arr.cs.{1,2}x)');
    expectTreeError('(and())');
  });

  it('caps nesting depth', () => {
    const nested = (n: number) => `(${'and('.repeat(n - 1)}id.eq.1${')'.repeat(n)}`;
    expect(() => parseLogicTree(nested(MAX_NESTING), false, 'or')).not.toThrow();
    expectTreeError(nested(MAX_NESTING + 1));
    expectTreeError('(' + 'or('.repeat(100_000));
  });
});
