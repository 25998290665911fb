/** Sending a transformed image (transform.ts) of an object: its own ETag per variant, cache headers, `?download`; 304 when the ETag matches. */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ObjectRow } from '../../../db.ts';
import { contentDisposition, downloadParam } from '../../../names.ts';
import type { ObjectMetadata, ObjectStorage } from '../../../object.ts';
import { FORMAT_MIME, requestedFormat, transformImage, transformationsHeader, transformationsString, type TransformOptions } from '../../../transform.ts';

export async function renderImage(objects: ObjectStorage, req: FastifyRequest, reply: FastifyReply, o: ObjectRow, t: TransformOptions): Promise<FastifyReply> {
  const meta = o.metadata as unknown as ObjectMetadata;
  const mime = String(meta.mimetype ?? '').split(';')[0].trim().toLowerCase();
  const requested = requestedFormat(t, typeof req.headers.accept === 'string' ? req.headers.accept : undefined);
  // The representation is fixed by the bytes (the object's ETag), the transformation and the requested format.
  const variant = createHash('sha1').update(`${transformationsString(t)}|${requested}`).digest('hex').slice(0, 12);
  const etag = `"${String(meta.eTag).replace(/"/g, '')}-${variant}"`;
  const cacheHeaders = () => reply.header('etag', etag).header('cache-control', meta.cacheControl).header('last-modified', meta.lastModified).header('vary', 'Accept');
  if (req.headers['if-none-match'] === etag) return cacheHeaders().code(304).send();

  const blob = await objects.readBlob(o);
  const bytes = Buffer.isBuffer(blob) ? blob : Buffer.concat(await blob.toArray());
  const { data, format } = await transformImage(bytes, t, requested, mime);
  const download = downloadParam(req.query);
  if (download !== undefined) reply.header('content-disposition', contentDisposition(download || `${path.posix.parse(o.name).name}.${format === 'jpeg' ? 'jpg' : format}`));
  const applied = transformationsHeader(t);
  if (applied) reply.header('x-transformations', applied);
  cacheHeaders().header('content-type', FORMAT_MIME[format]).header('content-length', data.length);
  return reply.send(data);
}
