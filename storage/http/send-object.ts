/**
 * Sending an object's bytes (`GET /object/…`, signed and public downloads, the short
 * `GET /storage/:file_id`): its headers, `?download`, conditional GET (ETag), a single Range.
 */
import path from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { blobKey, type BlobRange } from '../backend/index.ts';
import type { ObjectRow } from '../db.ts';
import { StorageError } from '../errors.ts';
import { contentDisposition, downloadParam } from '../names.ts';
import type { ObjectMetadata, ObjectStorage } from '../object.ts';
import { counters } from '../../core/metrics.ts';

const OBJECT_HEADERS = ['content-type', 'cache-control', 'etag', 'last-modified', 'accept-ranges', 'content-disposition', 'content-range', 'content-length'];

export async function sendObject(objects: ObjectStorage, req: FastifyRequest, reply: FastifyReply, o: ObjectRow): Promise<FastifyReply> {
  const meta = o.metadata as unknown as ObjectMetadata;
  const size = meta.size;
  const open = async (range?: BlobRange) => {
    if (req.method === 'HEAD') return undefined;
    try {
      return await objects.readBlob(o, range);
    } catch (err) {
      if (err instanceof StorageError && err.code === 'NoSuchKey') {
        req.log.warn({ key: blobKey(o) }, 'storage: object row without its blob');
        for (const h of OBJECT_HEADERS) reply.removeHeader(h);
      }
      throw err;
    }
  };
  reply
    .header('content-type', meta.mimetype)
    .header('cache-control', meta.cacheControl)
    .header('etag', meta.eTag)
    .header('last-modified', meta.lastModified)
    .header('accept-ranges', 'bytes');
  const download = downloadParam(req.query);
  if (download !== undefined) reply.header('content-disposition', contentDisposition(download || path.posix.basename(o.name)));
  if (req.headers['if-none-match'] === meta.eTag) return reply.code(304).send();
  const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
  if (range && size > 0) {
    let start = range[1] === '' ? size - Number(range[2]) : Number(range[1]);
    let end = range[1] === '' || range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
    start = Math.max(0, start);
    if (start > end || start >= size) return reply.code(416).header('content-range', `bytes */${size}`).send();
    end = Math.max(end, start);
    reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`).header('content-length', end - start + 1);
    countSent(req, reply, end - start + 1);
    return reply.send(await open({ start, end }));
  }
  reply.header('content-length', size);
  countSent(req, reply, size);
  return reply.send(await open());
}

/**
 * A download's bytes in nextmavens_storage_bytes_out_total (core/metrics.ts) once its response
 * has been sent whole; the stream itself is left alone (no listener that could change its flow).
 */
function countSent(req: FastifyRequest, reply: FastifyReply, bytes: number): void {
  if (req.method !== 'HEAD') reply.raw.once('finish', () => counters.storageBytesOut.inc(bytes));
}
