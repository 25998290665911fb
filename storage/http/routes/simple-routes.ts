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
 * File JSON: `{id, bucket, path, key: "<bucket>/<path>", size, content_type, etag, created_at, updated_at}` (http/json.ts).
 * Errors have the storage body (`{statusCode, code, error, message}`) but, unlike the storage-js
 * API (always 400), their real HTTP status: 400, 403, 404, 409, 413, 415.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { StorageDeps } from '../../context.ts';
import { STORAGE_ERRORS } from '../../errors.ts';
import { checkKey } from '../../names.ts';
import { fileJson } from '../json.ts';
import { queryParam } from '../request.ts';
import { storageScope, type RouteScope } from '../scopes.ts';
import { sendObject } from '../send-object.ts';
import { uploadBody } from '../upload-body.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function fileId(req: FastifyRequest): string {
  const id = (req.params as Record<string, string>).file_id;
  if (!UUID.test(id)) throw STORAGE_ERRORS.invalidRequest('file_id must be a UUID');
  return id.toLowerCase();
}

async function upload(_app: FastifyInstance, scope: RouteScope): Promise<void> {
  await scope.streaming((uploads) => {
    uploads.post('/storage/upload', async (req, reply) => {
      const storage = await scope.caller(req);
      const body = await uploadBody(req);
      const value = (name: string) => body.fields?.[name] ?? queryParam(req, name);
      const bucketId = value('bucket');
      // Refused before the file is read: the error answer releases the body (http/release-body.ts).
      if (!bucketId) {
        throw STORAGE_ERRORS.invalidRequest('The bucket field is required (send it before the file part)');
      }
      const rawName = value('path') ?? value('name') ?? body.filename;
      if (!rawName) {
        throw STORAGE_ERRORS.invalidRequest('The path field is required when the file has no name');
      }
      const upsert = value('upsert') === 'true' || req.headers['x-upsert'] === 'true';
      const objects = storage.from(bucketId);
      const row = await objects.storedRow(await objects.storeObject(checkKey(rawName), upsert, body));
      reply.code(201).header('location', `/storage/${row.id}`);
      return fileJson(row);
    });
  });
}

function download(app: FastifyInstance, scope: RouteScope): void {
  app.get('/storage/:file_id', async (req, reply) => {
    const id = fileId(req);
    const storage = scope.storage(req);
    const o = await storage.objectById(id);
    const objects = storage.from(o.bucket_id);
    return sendObject(objects, req, reply, await objects.visibleObject(o.name, 'default'));
  });
}

function remove(app: FastifyInstance, scope: RouteScope): void {
  app.delete('/storage/:file_id', async (req) => {
    const id = fileId(req);
    const removed = await scope.storage(req).removeObjectById(id);
    return { message: 'Successfully deleted', ...fileJson(removed) };
  });
}

/** The short routes, in their own scopes: each error is sent with its logical status. */
export async function registerSimpleRoutes(app: FastifyInstance, deps: StorageDeps): Promise<void> {
  await storageScope(app, deps, 'authenticated', [upload, remove], { logicalStatus: true });
  await storageScope(app, deps, 'public', [download], { logicalStatus: true });
}
