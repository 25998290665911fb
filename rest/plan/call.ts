/**
 * The call plan of `/rpc/<function>` (docs/postgrest.md §5; PostgREST's CallPlan): overload
 * resolution by argument names as PostgREST's findProc does, how the arguments are passed, whether
 * the call runs read-only, the response media, and — for functions returning rows — the read tree
 * over the result (select, filters, order and embedding apply).
 */
import type { CountPreference, ParsedQuery } from '../ast.ts';
import { headerValue, type ApiRequest } from '../api-request.ts';
import { ERRORS } from '../errors.ts';
import { negotiate, type ResponseMedia } from '../media.ts';
import type { Column, Relation, RestFunction, RestModel } from '../model.ts';
import { routineTypeName } from '../model-build.ts';
import { parsePayload } from '../payload.ts';
import { suggest, suggestName } from '../relationships.ts';
import { capRows, rootPage } from './read.ts';
import { planReadTree, type ReadTree } from './read-tree.ts';

export interface CallPlan {
  kind: 'call';
  fn: RestFunction;
  args: Args;
  /** GET, or a stable/immutable function: the transaction is read-only. */
  readOnly: boolean;
  media: ResponseMedia;
  /** Functions returning rows: the read tree over the result, aliased `pgrst_call`. */
  tree?: ReadTree;
  /** The root page: a set of scalars is paged like rows; the limit capped by db-max-rows. */
  limit?: number;
  offset?: number;
  /** The first row's index in Content-Range. */
  rangeFirst: number;
  count?: CountPreference;
  /** vnd.pgrst.object: exactly one row or PGRST116. */
  singular: boolean;
  /** handling=strict with max-affected: the most rows; a single-value function refuses it. */
  maxAffected?: number;
  head: boolean;
}

/**
 * How the chosen function gets its arguments: by name (`named`: GET/form values, or the JSON
 * body through json_to_record), or the whole body as its one unnamed argument (`positional`).
 */
export type Args =
  | { kind: 'named'; values: Map<string, unknown[]>; json?: string }
  | { kind: 'positional'; value: string | Buffer };

/** The request body's kind, as PostgREST tells them apart for /rpc. */
type BodyMedia = 'json' | 'text' | 'xml' | 'octet' | 'other';

interface CallInput {
  /** Argument names given (query string keys, body keys or `columns`). */
  given: Map<string, unknown[]>;
  /** The JSON object of the arguments (POST JSON: the client's own text). */
  json?: string;
  /** text/plain, text/xml, application/octet-stream bodies: the body itself. */
  raw?: string | Buffer;
  isPost: boolean;
  media: BodyMedia;
}

/** The type a single unnamed argument must have to take a body of this kind. */
const RAW_PARAM_TYPES: Record<BodyMedia, string[]> = { json: ['json', 'jsonb'], text: ['text'], xml: ['xml'], octet: ['bytea'], other: [] };
const RAW_MEDIA: Record<string, BodyMedia> = { 'text/plain': 'text', 'text/xml': 'xml', 'application/octet-stream': 'octet' };

/** A type in PostgREST's signature text: `public.f(a => integer, b => text)`. */
function signature(fn: RestFunction): string {
  return `${fn.schema}.${fn.name}(${fn.args.map((a) => `${a.name} => ${routineTypeName(a.type)}`).join(', ')})`;
}

const sameKeys = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((k) => b.has(k));

/** The one unnamed argument that takes the whole body. */
const onePositional = (fn: RestFunction) => fn.args.length === 1 && fn.args[0].name === '';

/**
 * PostgREST's findProc match on argument names: a function without arguments needs none (and
 * no raw body); otherwise the keys must be the required arguments plus any optional ones. An
 * empty key may only stand for a function's single unnamed argument (it is passed by position):
 * an unnamed argument among named ones cannot be passed at all, so such a call matches nothing.
 */
