/**
 * `PUT /object/upload/sign/:bucket/*?token=…` (storage-js `uploadToSignedUrl`, multipart or raw
 * body): whoever holds the token uploads once it is verified (scope upload, same path, not
 * expired), through the upload pipeline as service_role with the signer as owner and the upsert
 * flag from the token — supabase/storage's "as superuser" upload. Answer `{Key: "<bucket>/<key>"}`.
 */
import type { FastifyInstance } from 'fastify';
import { keyParam } from '../../../names.ts';
import { param, queryParam } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';
import { uploadBody } from '../../upload-body.ts';

export default async function uploadSignedObject(_app: FastifyInstance, scope: RouteScope): Promise<void> {
  await scope.streaming((uploads) => {
    uploads.put('/object/upload/sign/:bucket/*', async (req) => {
      const bucketId = param(req, 'bucket');
      const name = keyParam(req.params);
      const storage = scope.storage(req);
      const token = await storage.from(bucketId).verifyUpload(name, queryParam(req, 'token'));
      const signer = storage.as({ role: 'service_role', ...(token.owner ? { sub: token.owner } : {}) });
      await signer.from(bucketId).storeObject(name, token.upsert, await uploadBody(req));
      return { Key: `${bucketId}/${name}` };
    });
  });
}
