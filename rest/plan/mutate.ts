/**
 * The mutate plans of POST, PATCH, PUT and DELETE (PostgREST's MutatePlan): which rows and
 * columns change, how conflicts resolve, what the statement returns and how the response is
 * shaped (representation tree, media, status, Preference-Applied) — as data; rest/query/mutate.ts
 * renders the SQL.
 */
import type { ParsedQuery, Preferences, ReturnPreference, SelectItem } from '../ast.ts';
import { headerValue, type ApiRequest } from '../api-request.ts';
import { ERRORS } from '../errors.ts';
import { isPlanType, negotiate, type ResponseMedia } from '../media.ts';
import type { Relation, RestModel } from '../model.ts';
import { parsePayload, type Payload } from '../payload.ts';
import { planReadTree, type ReadTree } from './read-tree.ts';

export interface MutatePlan {
  kind: 'mutate';
  action: 'insert' | 'update' | 'delete';
  rel: Relation;
  query: ParsedQuery;
  /** The columns an insert/update writes (`columns=` or the payload's keys). */
  columns: string[];
  payload?: Payload;
  /** `Prefer: missing=default`: absent keys take the columns' defaults. */
  missingDefault: boolean;
  /** Insert: `on conflict (columns) do update|do nothing`. */
  conflict?: { columns: string[]; resolution: 'merge-duplicates' | 'ignore-duplicates' };
  returning: ReturnPreference;
  /** What the statement returns: the whole row, these columns, or (empty) nothing but a row count. */
  returned: '*' | string[];
  /** Upserts into a table count real inserts (`xmax = 0`): 201 vs 200. */
  trackInserts: boolean;
  /** headers-only POST: the Location header from the inserted key. */
  location: boolean;
  /** return=representation: the tree of `select` over the changed rows, and its media. */
  representation?: { tree: ReadTree; media: ResponseMedia };
  /** Accept: application/vnd.pgrst.plan… (db-plan-enabled): answer EXPLAIN. */
  explain?: ResponseMedia;
  /** vnd.pgrst.object: exactly one row or PGRST116. */
  singular: boolean;
  /** handling=strict with max-affected (PATCH/DELETE). */
  maxAffected?: number;
  successStatus: number;
  applied: (keyof Preferences)[];
  contentRangeStyle: 'star' | 'range';
  /** PUT: 201 when it inserted, 200 when it replaced (with representation), else 204. */
  put: boolean;
}

/** The column list of an insert/update: `columns=` or the payload's keys, checked against the relation. */
function payloadColumns(rel: Relation, query: ParsedQuery, payload: Payload): string[] {
  const cols = [...new Set(query.columns ?? payload.keys)]; // `columns` is a set, as in PostgREST
  for (const c of cols) if (!rel.columnsByName.has(c)) throw ERRORS.noColumn(c, rel.name);
  return cols;
}

/** The columns a representation reads, or undefined when it needs the whole row. */
function representationColumns(rel: Relation, select: SelectItem[]): string[] | undefined {
  const cols = new Set<string>();
  for (const item of select) {
    if (item.type === 'count') continue;
    if (item.type !== 'field' || !rel.columnsByName.has(item.field.name)) return undefined;
    cols.add(item.field.name);
  }
  return [...cols];
}

/**
 * What a mutation returns: the whole row only when the response shows it. RETURNING needs SELECT
 * on the returned columns, so an insert-only table (INSERT granted, SELECT not) still accepts
 * `return=minimal` writes; headers-only needs just the primary key for Location. Only the
 * selected columns when the select list is plain columns, so a role with SELECT on some columns
 * gets those back; stars, embeds and computed columns need the whole row.
 */
function returnedColumns(ret: ReturnPreference, rel: Relation, query: ParsedQuery): '*' | string[] {
  if (ret === 'representation') return (query.order.length ? undefined : representationColumns(rel, query.select)) ?? '*';
  if (ret === 'headers-only' && rel.pk.length) return rel.pk;
  return [];
}

type Shape = Pick<MutatePlan, 'action' | 'columns' | 'payload' | 'conflict' | 'trackInserts' | 'location' | 'successStatus' | 'applied' | 'contentRangeStyle' | 'put'> & { checkMaxAffected: boolean };

