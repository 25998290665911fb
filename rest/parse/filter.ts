/**
 * Horizontal filters (`col=[not.]op.value`), logic trees (`or=(…)`) and filter keys
 * (`embed.path.col->json->>path`), per ../../shared/reference/postgrest.md §1.3, §1.5, §1.6.
 *
 * This module also holds the small lexical toolkit every parser in rest/parse shares: a cursor
 * over the input's code points, field names, JSON paths and the PGRST100 error plumbing. The
 * parsers are hand-written recursive descent that mirror PostgREST's Parsec grammar
 * (src/PostgREST/ApiRequest/QueryParams.hs): every loop advances the cursor and backtracking is
 * bounded to one token, so parsing is linear in the input and nesting is capped at MAX_NESTING.
 */
import type { Field, Filter, FilterOperator, IsValue, JsonPathStep, LogicTree } from '../ast.ts';
import { ERRORS } from '../errors.ts';

// ---------------------------------------------------------------------------------------------
// Lexical toolkit
// ---------------------------------------------------------------------------------------------

/** Deepest nesting of embeds (select) or groups (logic trees) accepted; deeper is PGRST100. */
export const MAX_NESTING = 100;

/** Parsec's label for a field name, used in "expecting …" details. */
export const FIELD_NAME = 'field name (* or [a..z0..9_$])';

/**
 * A failure inside one parser run. Internal: thrown for control flow between the helpers here and
 * turned into a PGRST100 RestError by {@link runParser}; it never escapes an exported parser.
 */
export class ParseFailure {
  readonly pos: number;
  readonly details: string;
  constructor(pos: number, details: string) {
    this.pos = pos;
    this.details = details;
  }
}

/** How Parsec shows the offending character in "unexpected …" details. */
export function describe(ch: string | undefined, quote: '"' | "'" = '"'): string {
  return ch === undefined ? 'end of input' : `${quote}${ch}${quote}`;
}

/** A position in the input, counted in code points (as Parsec counts columns). */
export class Cursor {
  readonly chars: string[];
  pos = 0;

  constructor(text: string) {
    this.chars = Array.from(text);
  }

  get done(): boolean {
    return this.pos >= this.chars.length;
  }

  peek(ahead = 0): string | undefined {
    return this.chars[this.pos + ahead];
  }

  /** Whether the (ASCII) string `s` starts at `pos` (default: the cursor). */
  at(s: string, pos = this.pos): boolean {
    for (let i = 0; i < s.length; i++) if (this.chars[pos + i] !== s[i]) return false;
    return true;
  }

  /** Consumes `s` if it is next. */
  eat(s: string): boolean {
    if (!this.at(s)) return false;
    this.pos += s.length;
    return true;
  }

  /** Skips spaces and tabs (Parsec's `ws`). */
  skipWs(): void {
    while (this.chars[this.pos] === ' ' || this.chars[this.pos] === '\t') this.pos++;
  }

  slice(from: number, to = this.pos): string {
    return this.chars.slice(from, to).join('');
  }

  fail(details: string, pos = this.pos): never {
    throw new ParseFailure(pos, details);
  }

  /** Fails with Parsec-style `unexpected <char at pos> expecting <expecting>`. */
  unexpected(expecting: string, pos = this.pos, quote: '"' | "'" = '"'): never {
    throw new ParseFailure(pos, `unexpected ${describe(this.chars[pos], quote)} expecting ${expecting}`);
  }
}

/**
 * Runs `parse` over `input`, turning a ParseFailure into 400 PGRST100
 * `"failed to parse <what> (<input>)" (line 1, column N)`. `columnOffset` shifts the column for
 * inputs PostgREST parses with a prefix (a logic tree is parsed as `or(…)`, not `(…)`).
 */
export function runParser<T>(what: string, input: string, parse: (c: Cursor) => T, columnOffset = 0): T {
  const c = new Cursor(input);
  try {
    return parse(c);
  } catch (err) {
    if (err instanceof ParseFailure) throw ERRORS.parse(what, input, err.details, err.pos + 1 + columnOffset);
    throw err;
  }
}

const LETTER = /^\p{L}$/u;

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}

/** Identifier characters: letters (any script), ASCII digits, `_`, space and `$`. */
function isIdentChar(ch: string | undefined): boolean {
  if (ch === undefined) return false;
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || isDigit(ch)) return true;
  if (ch === '_' || ch === ' ' || ch === '$') return true;
  return ch > '\x7f' && LETTER.test(ch);
}

/** Strips leading and trailing spaces (no regex: `/ +$/` backtracks quadratically). */
function stripSpaces(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && s[a] === ' ') a++;
  while (b > a && s[b - 1] === ' ') b--;
  return s.slice(a, b);
}

/**
 * Scans a `"quoted"` value starting at `pos` (which must be `"`): backslash escapes any
 * character. Returns the unescaped text and the position after the closing quote, or undefined
 * when the quote is not terminated. Pure: never moves a cursor.
 */
export function scanQuoted(chars: string[], pos: number): { value: string; end: number } | undefined {
  const parts: string[] = [];
  let p = pos + 1;
  for (;;) {
    const ch = chars[p];
    if (ch === undefined) return undefined;
    if (ch === '"') return { value: parts.join(''), end: p + 1 };
    if (ch === '\\') {
      const next = chars[p + 1];
      if (next === undefined) return undefined;
      parts.push(next);
      p += 2;
    } else {
      parts.push(ch);
      p++;
    }
  }
}

