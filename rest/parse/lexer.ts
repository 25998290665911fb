/**
 * The small lexical toolkit every parser in rest/parse shares: a cursor over the input's code
 * points, field names, JSON paths and the PGRST100 error plumbing. The parsers are hand-written
 * recursive descent that mirror PostgREST's Parsec grammar (docs/postgrest.md §1): every loop
 * advances the cursor and backtracking is bounded to one token, so parsing is linear in the input
 * and nesting is capped at MAX_NESTING.
 */
import type { Field, JsonPathStep } from '../ast.ts';
import { ERRORS } from '../errors.ts';

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
