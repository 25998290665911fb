/**
 * The read plan of GET/HEAD on a relation (PostgREST's ReadPlan): the tree with relationships
 * resolved, the response media, and the page — the query's root limit and offset narrowed by a
 * `Range` header and capped by `db-max-rows`.
 */
import type { CountPreference } from '../ast.ts';
import { headerValue, type ApiRequest } from '../api-request.ts';
import { negotiate, type ResponseMedia } from '../media.ts';
import type { Relation, RestModel } from '../model.ts';
import { parseRange } from '../parse/headers.ts';
import type { ParsedQuery } from '../ast.ts';
import { planReadTree, type ReadTree } from './read-tree.ts';

export interface ReadPlan {
  kind: 'read';
  tree: ReadTree;
  media: ResponseMedia;
  offset: number;
  limit?: number;
  count?: CountPreference;
  head: boolean;
}

/** A limit capped by `db-max-rows` (PostgREST's restrictRange: the offset stays, at most maxRows rows). */
export function capRows(limit: number | undefined, maxRows: number | undefined): number | undefined {
  if (maxRows === undefined) return limit;
  return limit === undefined ? maxRows : Math.min(limit, maxRows);
}

/** The root level's last `limit` / `offset` of a query. */
export function rootPage(query: ParsedQuery): { limit?: number; offset?: number } {
  const root = <T>(list: { path: string[]; value: T }[]) => list.filter((x) => x.path.length === 0).at(-1)?.value;
  return { limit: root(query.limits), offset: root(query.offsets) };
}

export function planRead(api: ApiRequest, model: RestModel, rel: Relation, query: ParsedQuery, head: boolean, opts: { maxRows?: number; planEnabled?: boolean }): ReadPlan {
  const media = negotiate(api.accept, headerValue(api.req.headers.accept), true, opts.planEnabled);
  const range = api.req.method === 'GET' ? parseRange(headerValue(api.req.headers.range)) : undefined;
  const tree = planReadTree(model, rel, rel.name, query);
  const page = rootPage(tree.query);
  let offset = page.offset ?? 0;
  let limit = page.limit;
  if (range) {
    const first = Math.max(offset, range.first);
    const rangeEnd = range.last === undefined ? Infinity : range.last;
    const limitEnd = limit === undefined ? Infinity : offset + limit - 1;
    const end = Math.min(rangeEnd, limitEnd);
    offset = first;
    limit = end === Infinity ? undefined : Math.max(0, end - first + 1);
  }
  return { kind: 'read', tree, media, offset, limit: capRows(limit, opts.maxRows), count: api.prefs.count, head };
}