/** The parts every mutation shares: returning, media, representation tree, checks. */
function mutation(api: ApiRequest, model: RestModel, rel: Relation, query: ParsedQuery, shape: Shape, planEnabled: boolean): MutatePlan {
  const returning = api.prefs.return ?? 'minimal';
  const representing = returning === 'representation';
  const rawAccept = headerValue(api.req.headers.accept);
  const planned = planEnabled && api.accept.some((m) => isPlanType(m.type)) ? negotiate(api.accept, rawAccept, true, true) : undefined;
  const media = planned?.plan ? planned : representing ? negotiate(api.accept, rawAccept) : undefined;
  const singular = media?.kind === 'object' || (!representing && (api.accept[0]?.type.startsWith('application/vnd.pgrst.object') ?? false));
  const { checkMaxAffected, ...rest } = shape;
  const strict = checkMaxAffected && api.prefs.handling === 'strict';
  return {
    kind: 'mutate',
    ...rest,
    rel,
    query,
    missingDefault: api.prefs.missing === 'default',
    returning,
    returned: returnedColumns(returning, rel, query),
    representation: representing ? { tree: planReadTree(model, rel, rel.name, query), media: media! } : undefined,
    explain: media?.plan ? media : undefined,
    singular,
    maxAffected: strict ? api.prefs.maxAffected : undefined,
  };
}

export function planInsert(api: ApiRequest, model: RestModel, rel: Relation, query: ParsedQuery, planEnabled: boolean, upsertPut = false): MutatePlan {
  const payload = parsePayload(api.req, query.columns);
  const columns = payloadColumns(rel, query, payload);
  const onConflict = query.onConflict ?? rel.pk;
  for (const c of onConflict) if (!rel.columnsByName.has(c)) throw ERRORS.noColumn(c, rel.name);
  const resolution = upsertPut ? 'merge-duplicates' : onConflict.length ? api.prefs.resolution : undefined;
  const isTable = rel.kind === 'table' || rel.kind === 'partitioned_table';
  const trackInserts = resolution === 'merge-duplicates' && isTable;
  const applied: (keyof Preferences)[] = ['missing', 'return', 'count', 'tx', 'handling', 'timezone'];
  if (resolution && !upsertPut) applied.unshift('resolution');
  return mutation(api, model, rel, query, {
    action: 'insert',
    columns,
    payload,
    conflict: resolution && onConflict.length ? { columns: onConflict, resolution } : undefined,
    trackInserts,
    location: (api.prefs.return ?? 'minimal') === 'headers-only' && rel.pk.length > 0,
    successStatus: 201,
    applied,
    contentRangeStyle: 'star',
    put: upsertPut,
    checkMaxAffected: false,
  }, planEnabled);
}

export function planUpdate(api: ApiRequest, model: RestModel, rel: Relation, query: ParsedQuery, planEnabled: boolean): MutatePlan {
  const payload = parsePayload(api.req, query.columns, { single: true });
  const columns = payloadColumns(rel, query, payload);
  return mutation(api, model, rel, query, {
    action: 'update',
    columns,
    payload,
    trackInserts: false,
    location: false,
    successStatus: 204,
    applied: ['missing', 'return', 'count', 'tx', 'handling', 'timezone', 'maxAffected'],
    contentRangeStyle: 'range',
    put: false,
    checkMaxAffected: true,
  }, planEnabled);
}

export function planDelete(api: ApiRequest, model: RestModel, rel: Relation, query: ParsedQuery, planEnabled: boolean): MutatePlan {
  return mutation(api, model, rel, query, {
    action: 'delete',
    columns: [],
    trackInserts: false,
    location: false,
    successStatus: 204,
    applied: ['return', 'count', 'tx', 'handling', 'timezone', 'maxAffected'],
    contentRangeStyle: 'star',
    put: false,
    checkMaxAffected: true,
  }, planEnabled);
}

/** PUT: a single-row upsert whose filters are exactly the primary key with `eq` (§1.8, PGRST105/114/115). */
export function planPut(api: ApiRequest, model: RestModel, rel: Relation, query: ParsedQuery, planEnabled: boolean): MutatePlan {
  if (query.limits.length || query.offsets.length) throw ERRORS.putLimit();
  const rootFilters = query.filters.filter((f) => f.path.length === 0).map((f) => f.value);
  const pkFilters = new Map(rootFilters.map((f) => [f.field.name, f]));
  const valid =
    rel.pk.length > 0 &&
    query.logic.length === 0 &&
    rootFilters.length === rel.pk.length &&
    rel.pk.every((c) => pkFilters.get(c)?.op === 'eq' && !pkFilters.get(c)!.negated && pkFilters.get(c)!.field.jsonPath.length === 0);
  if (!valid) throw ERRORS.putFilters();
  const payload = parsePayload(api.req, query.columns, { single: true });
  const row = payload.rows[0] ?? {};
  for (const c of rel.pk) {
    const v = row[c];
    if (v === undefined || String(v) !== pkFilters.get(c)!.value) throw ERRORS.putPkMismatch();
  }
  return planInsert(api, model, rel, { ...query, filters: [], onConflict: rel.pk }, planEnabled, true);
}
