/**
 * `POST /object/copy` (storage-js `copy(from, to, {destinationBucket})`; `x-upsert: true`
 * replaces): a new row and blob as the caller, metadata copied unless `copyMetadata` is false
 * (then `metadata` and the `x-metadata` header give the copy's own).
 */
import type { FastifyInstance } from 'fastify';
import { rowJson } from '../../json.ts';
import type { RouteScope } from '../../scopes.ts';
import { moveCopyBody } from './move-copy-body.ts';

export default function copyObject(app: FastifyInstance, scope: RouteScope): void {
  app.post('/object/copy', async (req) => {
    const storage = await scope.caller(req);
    const t = moveCopyBody(req);
    const header = req.headers['x-metadata'];
    const copied = await storage.from(t.sourceBucket).copyObject(t.sourceKey, t.destinationBucket, t.destinationKey, {
      upsert: req.headers['x-upsert'] === 'true',
      copyMetadata: t.b.copyMetadata !== false,
      override: (t.b.metadata && typeof t.b.metadata === 'object' ? t.b.metadata : {}) as { cacheControl?: unknown; mimetype?: unknown },
      metadataHeader: typeof header === 'string' ? header : undefined,
    });
    const Key = `${t.destinationBucket}/${t.destinationKey}`;
    return copied.row ? { Id: copied.row.id, Key, ...rowJson(copied.row) } : { Id: copied.id, Key };
  });
}
