/**
 * Reads of one shape share their plan and SQL. `GET /items?id=eq.5` and `GET /items?id=eq.6`
 * differ only in a bound value, yet each would be parsed, planned and rendered to the same
 * statement again (a fifth of such a request's CPU in Node). A read's shape is its method, path,
 * the headers its plan depends on, and its query string with the values of plain comparison
 * filters (`col=[not.]eq|neq|gt|gte|lt|lte.<value>`) taken out: those values go into the
 * statement verbatim as bind parameters (rest/query/select.ts filterSql) and nothing else of the
 * plan depends on them. Everything else of the query string (select, order, limit, other
 * operators, embedded filters, logic trees) is part of the shape as written.
 *
 * A shape is kept only once it is proven: the second request of a shape is planned twice, with its
 * own values and with a unique marker in place of each, and kept only when both statements have
 * the same text, each marker sits alone in one parameter where the request's own value sat, and
 * every other parameter is the same. A later request of that shape binds its values into those
 * parameters; its caller, headers and transaction are its own (only what authenticate() and the
 * transaction read per request). The cache belongs to one schema cache (a reload starts anew) and
 * holds at most MAX_SHAPES shapes (the oldest is dropped first).
 */
import { isDeepStrictEqual } from 'node:util';
import type { ApiRequest, RequestInfo, RestRequest } from './api-request.ts';
import type { RestModel } from './model.ts';
import { decodeQueryText, parseQuery } from './parse/query.ts';
import type { ReadPlan } from './plan/read.ts';
import type { Statement, Statements } from './query/statement.ts';

/** What a request of a kept shape reuses. */
export interface ReadShape {
  /** The request's schema, preferences, accepted media and extra headers (frozen); bindShape copies the statements' values. */
  info: Omit<RequestInfo, 'req' | 'caller'>;
  plan: ReadPlan;
  statements: Statements;
  /** For each taken-out value, in order: its parameter index in the main statement and in the count statement (-1: absent). */
  slots: { main: number; count: number }[];
}

/** A request's shape key and the (decoded) values taken out of its query string. */
export interface Shaped {
  key: string;
  values: string[];
}

export const MAX_SHAPES = 1000;

/** Shapes kept and requests served from a kept shape, since the process started (for tests and profiles). */
export const shapeCounts = { kept: 0, hits: 0 };

/** A plain filter key (no embed path, JSON path or quoting) that names no reserved parameter. */
const FILTER_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED = new Set(['select', 'columns', 'on_conflict', 'order', 'limit', 'offset', 'and', 'or']);
/** `[not.]op.` of the comparison operators whose value is bound as it is. */
const COMPARISON = /^(?:not\.)?(?:eq|neq|gt|gte|lt|lte)\./;
/** Cannot occur in a request target (RFC 9112 forbids control characters there). */
const HOLE = '\u0000';

/** The headers a read's plan depends on (rest/api-request.ts, rest/plan/read.ts). */
const PLAN_HEADERS = ['accept', 'prefer', 'range', 'accept-profile'] as const;

/** `search` with the value of each comparison filter replaced by `fill(i)`, and those values (as written). */
function takeOut(search: string, fill: (i: number) => string): { search: string; values: string[] } {
  const pieces = search.split('&');
  const values: string[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i];
    const eq = piece.indexOf('=');
    if (eq <= 0) continue;
    const key = piece.slice(0, eq);
    if (!FILTER_KEY.test(key) || RESERVED.has(key)) continue;
    const value = piece.slice(eq + 1);
    const op = COMPARISON.exec(value);
    if (!op) continue;
    pieces[i] = `${key}=${op[0]}${fill(values.length)}`;
    values.push(value.slice(op[0].length));
  }
  return { search: pieces.join('&'), values };
}

/** The shape of a GET/HEAD on a relation, or undefined when it has no comparison value to take out. */
export function shapeOf(req: RestRequest): Shaped | undefined {
  if ((req.method !== 'GET' && req.method !== 'HEAD') || req.search === '' || req.path.startsWith('/rpc/')) return undefined;
  const { search, values } = takeOut(req.search, () => HOLE);
  if (values.length === 0) return undefined;
  let key = `${req.method} ${req.path}?${search}`;
  for (const name of PLAN_HEADERS) {
    const v = req.headers[name];
    key += `${HOLE}${v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v}`;
  }
  return { key, values };
}

/** The shapes of one schema cache. */
const byModel = new WeakMap<RestModel, Map<string, ReadShape | 'seen' | null>>();

