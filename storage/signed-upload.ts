/**
 * Signed upload URLs (storage-js `createSignedUploadUrl` / `uploadToSignedUrl`, protocols.md §3.5).
 *
 * - `POST /object/upload/sign/:bucket/*` (header `x-upsert`): the caller must be allowed to insert
 *   (or upsert) that object, tested as the caller at sign time; the answer is
 *   `{url: "/object/upload/sign/<bucket>/<key>?token=…", token}`.
 * - `PUT /object/upload/sign/:bucket/*?token=…` (multipart or raw body, as `upload`): whoever holds
 *   the token uploads once it is verified (scope upload, same path, not expired), through the
 *   normal upload pipeline as service_role with the signer as owner and the upsert flag from the
 *   token — exactly supabase/storage's "as superuser" upload. Answer `{Key: "<bucket>/<key>"}`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { StorageCore } from './core.ts';
import { keyParam } from './names.ts';
import { signObjectToken, verifyObjectToken } from './tokens.ts';

/** How long a signed upload URL stays valid: two hours, as Supabase documents. */
export const SIGNED_UPLOAD_EXPIRY_SECONDS = 2 * 60 * 60;

const target = (_core: StorageCore, req: FastifyRequest) => {
  const params = req.params as Record<string, string>;
  const name = keyParam(params);
  return { bucketId: params.bucket, name, url: `${params.bucket}/${name}` };
};

export async function registerSignedUpload(app: FastifyInstance, core: StorageCore): Promise<void> {
  app.post('/object/upload/sign/:bucket/*', core.route(async (req) => {
    const claims = await core.claimsOf(req);
    const { bucketId, name, url } = target(core, req);
    await core.bucket(bucketId);
    const upsert = req.headers['x-upsert'] === 'true';
    await core.canUpload(req, claims, bucketId, name, upsert);
    const owner = typeof claims.sub === 'string' ? claims.sub : undefined;
    const token = await signObjectToken(core.signingKey, { url, scope: 'upload', owner, upsert }, SIGNED_UPLOAD_EXPIRY_SECONDS);
    return { url: `/object/upload/sign/${url}?token=${token}`, token };
  }));

  await core.streamingScope((uploads) => {
    uploads.put('/object/upload/sign/:bucket/*', core.route(async (req) => {
      const { bucketId, name, url } = target(core, req);
      const token = await verifyObjectToken(core.signingKey, (req.query as Record<string, string | undefined>).token, url, 'upload');
      const claims = { role: 'service_role', ...(token.owner ? { sub: token.owner } : {}) };
      await core.storeObject(req, claims, { bucketId, name, upsert: token.upsert, body: await core.uploadBody(req) });
      return { Key: url };
    }));
  });
}
