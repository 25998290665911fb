/** `DELETE /object/:bucket` (storage-js `remove`): `{prefixes}`, at most 1000 names, deleted as the caller; the deleted rows. */
import type { FastifyInstance } from 'fastify';
import { rowJson } from '../../json.ts';
import { bodyOf, param, pathList } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';

/** Most paths one remove or createSignedUrls request may name (supabase/storage MAX_OBJECTS_PER_REQUEST). */
export const MAX_OBJECTS_PER_REQUEST = 1000;

export default function deleteObjects(app: FastifyInstance, scope: RouteScope): void {
  app.delete('/object/:bucket', async (req) => {
    const storage = await scope.caller(req);
    const prefixes = pathList(bodyOf(req).prefixes, 'prefixes', MAX_OBJECTS_PER_REQUEST, `At most ${MAX_OBJECTS_PER_REQUEST} objects can be deleted per request`);
    const removed = await storage.from(param(req, 'bucket')).removeObjects(prefixes.map((p) => p.replace(/^\/+/, '')));
    return removed.map(rowJson);
  });
}
