/**
 * The `select` query parameter (docs/postgrest.md §1.4):
 *
 * ```
 * list        := [item ("," item)*]                       ; whitespace around items allowed
 * item        := "*" | count_item | field_item | embed | spread
 * count_item  := [alias ":"] "count()" ["::" cast]
 * field_item  := [alias ":"] field [jsonpath] ["::" cast] ["." aggfn "()" ["::" cast]]
 * embed       := [alias ":"] name ["!" param ["!" param]] "(" list ")"      ; name != "count"
 * spread      := "..." name ["!" param ["!" param]] "(" list ")"           ; no alias
 * param       := "inner" | "left" | hint
 * alias       := field name followed by ":" that is not "::"
 * ```
 */
import type { AggregateFn, EmbedItem, SelectItem } from '../ast.ts';
import { Cursor, FIELD_NAME, MAX_NESTING, ParseFailure, fieldName, identifier, jsonPath, requireFieldName, runParser } from './lexer.ts';

const AGGREGATES: readonly AggregateFn[] = ['sum', 'avg', 'count', 'max', 'min'];

/** What may follow a complete item. */
function endOfItem(c: Cursor, expecting: string): void {
  c.skipWs();
  const ch = c.peek();
  if (ch !== undefined && ch !== ',' && ch !== ')') c.unexpected(expecting, c.pos, "'");
}

/** `alias:` (a field name and a `:` not followed by `:`), or undefined with the cursor untouched. */
function alias(c: Cursor): string | undefined {
  const start = c.pos;
  let name: string | undefined;
  try {
    name = fieldName(c);
  } catch (err) {
    if (!(err instanceof ParseFailure)) throw err;
  }
  if (name !== undefined && c.peek() === ':' && c.peek(1) !== ':') {
    c.pos++;
    c.skipWs();
    // `"":` names nothing: the item keeps its default name (Postgres has no zero-length names).
    return name === '' ? undefined : name;
  }
  c.pos = start;
  return undefined;
}

/** `::type` where type is `[A-Za-z0-9_ $]+` (trimmed). */
function cast(c: Cursor): string | undefined {
  if (!c.eat('::')) return undefined;
  const type = identifier(c);
  if (!type) c.unexpected('letter or digit');
  return type;
}

/** `.sum()`, `.avg()`, `.count()`, `.max()`, `.min()` followed by an optional cast. */
function aggregate(c: Cursor): { fn: AggregateFn; cast?: string } | undefined {
  if (c.peek() !== '.') return undefined;
  const fn = AGGREGATES.find((name) => c.at(`.${name}()`));
  if (!fn) return undefined;
  c.pos += fn.length + 3;
  const aggCast = cast(c);
  return aggCast === undefined ? { fn } : { fn, cast: aggCast };
}

/** `!hint`, `!inner`, `!left` (at most two; the first hint and the first join type win). */
function embedParams(c: Cursor): { hint?: string; joinType?: 'inner' | 'left' } {
  const out: { hint?: string; joinType?: 'inner' | 'left' } = {};
  for (let i = 0; i < 2 && c.eat('!'); i++) {
    const quoted = c.peek() === '"';
    const param = requireFieldName(c, `"inner", "left" or ${FIELD_NAME}`);
    if (!quoted && (param === 'inner' || param === 'left')) out.joinType ??= param;
    else out.hint ??= param;
  }
  return out;
}

/** The part of an embed after its name: `[!param[!param]](list)`. */
function embedBody(c: Cursor, depth: number, name: string, embedAlias: string | undefined, spread: boolean): EmbedItem {
  const { hint, joinType } = embedParams(c);
  if (!c.eat('(')) c.unexpected('"!" or "("');
  if (depth >= MAX_NESTING) c.fail(`select parameter nested deeper than ${MAX_NESTING} levels`);
  const select = list(c, depth + 1);
  c.skipWs();
  if (!c.eat(')')) c.unexpected('"," or ")"');
  const item: EmbedItem = { type: 'embed', name, spread, select };
  if (embedAlias !== undefined) item.alias = embedAlias;
  if (hint !== undefined) item.hint = hint;
  if (joinType !== undefined) item.joinType = joinType;
  return item;
}

function item(c: Cursor, depth: number): SelectItem {
  c.skipWs();
  if (c.eat('...')) {
    const name = requireFieldName(c);
    return embedBody(c, depth, name, undefined, true);
  }
  if (c.eat('*')) {
    endOfItem(c, '")", "," or end of input');
    return { type: 'star' };
  }
  const itemAlias = alias(c);
  if (c.eat('count()')) {
    const countCast = cast(c);
    endOfItem(c, '"::", ")", "," or end of input');
    return { type: 'count', ...(itemAlias !== undefined && { alias: itemAlias }), ...(countCast !== undefined && { cast: countCast }) };
  }
  const name = requireFieldName(c);
  if (name !== 'count' && (c.peek() === '!' || c.peek() === '(')) return embedBody(c, depth, name, itemAlias, false);
  const path = jsonPath(c);
  c.skipWs();
  const fieldCast = cast(c);
  const agg = aggregate(c);
  endOfItem(c, 'letter, digit, "-", "->>", "->", "::", ".", ")", "," or end of input');
  return {
    type: 'field',
    field: { name, jsonPath: path },
    ...(itemAlias !== undefined && { alias: itemAlias }),
    ...(fieldCast !== undefined && { cast: fieldCast }),
    ...(agg !== undefined && { aggregate: agg }),
  };
}

/** `item ("," item)*`, possibly empty (before `)` or the end). */
function list(c: Cursor, depth: number): SelectItem[] {
  c.skipWs();
  if (c.done || c.peek() === ')') return [];
  const items = [item(c, depth)];
  for (;;) {
    c.skipWs();
    if (!c.eat(',')) return items;
    items.push(item(c, depth));
  }
}

/**
 * Parses a `select` value into its items (§1.4). Empty or blank means `*`. Embeds nest up to
 * MAX_NESTING levels; `name()` is an empty embed (select []). Trailing text after a complete list
 * is an error (PostgREST silently drops it). Throws 400 PGRST100
 * ("failed to parse select parameter (…)").
 */
export function parseSelect(input: string): SelectItem[] {
  return runParser('select parameter', input, (c) => {
    // Aliases and JSON keys become output column names, and no Postgres name can hold U+0000.
    const nul = input.indexOf('\u0000');
    if (nul >= 0) c.fail('unexpected NUL character: names cannot contain it', nul);
    const items = list(c, 0);
    c.skipWs();
    if (!c.done) c.unexpected('"," or end of input');
    return items.length > 0 ? items : [{ type: 'star' }];
  });
}
