/**
 * `POST /object/upload/sign/:bucket/*` (storage-js `createSignedUploadUrl`, header `x-upsert`):
 * the caller must be allowed to insert (or upsert) that object, tested as the caller now; the
 * answer is `{url: "/object/upload/sign/<bucket>/<key>?token=…", token}`.
 */
import type { FastifyInstance } from 'fastify';
import { keyParam } from '../../../names.ts';
import { param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';

/** How long a signed upload URL stays valid: two hours, as Supabase documents. */
export const SIGNED_UPLOAD_EXPIRY_SECONDS = 2 * 60 * 60;

export default function getSignedUploadURL(app: FastifyInstance, scope: RouteScope): void {
  app.post('/object/upload/sign/:bucket/*', async (req) => {
    const storage = await scope.caller(req);
    const bucketId = param(req, 'bucket');
    const name = keyParam(req.params);
    const token = await storage.from(bucketId).signUpload(name, req.headers['x-upsert'] === 'true', SIGNED_UPLOAD_EXPIRY_SECONDS);
    return { url: `/object/upload/sign/${bucketId}/${name}?token=${token}`, token };
  });
}
