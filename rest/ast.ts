/**
 * The parsed form of a PostgREST request's query string and headers (see
 * docs/postgrest.md §1–2). Produced by rest/parse/*, consumed by the planner.
 * Nothing here has been checked against the schema yet: names are as the client wrote them.
 */

/** One step of a JSON path: `->key`, `->>key`, `->0`, `->>-1`. */
export interface JsonPathStep {
  /** `->` keeps JSON, `->>` yields text. */
  arrow: '->' | '->>';
  /** A string key, or an integer array index (negative counts from the end). */
  key: string | number;
}

/** A column reference with an optional JSON path: `settings->foo->>bar`. */
export interface Field {
  name: string;
  jsonPath: JsonPathStep[];
}

export type AggregateFn = 'sum' | 'avg' | 'max' | 'min' | 'count';

export interface StarItem {
  type: 'star';
}

/** `alias:col->path::cast.sum()::cast` */
export interface FieldItem {
  type: 'field';
  field: Field;
  alias?: string;
  cast?: string;
  aggregate?: { fn: AggregateFn; cast?: string };
}

/** `alias:count()::cast` */
export interface CountItem {
  type: 'count';
  alias?: string;
  cast?: string;
}

/** `alias:name!hint!inner(select…)` or `...name!hint(select…)` (spread, no alias). */
export interface EmbedItem {
  type: 'embed';
  name: string;
  alias?: string;
  /** FK constraint name, column name or junction table name. */
  hint?: string;
  joinType?: 'inner' | 'left';
  spread: boolean;
  select: SelectItem[];
}

export type SelectItem = StarItem | FieldItem | CountItem | EmbedItem;

export type FilterOperator =
  | 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte'
  | 'like' | 'ilike' | 'match' | 'imatch'
  | 'in' | 'is' | 'isdistinct'
  | 'fts' | 'plfts' | 'phfts' | 'wfts'
  | 'cs' | 'cd' | 'ov'
  | 'sl' | 'sr' | 'nxr' | 'nxl' | 'adj';

export type IsValue = 'null' | 'not_null' | 'true' | 'false' | 'unknown';

/** `[not.]op[(any|all)|(lang)].value` applied to a field. */
export interface Filter {
  field: Field;
  negated: boolean;
  op: FilterOperator;
  /** `eq(any).{a,b}`: only on eq, gt, gte, lt, lte, like, ilike, match, imatch. */
  quantifier?: 'any' | 'all';
  /** Text-search configuration: `fts(english).term`. */
  language?: string;
  /**
   * The operand. `in`: the list items (unquoted). `is`: an IsValue (lower-cased).
   * any/all: the raw `{a,b}` array literal text. Otherwise the raw text after the operator's dot
   * (for like/ilike with `*` already replaced by `%`).
   */
  value: string | string[];
}

export interface LogicTree {
  type: 'logic';
  operator: 'and' | 'or';
  negated: boolean;
  conditions: (Filter | LogicTree)[];
}

export interface OrderTerm {
  field: Field;
  /** `order=clients(name).desc`: ordering by a column of a to-one embed. */
  relation?: string;
  direction?: 'asc' | 'desc';
  nulls?: 'first' | 'last';
}

/**
 * Something addressed to an embedded resource by a dotted path prefix: `projects.tasks.order=…`
 * has path ['projects', 'tasks']; root-level items have path [].
 */
export interface AtPath<T> {
  path: string[];
  value: T;
}

export interface ParsedQuery {
  /** `select` (first occurrence); `*` when absent or empty. */
  select: SelectItem[];
  filters: AtPath<Filter>[];
  logic: AtPath<LogicTree>[];
  order: AtPath<OrderTerm[]>[];
  limits: AtPath<number>[];
  offsets: AtPath<number>[];
  /** `columns=a,b` (POST/PATCH/RPC payload keys). */
  columns?: string[];
  /** `on_conflict=a,b`. */
  onConflict?: string[];
  /**
   * GET/HEAD /rpc only: params whose value is not an operator expression are function
   * arguments, in order of appearance; repeated names keep every value (VARIADIC).
   */
  rpcArgs: [string, string][];
}

export type ReturnPreference = 'minimal' | 'headers-only' | 'representation';
export type CountPreference = 'exact' | 'planned' | 'estimated';

/** `Prefer` header(s): the first occurrence of each preference wins (§2.1). */
export interface Preferences {
  return?: ReturnPreference;
  count?: CountPreference;
  resolution?: 'merge-duplicates' | 'ignore-duplicates';
  missing?: 'default' | 'null';
  handling?: 'strict' | 'lenient';
  tx?: 'commit' | 'rollback';
  timezone?: string;
  maxAffected?: number;
  /** Preferences that were not understood (PGRST122 under handling=strict). */
  invalid: string[];
}

/** One entry of the Accept header, highest q first. */
export interface MediaType {
  /** Lower-cased `type/subtype`. */
  type: string;
  params: Record<string, string>;
  q: number;
}

/** A `Range: first-[last]` request header (GET only). */
export interface RangeHeader {
  first: number;
  last?: number;
}
