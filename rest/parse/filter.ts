/**
 * Horizontal filters (`col=[not.]op.value`), logic trees (`or=(…)`) and filter keys
 * (`embed.path.col->json->>path`), per docs/postgrest.md §1.3, §1.5, §1.6,
 * over the lexical toolkit of ./lexer.ts.
 */
import type { Field, Filter, FilterOperator, IsValue, JsonPathStep, LogicTree } from '../ast.ts';
import { ERRORS } from '../errors.ts';
import { Cursor, FIELD_NAME, MAX_NESTING, ParseFailure, fieldName, identifier, jsonPath, requireFieldName, runParser, scanQuoted } from './lexer.ts';

// ---------------------------------------------------------------------------------------------
// Filter keys
// ---------------------------------------------------------------------------------------------

/** Dot-separated field names covering the whole input (`a.b."c.d"`). */
function dottedNames(c: Cursor): string[] {
  const names = [requireFieldName(c)];
  while (c.eat('.')) names.push(requireFieldName(c));
  return names;
}

function expectEnd(c: Cursor, expecting: string): void {
  if (!c.done) c.unexpected(expecting);
}

/**
 * A filter key: `[embed.path.]column[->json path]` (`projects.tasks.name`, `data->foo->>bar`).
 * Unlike PostgREST, trailing characters that are not part of the grammar are an error rather
 * than silently dropped. Throws 400 PGRST100 ("failed to parse tree path (…)").
 */
export function parseTreePath(key: string): { path: string[]; field: Field } {
  return runParser('tree path', key, (c) => {
    const names = dottedNames(c);
    const path = jsonPath(c);
    expectEnd(c, path.length === 0 ? '".", "->", "->>" or end of input' : '"->", "->>" or end of input');
    return { path: names.slice(0, -1), field: { name: names[names.length - 1], jsonPath: path } };
  });
}

/** A column with an optional JSON path, e.g. the key of `data->foo->>bar=eq.baz`. */
export function parseField(input: string): Field {
  return runParser('tree path', input, (c) => {
    const name = requireFieldName(c);
    const path = jsonPath(c);
    expectEnd(c, '"->", "->>" or end of input');
    return { name, jsonPath: path };
  });
}

/**
 * The key of a logic-tree parameter: `[embed.path.][not.](and|or)` (`not.or`, `tasks.not.and`).
 * As in PostgREST, any `not` segment negates the tree and is dropped from the path.
 */
export function parseLogicPath(key: string): { path: string[]; negated: boolean; operator: 'and' | 'or' } {
  return runParser('logic path', key, (c: Cursor) => {
    const names = dottedNames(c);
    expectEnd(c, '"." or end of input');
    const operator = names[names.length - 1];
    if (operator !== 'and' && operator !== 'or') c.fail(`unexpected "${operator}" expecting logic operator (and, or)`, 0);
    const prefix = names.slice(0, -1);
    return { path: prefix.filter((n) => n !== 'not'), negated: prefix.includes('not'), operator };
  });
}

// ---------------------------------------------------------------------------------------------
// Operator expressions
// ---------------------------------------------------------------------------------------------

const SIMPLE_OPS: ReadonlySet<string> = new Set(['neq', 'cs', 'cd', 'ov', 'sl', 'sr', 'nxr', 'nxl', 'adj']);
/** The operators that take `(any)` / `(all)`. */
const QUANT_OPS: ReadonlySet<string> = new Set(['eq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch']);
const FTS_OPS: ReadonlySet<string> = new Set(['fts', 'plfts', 'phfts', 'wfts']);
const IS_VALUES: readonly IsValue[] = ['null', 'not_null', 'true', 'false', 'unknown'];
const OPERATOR = 'operator (eq, gt, ...)';

/**
 * Where a filter's value ends. `rest`: a query parameter's value runs to the end of the input.
 * `logic`: inside a logic tree it is `"quoted"`, `{pg,array}` or up to the next `,` or `)`.
 */
type ValueMode = 'rest' | 'logic';

type OpExpr = Omit<Filter, 'field'>;

function singleValue(c: Cursor, mode: ValueMode): string {
  const start = c.pos;
  if (mode === 'rest') {
    c.pos = c.chars.length;
    return c.slice(start);
  }
  if (c.peek() === '"') {
    const q = scanQuoted(c.chars, c.pos);
    const after = q && c.chars[q.end];
    if (q && (after === undefined || after === ',' || after === ')')) {
      c.pos = q.end;
      return q.value;
    }
  }
  if (c.peek() === '{') {
    let p = c.pos + 1;
    while (c.chars[p] !== undefined && c.chars[p] !== '{' && c.chars[p] !== '}') p++;
    if (c.chars[p] === '}') {
      c.pos = p + 1;
      return c.slice(start);
    }
  }
  while (c.chars[c.pos] !== undefined && c.chars[c.pos] !== ',' && c.chars[c.pos] !== ')') c.pos++;
  return c.slice(start);
}

