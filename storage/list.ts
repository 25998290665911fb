/**
 * Listing objects, as the caller (RLS decides which rows exist for them):
 *
 * - `POST /object/list/:bucket` (storage-js `list(path, {limit, offset, sortBy, search})`): one
 *   folder level under `prefix` (taken as a folder), folders as entries with `id: null`,
 *   `search` a case-insensitive name prefix, offset pagination.
 * - `POST /object/list-v2/:bucket` (storage-js `listV2({prefix, limit, cursor, with_delimiter, sortBy})`):
 *   every object whose name starts with `prefix` (a plain string prefix, `%` and `_` literal),
 *   or with `with_delimiter` one level of it: the names after `prefix` up to the next `/` become
 *   folders (`{id: null, name: "<prefix…>/"}`), which sort and paginate with the objects in one
 *   sequence (by name in byte order, or by `created_at`/`updated_at` then name; a folder's times
 *   are its oldest object's creation, as supabase/storage has it). Pages of at most 1000 entries;
 *   `nextCursor`, opaque, continues after the last entry of the page, in the order it was listed in.
 *
 * Bodies are checked before anything runs: a field of the wrong type or out of range is a 400.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { StorageCore } from './core.ts';
import { STORAGE_ERRORS } from './errors.ts';
import { checkNameField } from './names.ts';

const V1_COLUMNS = ['name', 'updated_at', 'created_at', 'last_accessed_at'] as const;
const V2_COLUMNS = ['name', 'updated_at', 'created_at'] as const;
const ORDERS = ['asc', 'desc'] as const;
/** Most entries in one list page (v1 clamps to it, as the storage.search function did). */
const V1_MAX_LIMIT = 1500;
/** Most entries in one list-v2 page (supabase/storage caps maxKeys at 1000). */
const V2_MAX_LIMIT = 1000;

type Order = (typeof ORDERS)[number];
type Body = Record<string, unknown>;
const bad = (message: string) => STORAGE_ERRORS.invalidRequest(message);

function bodyObject(req: FastifyRequest): Body {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw bad('The request body must be a JSON object');
  return b as Body;
}

const absent = (v: unknown) => v === undefined || v === null;

function optionalString(b: Body, field: string): string | undefined {
  return absent(b[field]) ? undefined : checkNameField(b[field], field);
}

function optionalInt(b: Body, field: string, min: number): number | undefined {
  const v = b[field];
  if (absent(v)) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(`${field} must be an integer of at least ${min}`);
  return v;
}

function optionalBoolean(b: Body, field: string): boolean | undefined {
  const v = b[field];
  if (absent(v)) return undefined;
  if (typeof v !== 'boolean') throw bad(`${field} must be a boolean`);
  return v;
}

/** `sortBy: {column, order}`: the column one of `columns`, the order asc or desc (any case). */
function sortBy<C extends string>(b: Body, columns: readonly C[]): { column?: C; order?: Order } {
  const v = b.sortBy;
  if (absent(v)) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('sortBy must be an object with column and order');
  const { column, order } = v as Record<string, unknown>;
  if (!absent(column) && !columns.includes(column as C)) throw bad(`sortBy.column must be one of ${columns.join(', ')}`);
  const o = typeof order === 'string' ? order.toLowerCase() : order;
  if (!absent(o) && !ORDERS.includes(o as Order)) throw bad(`sortBy.order must be one of ${ORDERS.join(', ')}`);
  return { column: (column ?? undefined) as C | undefined, order: (o ?? undefined) as Order | undefined };
}

/** Where a list-v2 page continues: after the entry `name` (whose sort column held `at`), in the listing's column and order. */
interface Cursor {
  name: string;
  column: (typeof V2_COLUMNS)[number];
  order: Order;
  at?: string;
}

const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify([c.name, c.column, c.order, c.at ?? null])).toString('base64url');

function decodeCursor(s: string): Cursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw bad('Invalid cursor');
  }
  if (!Array.isArray(v) || v.length !== 4) throw bad('Invalid cursor');
  const [name, column, order, at] = v as unknown[];
  if (typeof name !== 'string' || !V2_COLUMNS.includes(column as Cursor['column']) || !ORDERS.includes(order as Order)) throw bad('Invalid cursor');
  if (at !== null && (typeof at !== 'string' || Number.isNaN(Date.parse(at)))) throw bad('Invalid cursor');
  checkNameField(name, 'cursor');
  return { name, column: column as Cursor['column'], order: order as Order, ...(at !== null ? { at: at as string } : {}) };
}

