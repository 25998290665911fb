/**
 * `POST /object/list-v2/:bucket` (storage-js `listV2({prefix, limit, cursor, with_delimiter, sortBy})`),
 * as the caller: every object whose name starts with `prefix` (a plain string prefix, `%` and `_`
 * literal), or with `with_delimiter` one level of it: the names after `prefix` up to the next `/`
 * become folders (`{id: null, name: "<prefix…>/"}`), which sort and paginate with the objects in
 * one sequence (by name in byte order, or by `created_at`/`updated_at` then name; a folder's times
 * are its oldest object's creation, as supabase/storage has it). Pages of at most 1000 entries;
 * `nextCursor`, opaque, continues after the last entry of the page, in the order it was listed in.
 */
import type { FastifyInstance } from 'fastify';
import { V2_LIST_COLUMNS } from '../../../db.ts';
import { bodyObject, param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';
import { absent, bad, decodeCursor, encodeCursor, optionalBoolean, optionalInt, optionalString, sortBy } from './list-body.ts';

/** Most entries in one list-v2 page (supabase/storage caps maxKeys at 1000). */
const V2_MAX_LIMIT = 1000;
const iso = (d: Date | null) => (d ? d.toISOString() : null);

export default function listObjectsV2(app: FastifyInstance, scope: RouteScope): void {
  app.post('/object/list-v2/:bucket', async (req) => {
    const storage = await scope.caller(req);
    const b = bodyObject(req);
    const prefix = optionalString(b, 'prefix') ?? '';
    const limit = Math.min(optionalInt(b, 'limit', 1) ?? V2_MAX_LIMIT, V2_MAX_LIMIT);
    const delimiter = optionalBoolean(b, 'with_delimiter') ?? false;
    const sort = sortBy(b, V2_LIST_COLUMNS);
    if (!absent(b.cursor) && typeof b.cursor !== 'string') throw bad('cursor must be a string');
    const cursor = typeof b.cursor === 'string' && b.cursor !== '' ? decodeCursor(b.cursor) : undefined;
    // A cursor continues the listing it came from, in that listing's order.
    const column = cursor?.column ?? sort.column ?? 'name';
    const order = cursor?.order ?? sort.order ?? 'asc';
    const after = cursor ? { name: cursor.name, at: cursor.at } : undefined;
    const rows = await storage.from(param(req, 'bucket')).listObjectsV2({ prefix, delimiter, limit: limit + 1, column, order, after });

    const hasNext = rows.length > limit;
    const page = rows.slice(0, limit);
    const folders: { id: null; key: string | null; name: string }[] = [];
    const objects: Record<string, unknown>[] = [];
    for (const r of page) {
      if (r.id === null) folders.push({ id: null, key: r.key, name: r.name });
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
  });
}