/**
 * `(a, "b,c", d)` for `in`: items are `"quoted"` (when followed by `,` or `)`) or raw text up to
 * the next `,` or `)`, kept verbatim (spaces included). `in.()` (one empty raw item) is [].
 */
function listValue(c: Cursor): string[] {
  c.skipWs();
  if (!c.eat('(')) c.unexpected('"("');
  c.skipWs();
  const items: string[] = [];
  let onlyEmptyRaw = true;
  for (;;) {
    let item: string | undefined;
    if (c.peek() === '"') {
      const q = scanQuoted(c.chars, c.pos);
      const after = q && c.chars[q.end];
      if (q && (after === undefined || after === ',' || after === ')')) {
        c.pos = q.end;
        item = q.value;
        onlyEmptyRaw = false;
      }
    }
    if (item === undefined) {
      const start = c.pos;
      while (c.chars[c.pos] !== undefined && c.chars[c.pos] !== ',' && c.chars[c.pos] !== ')') c.pos++;
      item = c.slice(start);
      if (item !== '') onlyEmptyRaw = false;
    }
    items.push(item);
    if (!c.eat(',')) break;
  }
  c.skipWs();
  if (!c.eat(')')) c.unexpected('"," or ")"');
  c.skipWs();
  return items.length === 1 && onlyEmptyRaw ? [] : items;
}

/** `null`, `not_null`, `true`, `false`, `unknown`, each letter lower- or upper-case. */
function isValue(c: Cursor): IsValue {
  for (const candidate of IS_VALUES) {
    let ok = true;
    for (let i = 0; i < candidate.length && ok; i++) {
      const ch = c.chars[c.pos + i];
      ok = ch === candidate[i] || ch === candidate[i].toUpperCase();
    }
    if (ok) {
      c.pos += candidate.length;
      return candidate;
    }
  }
  return c.unexpected('isVal: (null, not_null, true, false, unknown)');
}

function likeValue(op: FilterOperator, value: string): string {
  return op === 'like' || op === 'ilike' ? value.replaceAll('*', '%') : value;
}

/**
 * `in.(…)`, `is.v`, `isdistinct.v`, `fts[(lang)].v`, `op.v`, `op(any|all).v` at the cursor.
 * Undefined, with the cursor untouched, when the text is not an operator; a failure once it has
 * committed (after `in.` or `is.`), exactly where Parsec's alternatives commit.
 */
function operation(c: Cursor, mode: ValueMode): Omit<OpExpr, 'negated'> | undefined {
  const start = c.pos;
  let p = start;
  while (c.chars[p] !== undefined && c.chars[p] >= 'a' && c.chars[p] <= 'z') p++;
  const name = c.slice(start, p);
  const dotAfterName = c.chars[p] === '.';
  if (name === 'in' && dotAfterName) {
    c.pos = p + 1;
    return { op: 'in', value: listValue(c) };
  }
  if (name === 'is' && dotAfterName) {
    c.pos = p + 1;
    return { op: 'is', value: isValue(c) };
  }
  if (name === 'isdistinct' && dotAfterName) {
    c.pos = p + 1;
    return { op: 'isdistinct', value: singleValue(c, mode) };
  }
  if (SIMPLE_OPS.has(name) && dotAfterName) {
    c.pos = p + 1;
    return { op: name as FilterOperator, value: singleValue(c, mode) };
  }
  if (FTS_OPS.has(name)) {
    c.pos = p;
    let language: string | undefined;
    if (c.peek() === '(') {
      c.pos++;
      const lang = identifier(c);
      if (lang !== undefined && c.eat(')')) language = lang;
      else c.pos = p;
    }
    if (c.eat('.')) {
      const value = singleValue(c, mode);
      return language === undefined ? { op: name as FilterOperator, value } : { op: name as FilterOperator, language, value };
    }
  }
  if (QUANT_OPS.has(name)) {
    c.pos = p;
    const quantifier = c.eat('(any)') ? 'any' : c.eat('(all)') ? 'all' : undefined;
    if (c.eat('.')) {
      const op = name as FilterOperator;
      const value = likeValue(op, singleValue(c, mode));
      return quantifier ? { op, quantifier, value } : { op, value };
    }
  }
  c.pos = start;
  return undefined;
}

/** `[not.]operation`; undefined when not an operator expression at all (nothing consumed). */
function opExpr(c: Cursor, mode: ValueMode): OpExpr | undefined {
  const start = c.pos;
  const negated = c.eat('not.');
  const op = operation(c, mode);
  if (op) return { negated, ...op };
  if (negated) c.unexpected(OPERATOR);
  c.pos = start;
  return undefined;
}

