/**
 * `POST /object/:bucket/*` (storage-js `upload`; `x-upsert: true` replaces) and `PUT` (storage-js
 * `update`, always an upsert): a multipart file part or a raw body, through the upload pipeline
 * (object.ts `storeObject`) as the caller.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { keyParam } from '../../../names.ts';
import { param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';
import { uploadBody } from '../../upload-body.ts';

async function upload(scope: RouteScope, req: FastifyRequest, upsert: boolean) {
  const storage = await scope.caller(req);
  const bucketId = param(req, 'bucket');
  const name = keyParam(req.params);
  // storeObject reads the bucket (NoSuchBucket) in its own first round trip.
  const stored = await storage.from(bucketId).storeObject(name, upsert, await uploadBody(req));
  return { Id: stored.id, Key: `${bucketId}/${name}` };
}

export default async function createObject(_app: FastifyInstance, scope: RouteScope): Promise<void> {
  await scope.streaming((uploads) => {
    uploads.post('/object/:bucket/*', (req) => upload(scope, req, req.headers['x-upsert'] === 'true'));
    uploads.put('/object/:bucket/*', (req) => upload(scope, req, true));
  });
}
