/**
 * `POST /object/list/:bucket` (storage-js `list(path, {limit, offset, sortBy, search})`), as the
 * caller (RLS decides which rows exist for them): one folder level under `prefix` (taken as a
 * folder), folders as entries with `id: null`, `search` a case-insensitive name prefix, offset
 * pagination.
 */
import type { FastifyInstance } from 'fastify';
import { V1_LIST_COLUMNS } from '../../../db.ts';
import { bodyObject, param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';
import { optionalInt, optionalString, sortBy } from './list-body.ts';

/** Most entries in one list page (v1 clamps to it, as the storage.search function did). */
const V1_MAX_LIMIT = 1500;

export default function listObjects(app: FastifyInstance, scope: RouteScope): void {
  app.post('/object/list/:bucket', async (req) => {
    const storage = await scope.caller(req);
    const b = bodyObject(req);
    const rawPrefix = (optionalString(b, 'prefix') ?? '').replace(/^\/+|\/+$/g, '');
    const prefix = rawPrefix ? `${rawPrefix}/` : '';
    const limit = Math.min(optionalInt(b, 'limit', 1) ?? 100, V1_MAX_LIMIT);
    const offset = optionalInt(b, 'offset', 0) ?? 0;
    const sort = sortBy(b, V1_LIST_COLUMNS);
    const search = optionalString(b, 'search') ?? '';
    return storage.from(param(req, 'bucket')).listObjects({ prefix, search, limit, offset, column: sort.column ?? 'name', order: sort.order ?? 'asc' });
  });
}