function notAnOperator(c: Cursor): never {
  return c.unexpected(`"not" or ${OPERATOR}`);
}

/**
 * A filter's value, `[not.]op[(any|all)|(lang)].value` (§1.5), applied to `field`.
 * The value is everything after the operator's dot; text after a complete `in.(…)` list or `is.`
 * value is ignored, as PostgREST does. Throws 400 PGRST100 ("failed to parse filter (…)").
 */
export function parseFilterValue(field: Field, value: string): Filter {
  return runParser('filter', value, (c) => ({ field, ...(opExpr(c, 'rest') ?? notAnOperator(c)) }));
}

/**
 * Like {@link parseFilterValue}, but undefined when `value` does not start like an operator
 * expression at all (GET /rpc: such a parameter is a function argument). Values that commit to an
 * operator and then fail (`not.x`, `in.x`, `is.maybe`) still throw, as in PostgREST.
 */
export function tryParseFilterValue(field: Field, value: string): Filter | undefined {
  return runParser('filter', value, (c) => {
    const e = opExpr(c, 'rest');
    return e && { field, ...e };
  });
}

// ---------------------------------------------------------------------------------------------
// Logic trees
// ---------------------------------------------------------------------------------------------

/** `field[jsonpath].[not.]op.value` inside a tree; failures are caught by {@link condition}. */
function logicFilter(c: Cursor): Filter | undefined {
  c.skipWs();
  const name = fieldName(c);
  if (name === undefined) return undefined;
  const path = jsonPath(c);
  c.skipWs();
  if (!c.eat('.')) c.unexpected('delimiter (.)');
  const e = opExpr(c, 'logic') ?? notAnOperator(c);
  return { field: { name, jsonPath: path }, ...e };
}

/** `[not.](and|or)(…)` */
function logicExpr(c: Cursor, depth: number): LogicTree {
  const negated = c.eat('not.');
  const operator = c.eat('and') ? 'and' : c.eat('or') ? 'or' : undefined;
  if (!operator) {
    c.unexpected(negated ? 'logic operator (and, or)' : `${FIELD_NAME}, negation operator (not) or logic operator (and, or)`);
  }
  return { type: 'logic', operator, negated, conditions: group(c, depth + 1) };
}

/**
 * A filter, or else a nested tree. On failure, as in Parsec's `try filter <|> tree`: the tree's
 * error once it has consumed input (`not.`, `and`, `or`), otherwise whichever got further.
 */
function condition(c: Cursor, depth: number): Filter | LogicTree {
  const start = c.pos;
  let filterFailure: ParseFailure | undefined;
  try {
    const f = logicFilter(c);
    if (f) return f;
  } catch (err) {
    if (!(err instanceof ParseFailure)) throw err;
    filterFailure = err;
  }
  c.pos = start;
  try {
    return logicExpr(c, depth);
  } catch (err) {
    if (err instanceof ParseFailure && err.pos === start && filterFailure && filterFailure.pos > err.pos) throw filterFailure;
    throw err;
  }
}

/** `( condition , … )` with optional whitespace around every token. */
function group(c: Cursor, depth: number): (Filter | LogicTree)[] {
  if (depth > MAX_NESTING) c.fail(`logic tree nested deeper than ${MAX_NESTING} levels`);
  c.skipWs();
  if (!c.eat('(')) c.unexpected('"("');
  c.skipWs();
  const conditions: (Filter | LogicTree)[] = [];
  for (;;) {
    conditions.push(condition(c, depth));
    c.skipWs();
    if (!c.eat(',')) break;
    c.skipWs();
  }
  if (!c.eat(')')) c.unexpected('"," or ")"');
  c.skipWs();
  return conditions;
}

/**
 * The value of an `and`/`or` parameter, `(cond,…)` (§1.6), where a condition is a filter
 * `field[jsonpath].[not.]op.value` or a nested `[not.](and|or)(…)`. Values inside are
 * `"quoted"`, `{pg,array}` or raw up to `,`/`)`; whitespace around tokens is allowed; text after
 * the closing parenthesis is ignored. `negated`/`operator` come from the key (`not.or`).
 * Throws 400 PGRST100 ("failed to parse logic tree (…)"), columns counted as PostgREST does,
 * from the start of `[not.]op` + value.
 */
export function parseLogicTree(input: string, negated: boolean, operator: 'and' | 'or'): LogicTree {
  const prefix = `${negated ? 'not.' : ''}${operator}`;
  return runParser('logic tree', input, (c) => ({ type: 'logic', operator, negated, conditions: group(c, 1) }), prefix.length);
}