interface ListedRow {
  name: string;
  id: string | null;
  metadata: Record<string, unknown> | null;
  updated_at: Date | null;
  created_at: Date | null;
  last_accessed_at: Date | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function registerList(app: FastifyInstance, core: StorageCore): void {
  const bucketOf = (req: FastifyRequest) => (req.params as Record<string, string>).bucket;

  app.post('/object/list/:bucket', core.route(async (req) => {
    const claims = await core.claimsOf(req);
    const b = bodyObject(req);
    const rawPrefix = (optionalString(b, 'prefix') ?? '').replace(/^\/+|\/+$/g, '');
    const prefix = rawPrefix ? `${rawPrefix}/` : '';
    const limit = Math.min(optionalInt(b, 'limit', 1) ?? 100, V1_MAX_LIMIT);
    const offset = optionalInt(b, 'offset', 0) ?? 0;
    const sort = sortBy(b, V1_COLUMNS);
    const search = optionalString(b, 'search') ?? '';
    const bucketId = bucketOf(req);
    await core.bucket(bucketId);
    const column = sort.column ?? 'name';
    const order = sort.order ?? 'asc';
    return core.asCaller(claims, req, async (c) =>
      (
        await c.query(
          `with o as (
             select *, substr(name, length($2) + 1) as rest from storage.objects
             where bucket_id = $1 and starts_with(name, $2)
           ), entries as (
             select distinct split_part(rest, '/', 1) as name, null::uuid as id, null::timestamptz as updated_at, null::timestamptz as created_at,
                    null::timestamptz as last_accessed_at, null::jsonb as metadata
             from o where position('/' in rest) > 0
             union all
             select rest, id, updated_at, created_at, last_accessed_at, metadata from o where position('/' in rest) = 0
           )
           select * from entries where starts_with(lower(name), lower($3))
           order by ${column === 'name' ? 'name' : `"${column}" nulls first, name`} ${order}
           limit $4 offset $5`,
          [bucketId, prefix, search, limit, offset],
        )
      ).rows,
    );
  }));

  app.post('/object/list-v2/:bucket', core.route(async (req) => {
    const claims = await core.claimsOf(req);
    const b = bodyObject(req);
    const prefix = optionalString(b, 'prefix') ?? '';
    const limit = Math.min(optionalInt(b, 'limit', 1) ?? V2_MAX_LIMIT, V2_MAX_LIMIT);
    const delimiter = optionalBoolean(b, 'with_delimiter') ?? false;
    const sort = sortBy(b, V2_COLUMNS);
    if (!absent(b.cursor) && typeof b.cursor !== 'string') throw bad('cursor must be a string');
    const cursor = typeof b.cursor === 'string' && b.cursor !== '' ? decodeCursor(b.cursor) : undefined;
    // A cursor continues the listing it came from, in that listing's order.
    const column = cursor?.column ?? sort.column ?? 'name';
    const order = cursor?.order ?? sort.order ?? 'asc';
    const bucketId = bucketOf(req);
    await core.bucket(bucketId);

    const op = order === 'asc' ? '>' : '<';
    const values: unknown[] = [bucketId, prefix, delimiter, limit + 1, prefix.split('/').length];
    const param = (v: unknown) => `$${values.push(v)}`;
    // Identifiers come from the fixed column list above, quoted; every value is a parameter.
    const keys = column === 'name' ? ['name collate "C"'] : [`date_trunc('milliseconds', "${column}")`, 'name collate "C"'];
    let after = 'true';
    if (cursor) after = column === 'name' ? `name collate "C" ${op} ${param(cursor.name)}` : `(${keys.join(', ')}) ${op} (${param(cursor.at ?? null)}::timestamptz, ${param(cursor.name)})`;
    const rows = await core.asCaller(claims, req, async (c) =>
      (
        await c.query<ListedRow & { key: string | null }>(
          `with o as (
             select name, id, metadata, updated_at, created_at, last_accessed_at,
                    case when $3 and position('/' in substr(name, length($2) + 1)) > 0
                         then left(name, length($2) + position('/' in substr(name, length($2) + 1))) end as folder
             from storage.objects
             where bucket_id = $1 and starts_with(name, $2)
           ), entries as (
             select folder as name, null::uuid as id, null::jsonb as metadata, min(created_at) as updated_at, min(created_at) as created_at,
                    null::timestamptz as last_accessed_at
             from o where folder is not null group by folder
             union all
             select name, id, metadata, updated_at, created_at, last_accessed_at from o where folder is null
           )
           select *, case when $3 then split_part(name, '/', $5) end as key from entries
           where ${after}
           order by ${keys.map((k) => `${k} ${order}`).join(', ')}
           limit $4`,
          values,
        )
      ).rows,
    );
    const hasNext = rows.length > limit;
    const page = rows.slice(0, limit);
    const folders: { id: null; name: string }[] = [];
    const objects: Record<string, unknown>[] = [];
    for (const r of page) {
      if (r.id === null) folders.push({ id: null, name: r.name });
      else {
        objects.push({
          id: r.id, name: r.name, ...(delimiter ? { key: r.key } : {}), metadata: r.metadata,
          updated_at: iso(r.updated_at), created_at: iso(r.created_at), last_accessed_at: iso(r.last_accessed_at),
        });
      }
    }
    const last = page.at(-1);
    const lastAt = last && column !== 'name' ? iso(last[column]) : null;
    return {
      hasNext,
      ...(hasNext && last ? { nextCursor: encodeCursor({ name: last.name, column, order, ...(lastAt ? { at: lastAt } : {}) }), nextCursorKey: last.name } : {}),
      folders,
      objects,
    };
  }));
}
