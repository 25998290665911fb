/**
 * The product's short storage routes, beside the storage-js API (the gateway sends `/storage/*`
 * here unstripped; `/storage/v1/*` is the longer, winning prefix):
 *
 * - `POST /storage/upload`: multipart fields `bucket`, `path` (or `name`; default: the file's
 *   filename), optional `upsert`, `cacheControl`, `contentType`, `metadata`, then the file part;
 *   or a raw body with `?bucket=&path=`. Through the normal upload pipeline, as the caller (RLS
 *   insert). 201 with the file JSON below.
 * - `GET /storage/:file_id`: the bytes of the object with that id, as `GET /object/...` serves
 *   them (public buckets to everyone, otherwise RLS select as the caller; Range, ETag, `?download`).
 * - `DELETE /storage/:file_id`: deletes it as the caller (RLS select + delete).
 *
 * File JSON: `{id, bucket, path, key: "<bucket>/<path>", size, content_type, etag, created_at, updated_at}`.
 * Errors have the storage body (`{statusCode, code, error, message}`) but, unlike the storage-js
 * API (always 400), their real HTTP status: 400, 403, 404, 409, 413, 415.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ObjectMetadata, ObjectRow, RouteHandler, StorageCore } from './core.ts';
import { STORAGE_ERRORS, StorageError, asStorageError } from './errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function fileJson(o: ObjectRow) {
  const m = o.metadata as unknown as ObjectMetadata;
  return {
    id: o.id,
    bucket: o.bucket_id,
    path: o.name,
    key: `${o.bucket_id}/${o.name}`,
    size: m.size,
    content_type: m.mimetype,
    etag: m.eTag,
    created_at: o.created_at.toISOString(),
    updated_at: o.updated_at.toISOString(),
  };
}

function fileId(req: FastifyRequest): string {
  const id = (req.params as Record<string, string>).file_id;
  if (!UUID.test(id)) throw STORAGE_ERRORS.invalidRequest('file_id must be a UUID');
  return id.toLowerCase();
}

export async function registerSimpleRoutes(app: FastifyInstance, core: StorageCore): Promise<void> {
  /** core.route, with each error's logical status as the HTTP status. */
  const route = (fn: RouteHandler) =>
    core.route(async (req, reply) => {
      try {
        return await fn(req, reply);
      } catch (err) {
        const e = asStorageError(err);
        throw e ? new StorageError(e.statusCode, e.code, e.error, e.message, e.statusCode) : err;
      }
    });

  await core.streamingScope((uploads) => {
    uploads.post('/storage/upload', route(async (req, reply) => {
      const claims = await core.claimsOf(req);
      const body = await core.uploadBody(req);
      const query = req.query as Record<string, string | undefined>;
      const value = (name: string) => body.fields?.[name] ?? query[name];
      const bucketId = value('bucket');
      // Refused before the file is read: the error answer releases the body (release-body.ts).
      if (!bucketId) {
        throw STORAGE_ERRORS.invalidRequest('The bucket field is required (send it before the file part)');
      }
      const rawName = value('path') ?? value('name') ?? body.filename;
      if (!rawName) {
        throw STORAGE_ERRORS.invalidRequest('The path field is required when the file has no name');
      }
      const upsert = value('upsert') === 'true' || req.headers['x-upsert'] === 'true';
      const row = await core.storeObject(req, claims, { bucketId, name: core.checkKey(rawName), upsert, body });
      reply.code(201).header('location', `/storage/${row.id}`);
      return fileJson(row);
    }));
  });

  app.get('/storage/:file_id', route(async (req, reply) => {
    const id = fileId(req);
    const { rows } = await core.pools.admin.query<{ bucket_id: string; name: string }>(`select bucket_id, name from storage.objects where id = $1`, [id]);
    if (!rows[0]) throw STORAGE_ERRORS.noSuchKey();
    return core.sendObject(req, reply, await core.visibleObject(req, rows[0].bucket_id, rows[0].name, 'default'));
  }));

  app.delete('/storage/:file_id', route(async (req) => {
    const id = fileId(req);
    const claims = await core.claimsOf(req);
    const removed = await core.asCaller(claims, req, async (c) => (await c.query<ObjectRow>(`delete from storage.objects where id = $1 returning *`, [id])).rows);
    if (!removed[0]) throw STORAGE_ERRORS.noSuchKey();
    await core.removeBlobs(removed);
    return { message: 'Successfully deleted', ...fileJson(removed[0]) };
  }));
}