function matchesParams(fn: RestFunction, keys: Set<string>, input: CallInput): boolean {
  if (fn.args.length === 0) return keys.size === 0 && !(input.isPost && ['text', 'xml', 'octet'].includes(input.media));
  if (keys.has('') && !onePositional(fn)) return false;
  const required = new Set(fn.args.filter((a) => !a.hasDefault).map((a) => a.name));
  const optional = new Set(fn.args.filter((a) => a.hasDefault).map((a) => a.name));
  if (optional.size === 0) return sameKeys(keys, required);
  if (required.size === 0) return [...keys].every((k) => optional.has(k));
  return sameKeys(new Set([...keys].filter((k) => !optional.has(k))), required);
}

/** POST with a body of the type of a function's single unnamed argument: it takes the body. */
function takesBody(fn: RestFunction, input: CallInput): boolean {
  return input.isPost && onePositional(fn) && fn.args[0].type.schema === 'pg_catalog' && RAW_PARAM_TYPES[input.media].includes(fn.args[0].type.name);
}

function bodyMedia(api: ApiRequest): BodyMedia {
  const raw = api.req.headers['content-type'];
  const type = ((Array.isArray(raw) ? raw[0] : raw) ?? 'application/json').split(';')[0].trim().toLowerCase();
  return type === 'application/json' ? 'json' : RAW_MEDIA[type] ?? 'other';
}

function collectArgs(api: ApiRequest, query: ParsedQuery): CallInput {
  if (api.req.method !== 'POST') {
    const given = new Map<string, unknown[]>();
    for (const [k, v] of query.rpcArgs) (given.get(k) ?? given.set(k, []).get(k)!).push(v);
    return { given, isPost: false, media: 'other' };
  }
  const media = bodyMedia(api);
  if (media === 'text' || media === 'xml') return { given: new Map(), raw: api.req.body?.toString('utf8') ?? '', isPost: true, media };
  if (media === 'octet') return { given: new Map(), raw: api.req.body ?? Buffer.alloc(0), isPost: true, media };
  const text = api.req.body?.toString('utf8').trim() ?? '';
  const isJson = !api.req.headers['content-type'] || String(api.req.headers['content-type']).toLowerCase().includes('json');
  if (isJson && text === '') return { given: new Map(), json: '{}', isPost: true, media };
  const payload = parsePayload(api.req, query.columns, { single: true });
  const row = payload.rows[0] ?? {};
  const keys = query.columns ?? Object.keys(row);
  const given = new Map<string, unknown[]>(keys.map((k) => [k, [row[k]]]));
  const rawObject = isJson && text.startsWith('{') && !query.columns ? text : JSON.stringify(Object.fromEntries(keys.map((k) => [k, row[k] ?? null])));
  return { given, json: rawObject, isPost: true, media };
}

/** The arguments as one JSON object (what a single unnamed argument receives on GET or a form POST). */
function argsObject(given: Map<string, unknown[]>): string {
  return JSON.stringify(Object.fromEntries([...given].map(([k, v]) => [k, v.length > 1 ? v : v[v.length - 1]])));
}

