/**
 * The bytes and attributes of an upload request (storage-js `upload`/`update`, signed uploads,
 * the short `POST /storage/upload`): its multipart file part (fields `cacheControl`,
 * `contentType`, `metadata` before it) or its raw body stream (`cache-control`, `content-type`,
 * `x-metadata` headers).
 */
import { PassThrough, finished, type Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { STORAGE_ERRORS } from '../errors.ts';
import type { UploadBody } from '../object.ts';

function jsonObject(text: string, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw STORAGE_ERRORS.invalidRequest(`${what} must be a JSON object`);
}

/**
 * The request body through a pass-through: a backend write that fails (size limit) destroys its
 * source, and that must not be the request itself (its socket still has to carry the answer).
 * A request cut short still fails the write (pipe alone would leave it waiting for ever).
 */
function detached(raw: Readable): Readable {
  const body = raw.pipe(new PassThrough());
  body.on('error', () => undefined); // reported to whoever reads it; unread (a refused upload), nobody is told
  finished(raw, (err) => {
    if (err) body.destroy(err);
  });
  return body;
}

/** The request's Content-Length, when it declares one (and no chunked body). */
function requestLength(req: FastifyRequest): number | undefined {
  const declared = req.headers['content-length'];
  if (declared === undefined || req.headers['transfer-encoding'] !== undefined) return undefined;
  const n = Number(declared);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export async function uploadBody(req: FastifyRequest): Promise<UploadBody> {
  let cacheControl = 'no-cache';
  let userMetadata: Record<string, unknown> | null = null;
  if (req.isMultipart()) {
    const file = await req.file();
    if (!file) throw STORAGE_ERRORS.invalidRequest('No content provided');
    const fields: Record<string, string> = {};
    for (const [n, f] of Object.entries(file.fields)) {
      const value = (f as { value?: unknown } | undefined)?.value;
      if (typeof value === 'string') fields[n] = value;
    }
    if (fields.cacheControl) cacheControl = `max-age=${fields.cacheControl}`;
    const meta = fields.metadata ?? fields.userMetadata;
    if (meta) userMetadata = jsonObject(meta, 'metadata');
    // The file part is smaller than the whole request.
    return { stream: file.file, mimetype: fields.contentType ?? file.mimetype, cacheControl, userMetadata, fields, filename: file.filename || undefined, boundedLength: requestLength(req) };
  }
  if (!req.body || typeof (req.body as Readable).pipe !== 'function') throw STORAGE_ERRORS.invalidRequest('No content provided');
  if (req.headers['cache-control']) cacheControl = String(req.headers['cache-control']);
  if (req.headers['x-metadata']) userMetadata = jsonObject(Buffer.from(String(req.headers['x-metadata']), 'base64').toString('utf8'), 'x-metadata');
  return {
    stream: detached(req.body as Readable),
    mimetype: String(req.headers['content-type'] ?? 'application/octet-stream'),
    cacheControl,
    userMetadata,
    declaredLength: Number(req.headers['content-length'] ?? 0),
    boundedLength: requestLength(req),
  };
}
