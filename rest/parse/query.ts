/**
 * A request's query string → ParsedQuery (docs/postgrest.md §1.2, §1.8, §1.10,
 * §5.1). Keys are classified by their last dot-separated segment:
 *
 * - `select`, `columns`, `on_conflict`: exact key only, first occurrence;
 * - `order`, `limit`, `offset`, `and`, `or` (optionally after an embed path and, for and/or,
 *   `not.`): `tasks.order`, `clients.projects.limit`, `not.or`, `tasks.not.and`;
 * - anything else with a value: a filter `[embed.path.]column[->json]=<opexpr>`, or on GET/HEAD
 *   /rpc, a function argument when the value is not an operator expression.
 *
 * A parameter without `=` is ignored. Errors are checked in PostgREST's order: order, logic
 * trees, columns, select, filters, on_conflict, then limits.
 */
import type { AtPath, Filter, LogicTree, OrderTerm, ParsedQuery } from '../ast.ts';
import { ERRORS } from '../errors.ts';
import { parseFilterValue, parseLogicPath, parseLogicTree, parseTreePath, tryParseFilterValue } from './filter.ts';
import { requireFieldName, runParser } from './lexer.ts';
import { parseInteger } from './headers.ts';
import { parseOrder } from './order.ts';
import { parseSelect } from './select.ts';

/** One `key[=value]` of the query string, decoded; `value` is undefined when there was no `=`. */
export interface QueryParam {
  key: string;
  value: string | undefined;
}

/**
 * The first byte sequence of `bytes` that is not UTF-8, reported as Postgres reports it (the lead
 * byte and the rest of the character it announces: `0xc3 0x28`), or undefined when all is valid.
 */
export function invalidUtf8(bytes: Uint8Array): string | undefined {
  for (let i = 0; i < bytes.length; ) {
    const c = bytes[i];
    const len = c < 0x80 ? 1 : (c & 0xe0) === 0xc0 ? 2 : (c & 0xf0) === 0xe0 ? 3 : (c & 0xf8) === 0xf0 ? 4 : 1;
    let ok = i + len <= bytes.length && (len > 1 || c < 0x80);
    for (let k = 1; ok && k < len; k++) ok = (bytes[i + k] & 0xc0) === 0x80;
    if (ok && len > 1) {
      const d = bytes[i + 1];
      ok = !(c === 0xc0 || c === 0xc1 || (c === 0xe0 && d < 0xa0) || (c === 0xed && d > 0x9f) || (c === 0xf0 && d < 0x90) || (c === 0xf4 && d > 0x8f) || c > 0xf4);
    }
    if (!ok) {
      return [...bytes.subarray(i, Math.min(i + len, bytes.length))].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');
    }
    i += len;
  }
  return undefined;
}

const HEX2 = /^[0-9a-fA-F]{2}$/;
const UTF8 = new TextEncoder();
const TEXT = new TextDecoder();

/**
 * One decoded `key` or `value` of the query string, with URLSearchParams semantics (`+` is a
 * space, a `%` not followed by two hex digits stays as it is; the text holds no `&`). The
 * percent-encoded bytes must be UTF-8: anything else is the client's 400 PGRST100 — never a
 * silently replaced character that then matches nothing.
 */
export function decodeQueryText(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '%' && HEX2.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (ch === '+') bytes.push(0x20);
    else {
      const cp = text.codePointAt(i)!;
      bytes.push(...UTF8.encode(String.fromCodePoint(cp)));
      if (cp > 0xffff) i++;
    }
  }
  const raw = Uint8Array.from(bytes);
  const bad = invalidUtf8(raw);
  if (bad) throw ERRORS.invalidEncoding(bad);
  return TEXT.decode(raw);
}

/** Splits a query string (with or without its leading `?`) into decoded parameters, in order. */
export function splitQueryString(search: string): QueryParam[] {
  const params: QueryParam[] = [];
  for (const piece of (search.startsWith('?') ? search.slice(1) : search).split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    params.push(eq < 0 ? { key: decodeQueryText(piece), value: undefined } : { key: decodeQueryText(piece.slice(0, eq)), value: decodeQueryText(piece.slice(eq + 1)) });
  }
  return params;
}

/**
 * A `columns` / `on_conflict` value: field names (quoted allowed, as postgrest-js sends
 * `"a","b"`) separated by commas with optional whitespace. Throws 400 PGRST100.
 */
export function parseColumnList(what: 'columns' | 'on_conflict', input: string): string[] {
  return runParser(`${what} parameter`, input, (c) => {
    const names: string[] = [];
    for (;;) {
      c.skipWs();
      names.push(requireFieldName(c));
      c.skipWs();
      if (!c.eat(',')) break;
    }
    if (!c.done) c.unexpected('"," or end of input');
    return names;
  });
}