/** A quoted name at the cursor: undefined if there is no `"`, a failure if it is unterminated. */
function quotedName(c: Cursor): string | undefined {
  if (c.peek() !== '"') return undefined;
  const q = scanQuoted(c.chars, c.pos);
  if (!q) c.unexpected('"\\"" (closing quote)', c.chars.length);
  c.pos = q.end;
  return q.value;
}

/**
 * `strip(many1 identChar)` at the cursor (Parsec's `pIdentifier`), or undefined when there is no
 * identifier character (nothing consumed). May return '' for an all-space run.
 */
export function identifier(c: Cursor): string | undefined {
  const start = c.pos;
  while (isIdentChar(c.chars[c.pos])) c.pos++;
  return c.pos === start ? undefined : stripSpaces(c.slice(start));
}

/** Parts produced by `part`, joined by dashes that are not the start of `->` (`sepByDash`). */
function sepByDash(c: Cursor, first: string, part: (c: Cursor) => string | undefined, expecting: string): string {
  const parts = [first];
  while (c.peek() === '-' && c.peek(1) !== '>') {
    c.pos++;
    const next = part(c);
    if (next === undefined) c.unexpected(expecting);
    parts.push(next);
  }
  return parts.join('-');
}

/**
 * A field name (§1.3): `"quoted"` with backslash escapes, or identifier parts joined by `-`
 * (a dash not followed by `>`), each part trimmed. Undefined when nothing matches (nothing
 * consumed); a failure on an unterminated quote or a dangling dash.
 */
export function fieldName(c: Cursor): string | undefined {
  const quoted = quotedName(c);
  if (quoted !== undefined) return quoted;
  const first = identifier(c);
  if (first === undefined) return undefined;
  return sepByDash(c, first, identifier, 'letter or digit');
}

/** A field name that must be there. */
export function requireFieldName(c: Cursor, expecting = FIELD_NAME): string {
  const name = fieldName(c);
  if (name === undefined) c.unexpected(expecting);
  return name;
}

const JSON_KEY_STOP = new Set(['(', '-', ':', '.', ',', '>', ')']);

function jsonKeyPart(c: Cursor): string | undefined {
  const start = c.pos;
  while (c.chars[c.pos] !== undefined && !JSON_KEY_STOP.has(c.chars[c.pos])) c.pos++;
  return c.pos === start ? undefined : stripSpaces(c.slice(start));
}

const JSON_KEY = 'any non reserved character different from: .,>()';

/** Where an array index may end: `->`, `::`, `.`, `,`, `)` or the end of input. */
function atIndexEnd(c: Cursor, p: number): boolean {
  const ch = c.chars[p];
  return ch === undefined || ch === '.' || ch === ',' || ch === ')' || c.at('->', p) || c.at('::', p);
}

/**
 * `-?digits` followed by an index end, as a number; a ParseFailure (returned, not thrown) when it
 * is not an index. An index beyond 2^53 throws.
 */
function jsonIndex(c: Cursor): number | ParseFailure {
  let p = c.pos;
  const negative = c.chars[p] === '-';
  if (negative) p++;
  const digitsStart = p;
  while (isDigit(c.chars[p])) p++;
  if (p === digitsStart) return new ParseFailure(p, `unexpected ${describe(c.chars[p])} expecting digit`);
  if (!atIndexEnd(c, p)) {
    return new ParseFailure(p, `unexpected ${describe(c.chars[p], "'")} expecting digit, "->", "::", ".", "," or end of input`);
  }
  const n = Number(c.slice(digitsStart, p));
  if (!Number.isSafeInteger(n)) c.fail('JSON array index out of range', digitsStart);
  c.pos = p;
  return negative && n !== 0 ? -n : n;
}

/** A JSON key: `"quoted"` or dash-joined runs of anything but `(-:.,>)`. */
function jsonKey(c: Cursor): string | ParseFailure {
  const start = c.pos;
  if (c.peek() === '"') {
    const q = scanQuoted(c.chars, c.pos);
    if (!q) return new ParseFailure(c.chars.length, 'unexpected end of input expecting "\\"" (closing quote)');
    c.pos = q.end;
    return q.value;
  }
  const first = jsonKeyPart(c);
  if (first === undefined) return new ParseFailure(start, `unexpected ${describe(c.peek())} expecting ${JSON_KEY}`);
  try {
    return sepByDash(c, first, jsonKeyPart, JSON_KEY);
  } catch (err) {
    if (err instanceof ParseFailure) return err;
    throw err;
  }
}

/**
 * A JSON path (§1.3): `->key`, `->>key`, `->N`, `->>-N`, … An integer is an array index only when
 * followed by `->`, `::`, `.`, `,`, `)` or the end (so `->0xy1` is the key "0xy1").
 */
export function jsonPath(c: Cursor): JsonPathStep[] {
  const steps: JsonPathStep[] = [];
  for (;;) {
    const arrow = c.at('->>') ? '->>' : c.at('->') ? '->' : undefined;
    if (!arrow) return steps;
    c.pos += arrow.length;
    const start = c.pos;
    const index = jsonIndex(c);
    if (typeof index === 'number') {
      steps.push({ arrow, key: index });
      continue;
    }
    c.pos = start;
    const key = jsonKey(c);
    if (typeof key === 'string') {
      steps.push({ arrow, key });
      continue;
    }
    // Both alternatives failed: report the one that got further (Parsec merges errors that way).
    throw index.pos > key.pos ? index : key;
  }
}

/** `ws fieldName jsonPath ws` (Parsec's `pField`). */
export function fieldWithPath(c: Cursor): Field {
  c.skipWs();
  const name = requireFieldName(c);
  const path = jsonPath(c);
  c.skipWs();
  return { name, jsonPath: path };
}

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