/** The kept shape of `shaped` (undefined: not seen yet or not kept). */
export function keptShape(model: RestModel, shaped: Shaped): ReadShape | undefined {
  const shape = byModel.get(model)?.get(shaped.key);
  if (!shape || shape === 'seen') return undefined;
  shapeCounts.hits++;
  return shape;
}

/** A kept shape's statements with `values` (decoded) bound; throws as parseQuery would on a bad encoding. */
export function bindShape(shape: ReadShape, values: readonly string[]): Statements {
  const decoded = values.map(decodeQueryText);
  const bind = (s: Statement, slot: 'main' | 'count'): unknown[] => {
    const bound = s.values.slice();
    for (let i = 0; i < decoded.length; i++) {
      const at = shape.slots[i][slot];
      if (at >= 0) bound[at] = decoded[i];
    }
    return bound;
  };
  const { main, count } = shape.statements;
  const bound: Statements = { main: { sql: main.sql, values: bind(main, 'main') } };
  if (count) bound.count = { sql: count.sql, values: bind(count, 'count'), maxRows: count.maxRows };
  return bound;
}

const marker = (i: number) => `${HOLE}nextmavens-shape-${i}${HOLE}`;

/** The parameter index of marker `i` when it is alone in exactly one parameter where `real` had `value`. */
function slotOf(real: Statement, marked: Statement, i: number, value: string): number | undefined {
  const m = marker(i);
  let at = -1;
  for (let j = 0; j < marked.values.length; j++) {
    const v = marked.values[j];
    if (v === m) {
      if (at !== -1) return undefined;
      at = j;
    } else if (typeof v === 'string' && v.includes(m)) return undefined;
  }
  if (at === -1) return -1;
  return real.values[at] === value ? at : undefined;
}

/** Do `real` and `marked` differ only in the marked parameters? */
function sameBut(real: Statement, marked: Statement, slots: number[]): boolean {
  if (real.sql !== marked.sql || real.values.length !== marked.values.length) return false;
  return real.values.every((v, j) => slots.includes(j) || isDeepStrictEqual(v, marked.values[j]));
}

/**
 * After a read of `shaped` was planned (`api`, `planned`): plans it again with markers for its
 * values (`replan`) and keeps the shape when the two prove it (see the header). Never throws;
 * a shape that does not prove out is remembered as such and not tried again.
 */
export function learnShape(
  model: RestModel,
  shaped: Shaped,
  api: ApiRequest,
  planned: { plan: ReadPlan; statements: Statements },
  replan: (api: ApiRequest) => { plan: ReadPlan; statements: Statements } | undefined,
): void {
  let shapes = byModel.get(model);
  if (!shapes) byModel.set(model, (shapes = new Map()));
  const known = shapes.get(shaped.key);
  if (known === undefined) {
    // A shape is proven on its second request: a one-off query is never planned twice.
    if (shapes.size >= MAX_SHAPES) shapes.delete(shapes.keys().next().value!);
    shapes.set(shaped.key, 'seen');
    return;
  }
  if (known !== 'seen') return;
  shapes.set(shaped.key, null);
  if (api.action.kind !== 'read') return;
  const { search } = takeOut(api.req.search, (i) => encodeURIComponent(marker(i)));
  let marked: { plan: ReadPlan; statements: Statements } | undefined;
  let decoded: string[];
  try {
    decoded = shaped.values.map(decodeQueryText);
    const query = parseQuery(search, { rpcRead: false });
    marked = replan({ ...api, req: { ...api.req, search }, action: { ...api.action, query } });
  } catch {
    return;
  }
  if (!marked) return;
  const real = planned.statements;
  const slots: { main: number; count: number }[] = [];
  for (let k = 0; k < decoded.length; k++) {
    const main = slotOf(real.main, marked.statements.main, k, decoded[k]);
    const count = real.count && marked.statements.count ? slotOf(real.count, marked.statements.count, k, decoded[k]) : -1;
    if (main === undefined || count === undefined || main === -1) return;
    slots.push({ main, count });
  }
  if (!sameBut(real.main, marked.statements.main, slots.map((s) => s.main))) return;
  if (Boolean(real.count) !== Boolean(marked.statements.count)) return;
  if (real.count && !sameBut(real.count, marked.statements.count!, slots.map((s) => s.count))) return;
  if (real.count?.maxRows !== marked.statements.count?.maxRows) return;
  const { schema, prefs, accept, headers } = api;
  shapeCounts.kept++;
  shapes.set(shaped.key, {
    info: deepFreeze({ schema, prefs, accept, headers }),
    // The plan's tree holds the schema cache's own objects: frozen at its top only.
    plan: Object.freeze(marked.plan),
    statements: marked.statements,
    slots,
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