const EMBEDDABLE = new Set(['order', 'limit', 'offset', 'and', 'or']);
const ROOT_ONLY = new Set(['select', 'columns', 'on_conflict']);

function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf('.') + 1);
}

/** The embed path of `a.b.order` / `a.b.limit`: every dotted segment but the last. */
function embedPath(key: string): string[] {
  return parseTreePath(key).path;
}

/** Keeps the last value given for each path (as PostgREST's map of ranges does). */
function lastPerPath<T>(items: AtPath<T>[]): AtPath<T>[] {
  const byPath = new Map<string, AtPath<T>>();
  for (const item of items) {
    const k = JSON.stringify(item.path);
    byPath.delete(k);
    byPath.set(k, item);
  }
  return [...byPath.values()];
}

/** Keeps the first value given for each path (PostgREST folds orders so the first one wins). */
function firstPerPath<T>(items: AtPath<T>[]): AtPath<T>[] {
  const byPath = new Map<string, AtPath<T>>();
  for (const item of items) {
    const k = JSON.stringify(item.path);
    if (!byPath.has(k)) byPath.set(k, item);
  }
  return [...byPath.values()];
}

/**
 * Parses a query string (`?` optional) per §1.2. `rpcRead` (GET/HEAD /rpc): a parameter whose
 * value does not start like an operator expression is a function argument `[name, value]`
 * (`a=` gives ''), in order, repeated names kept (VARIADIC); PostgREST names the argument by the
 * key's last field name. Every `order` parameter is parsed, but only the first per path is kept
 * (as in PostgREST). Limits: empty or non-integer values are ignored; negative (at any level) →
 * 416 PGRST103; the last value per path wins. Offsets: negative → 0, same rules otherwise. Filters
 * and logic trees are all kept, in order (they are AND-ed). Parse errors → 400 PGRST100.
 */
export function parseQuery(search: string, opts: { rpcRead: boolean }): ParsedQuery {
  const all = splitQueryString(search);
  const params = all.filter((p): p is { key: string; value: string } => p.value !== undefined);
  const ofKind = (kinds: readonly string[]) => params.filter((p) => !ROOT_ONLY.has(p.key) && kinds.includes(lastSegment(p.key)));
  const firstValue = (key: string) => all.find((p) => p.key === key)?.value;

  const order: AtPath<OrderTerm[]>[] = ofKind(['order']).map((p) => ({ path: embedPath(p.key), value: parseOrder(p.value) }));

  const logic: AtPath<LogicTree>[] = ofKind(['and', 'or']).map((p) => {
    const { path, negated, operator } = parseLogicPath(p.key);
    return { path, value: parseLogicTree(p.value, negated, operator) };
  });

  const columnsValue = firstValue('columns');
  const columns = columnsValue === undefined ? undefined : parseColumnList('columns', columnsValue);

  const select = parseSelect(firstValue('select') ?? '');

  const filters: AtPath<Filter>[] = [];
  const rpcArgs: [string, string][] = [];
  for (const p of params) {
    if (ROOT_ONLY.has(p.key) || EMBEDDABLE.has(lastSegment(p.key))) continue;
    const { path, field } = parseTreePath(p.key);
    if (opts.rpcRead) {
      const filter = tryParseFilterValue(field, p.value);
      if (filter) filters.push({ path, value: filter });
      else rpcArgs.push([field.name, p.value]);
    } else {
      filters.push({ path, value: parseFilterValue(field, p.value) });
    }
  }

  const onConflictValue = firstValue('on_conflict');
  const onConflict = onConflictValue === undefined ? undefined : parseColumnList('on_conflict', onConflictValue);

  const limits: AtPath<number>[] = [];
  const offsets: AtPath<number>[] = [];
  for (const p of ofKind(['limit', 'offset'])) {
    const n = parseInteger(p.value);
    if (n === undefined) continue;
    const path = embedPath(p.key);
    if (lastSegment(p.key) === 'limit') {
      if (n < 0) throw ERRORS.rangeNotSatisfiable('Limit should be greater than or equal to zero.');
      limits.push({ path, value: n });
    } else {
      offsets.push({ path, value: Math.max(0, n) });
    }
  }

  const parsed: ParsedQuery = { select, filters, logic, order: firstPerPath(order), limits: lastPerPath(limits), offsets: lastPerPath(offsets), rpcArgs };
  if (columns) parsed.columns = columns;
  if (onConflict) parsed.onConflict = onConflict;
  return parsed;
}
