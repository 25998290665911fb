/**
 * The `order` query parameter (docs/postgrest.md §1.7):
 *
 * ```
 * order := term ("," term)*
 * term  := field[jsonpath] ["." ("asc"|"desc")] ["." ("nullsfirst"|"nullslast")]
 *        | relation "(" field[jsonpath] ")" ["." ("asc"|"desc")] ["." ("nullsfirst"|"nullslast")]
 * ```
 */
import type { Field, OrderTerm } from '../ast.ts';
import { Cursor, ParseFailure, fieldName, fieldWithPath, runParser } from './lexer.ts';

/** `relation(field)` (a related order), or undefined with the cursor untouched. */
function relatedField(c: Cursor): { relation: string; field: Field } | undefined {
  const start = c.pos;
  let relation: string | undefined;
  try {
    relation = fieldName(c);
  } catch (err) {
    if (!(err instanceof ParseFailure)) throw err;
  }
  if (relation === undefined || !c.eat('(')) {
    c.pos = start;
    return undefined;
  }
  // `name(` can only be a related order: a plain term would fail at the parenthesis anyway.
  const f = fieldWithPath(c);
  if (!c.eat(')')) c.unexpected('"->", "->>" or ")"');
  return { relation, field: f };
}

function term(c: Cursor): OrderTerm {
  c.skipWs();
  const related = relatedField(c);
  const out: OrderTerm = related ? { field: related.field, relation: related.relation } : { field: fieldWithPath(c) };
  if (c.eat('.asc')) out.direction = 'asc';
  else if (c.eat('.desc')) out.direction = 'desc';
  if (c.eat('.nullsfirst')) out.nulls = 'first';
  else if (c.eat('.nullslast')) out.nulls = 'last';
  c.skipWs();
  if (c.done || c.peek() === ',') return out;
  if (c.peek() === '.' && !out.nulls) {
    c.unexpected(out.direction ? '"nullsfirst" or "nullslast"' : '"asc", "desc", "nullsfirst" or "nullslast"', c.pos + 1);
  }
  return c.unexpected(out.nulls ? '"," or end of input' : 'delimiter (.), "," or end of input', c.pos, "'");
}

/**
 * Parses an `order` value (§1.7): comma-separated terms, each a column (with optional JSON path)
 * or a related order `relation(column)`, then optional `.asc`/`.desc` and
 * `.nullsfirst`/`.nullslast` (either may be omitted). Throws 400 PGRST100
 * ("failed to parse order (…)"), e.g. `id.asc.nullslasttt` fails at column 17.
 */
export function parseOrder(input: string): OrderTerm[] {
  return runParser('order', input, (c) => {
    const terms = [term(c)];
    while (c.eat(',')) terms.push(term(c));
    return terms;
  });
}