/** `(a, b, c)`: argument names sorted, as PostgREST compares them for its hint. */
const paramList = (names: string[]) => `(${[...names].sort(compareText).join(', ')})`;
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The function `name` called with these arguments, as PostgREST's findProc chooses it among the
 * overloads /rpc can call (in PostgREST's order): one whose argument names match, else the one
 * taking the whole body; several are PGRST203, none PGRST202 with PostgREST's hint.
 */
function chooseFunction(api: ApiRequest, model: RestModel, name: string, query: ParsedQuery): { fn: RestFunction; args: Args } {
  const candidates = model.functions(api.schema, name).filter((f) => f.callable);
  const input = collectArgs(api, query);
  const keys = new Set(input.given.keys());
  const matching = candidates.filter((f) => matchesParams(f, keys, input));
  const fallback = candidates.filter((f) => !matchesParams(f, keys, input) && takesBody(f, input));
  const chosen = matching.length ? matching : fallback;
  if (chosen.length > 1) throw ERRORS.ambiguousFunction(chosen.map(signature));
  if (chosen.length === 1) {
    const fn = chosen[0];
    if (onePositional(fn)) {
      const value = input.raw ?? (input.isPost && input.media === 'json' ? input.json ?? '{}' : argsObject(input.given));
      return { fn, args: { kind: 'positional', value } };
    }
    return { fn, args: { kind: 'named', values: input.given, json: input.json } };
  }
  throw noFunction(api.schema, model, name, [...keys].sort(compareText), input, candidates);
}

/** PGRST202 worded as PostgREST words it (v13 NoRpc): message, details and the "Perhaps" hint. */
function noFunction(schema: string, model: RestModel, name: string, keys: string[], input: CallInput, overloads: RestFunction[]) {
  const qualifiedName = `${schema}.${name}`;
  const onlyBody = input.isPost && ['text', 'xml', 'octet'].includes(input.media);
  const listed = keys.length ? `(${keys.join(', ')})` : ' without parameters';
  const message = `Could not find the function ${qualifiedName}${onlyBody ? '' : listed} in the schema cache`;
  const withParams = keys.length ? ` with parameter${keys.length > 1 ? 's' : ''} ${keys.join(', ')}` : ' without parameters';
  const searched = !input.isPost
    ? withParams
    : input.media === 'text' ? ' with a single unnamed text parameter'
      : input.media === 'xml' ? ' with a single unnamed xml parameter'
        : input.media === 'octet' ? ' with a single unnamed bytea parameter'
          : input.media === 'json' ? `${withParams} or with a single unnamed json/jsonb parameter` : withParams;
  const details = `Searched for the function ${qualifiedName}${searched}, but no matches were found in the schema cache.`;
  let hint: string | null = null;
  if (!onlyBody) {
    if (overloads.length) {
      const close = suggest(paramList(keys), overloads.map((f) => paramList(f.args.map((a) => a.name))));
      if (close) hint = `Perhaps you meant to call the function ${qualifiedName}${close}`;
    } else {
      const close = suggestName(name, model.allFunctions(schema).filter((f) => f.callable).map((f) => f.name));
      if (close) hint = `Perhaps you meant to call the function ${schema}.${close}`;
    }
  }
  return ERRORS.noFunction(message, details, hint);
}

/** A relation-like view of a function result without a relation type of its own. */
function resultRelation(fn: RestFunction): Relation {
  if (fn.returnRelation) return fn.returnRelation;
  const columns: Column[] = [];
  return { schema: fn.schema, name: fn.name, kind: 'view', columns, columnsByName: new Map(), pk: [], insertable: false, updatable: false, deletable: false };
}


/** The call plan; PGRST202/203 when no single function matches. */
export function planCall(api: ApiRequest, model: RestModel, name: string, query: ParsedQuery, opts: { maxRows?: number; planEnabled?: boolean }): CallPlan {
  const { fn, args } = chooseFunction(api, model, name, query);
  const readOnly = api.req.method !== 'POST' || fn.volatility !== 'volatile';
  const media = negotiate(api.accept, headerValue(api.req.headers.accept), fn.returnKind === 'composite', opts.planEnabled);
  const tree = fn.returnKind === 'composite' ? planReadTree(model, resultRelation(fn), 'pgrst_call', query) : undefined;
  // Rows take the root level's last limit/offset (as reads do); a set of scalars its first ones.
  const first = <T>(list: { path: string[]; value: T }[]) => list.find((x) => x.path.length === 0)?.value;
  const page = tree ? rootPage(tree.query) : { limit: first(query.limits), offset: first(query.offsets) };
  const strict = api.prefs.handling === 'strict' && api.prefs.maxAffected !== undefined;
  return {
    kind: 'call',
    fn,
    args,
    readOnly,
    media,
    tree,
    limit: capRows(page.limit, opts.maxRows),
    offset: page.offset,
    rangeFirst: fn.returnsSet ? (first(query.offsets) ?? 0) : 0,
    count: fn.returnKind === 'composite' ? api.prefs.count : undefined,
    singular: media.kind === 'object',
    maxAffected: strict ? api.prefs.maxAffected : undefined,
    head: api.req.method === 'HEAD',
  };
}
