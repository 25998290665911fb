/**
 * The storage service: buckets and objects over HTTP as @supabase/storage-js speaks it
 * (protocols.md §3), every object access decided by RLS on storage.objects as the caller.
 * Bytes stream through the configured backend (backend/index.ts: fs or s3); a row and its blob appear
 * together or not at all, and a periodic cleanup (cleanup.ts) collects whatever a crash leaves.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { PassThrough, finished, type Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { withRequestContext } from '../db/request-context.ts';
import { createJwtVerifier, type JwtClaims } from '../gateway/jwt.ts';
import { verifyRequest } from '../gateway/verify.ts';
import type { Service, ServiceContext } from '../gateway/service.ts';
import { createServiceApp } from '../services/fastify.ts';
import { STORAGE_ERRORS, StorageError, sendStorageError } from './errors.ts';
import { BlobNotFound, SizeLimitExceeded, blobKey, createBackend } from './backend/index.ts';
import { startCleanupJob } from './cleanup.ts';
import { registerList } from './list.ts';
import { registerMoveCopy } from './move-copy.ts';
import type { BucketRow, ObjectRow, RequestLike, StorageCore, StoreInput, UploadBody } from './core.ts';
import { registerSignedUpload } from './signed-upload.ts';
import { registerSimpleRoutes } from './simple-routes.ts';
import { signObjectToken, verifyObjectToken } from './tokens.ts';
import { parseTransform, registerTransforms, transformationsString } from './transform.ts';
import { registerTus } from './tus.ts';
import { checkBucketId, checkBucketName, checkKey, checkNameField, contentDisposition, downloadParam, keyParam } from './names.ts';
import { releaseUnreadBody } from './release-body.ts';

const MAX_UPLOAD_BYTES = 50 * 1024 * 1024 * 1024;
/** Most paths one remove or createSignedUrls request may name (supabase/storage MAX_OBJECTS_PER_REQUEST). */
const MAX_OBJECTS_PER_REQUEST = 1000;
const MIME_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/(\*|[A-Za-z0-9!#$&^_.+-]+)$/;


function bucketJson(b: BucketRow) {
  return {
    id: b.id,
    name: b.name,
    owner: b.owner ?? '',
    public: b.public,
    type: 'STANDARD',
    file_size_limit: b.file_size_limit === null ? null : Number(b.file_size_limit),
    allowed_mime_types: b.allowed_mime_types,
    created_at: b.created_at.toISOString(),
    updated_at: b.updated_at.toISOString(),
  };
}

/** "20MB", "1.5GB", 1024 or null → bytes (decimal units, as supabase/storage). */
export function parseSize(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?$/i.exec(String(v));
  if (!m) throw STORAGE_ERRORS.invalidRequest(`Invalid file size limit: ${v}`);
  const unit: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };
  return Math.floor(Number(m[1]) * unit[(m[2] ?? 'B').toUpperCase()]);
}

function mimeAllowed(mime: string, allowed: string[] | null): boolean {
  if (!allowed || allowed.length === 0) return true;
  const base = mime.split(';')[0].trim().toLowerCase();
  return allowed.some((a) => {
    const rule = a.toLowerCase();
    return rule.endsWith('/*') ? base.startsWith(rule.slice(0, -1)) : base === rule;
  });
}

/** `allowed_mime_types` from a bucket request: undefined (absent), null, or a list of `type/subtype` / `type/*`. */
function parseMimeTypes(v: unknown): string[] | null | undefined {
  if (v === undefined || v === null) return v;
  if (!Array.isArray(v) || v.some((m) => typeof m !== 'string' || !MIME_TYPE.test(m))) throw STORAGE_ERRORS.invalidRequest('allowed_mime_types must be a list of MIME types such as image/png or image/*');
  return v as string[];
}

function parsePublic(v: unknown): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw STORAGE_ERRORS.invalidRequest('public must be a boolean');
  return v;
}

export async function createStorageService(ctx: ServiceContext): Promise<Service> {
  const { config, pools } = ctx;
  const verifier = createJwtVerifier(config.jwtSecret, config.jwks);
  const backend = await createBackend(config);
  const dropBlobs = (keys: string[]) =>
    keys.length ? backend.delete(keys).catch((err) => ctx.log.warn({ err, keys }, 'storage: could not delete blobs (cleanup will)')) : undefined;
  const signingKey = new TextEncoder().encode(config.jwtSecret);
  const app = createServiceApp({
    name: 'storage',
    log: ctx.log,
    logRequests: !ctx.embedded,
    trustProxy: ctx.config.trustProxy,
    // A path that does not decode (bad percent-encoding) is an invalid key, in storage's shape.
    frameworkErrors: (err, _req, reply) => sendStorageError(reply, err.code === 'FST_ERR_BAD_URL' ? STORAGE_ERRORS.invalidKey(err.message) : err),
  });
  // Errors raised before a handler runs (a body that is not JSON, …): storage's shape, never a stack.
  app.setErrorHandler((err, _req, reply) => sendStorageError(reply, err));
  // A refused request's unread body must not stall the client's next request (release-body.ts).
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode >= 400) releaseUnreadBody(req.raw, reply.raw);
    return payload;
  });
  // Bucket ids in the path are checked before any handler (NUL cannot reach Postgres; control characters are never an id).
  app.addHook('preHandler', async (req) => {
    const params = req.params as Record<string, unknown> | undefined;
    if (params?.bucket !== undefined) checkBucketId(params.bucket);
    if (params?.id !== undefined) checkBucketId(params.id);
  });

  /**
   * The caller, as the edge decides it for every service (gateway/verify.ts): the Bearer token,
   * else the API key (header or `?apikey=`), each a valid JWT whose role is an API role. A
   * request with neither, a bad token or another role (postgres, a role that does not exist)
   * is AccessDenied — or, where `allowInvalid` (object reads), the anonymous caller.
   */
  async function claimsOf(req: RequestLike, allowInvalid = false): Promise<JwtClaims> {
    const result = await verifyRequest(verifier, req.headers, req.url);
    if (result.ok) return result.identity.claims;
    if (allowInvalid) return { role: 'anon' };
    throw STORAGE_ERRORS.accessDenied(String(result.body.message ?? 'Invalid JWT'));
  }

  const asCaller = <T>(claims: JwtClaims, req: RequestLike, fn: (c: pg.PoolClient) => Promise<T>, rollback = false) =>
    withRequestContext(pools.request, claims, fn, { request: { method: req.method, path: (req.url ?? '').split('?')[0] }, rollback });

  async function bucket(id: string): Promise<BucketRow> {
    const { rows } = await pools.admin.query<BucketRow>(`select * from storage.buckets where id = $1`, [checkBucketId(id)]);
    if (!rows[0]) throw STORAGE_ERRORS.noSuchBucket();
    return rows[0];
  }

  const route = (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      const result = await fn(req, reply);
      return reply.sent ? reply : reply.send(result);
    } catch (err) {
      return sendStorageError(reply, err);
    }
  };
  const wildcard = (req: FastifyRequest) => keyParam(req.params);
  const param = (req: FastifyRequest, name: string) => (req.params as Record<string, string>)[name];
  const bodyOf = (req: FastifyRequest) => (req.body && typeof req.body === 'object' && !('pipe' in (req.body as object)) ? (req.body as Record<string, unknown>) : {});

  // ------------------------------------------------------------------------- buckets

  app.get('/bucket', route(async (req) => {
    const claims = await claimsOf(req);
    const rows = await asCaller(claims, req, async (c) => (await c.query<BucketRow>(`select * from storage.buckets order by name`)).rows);
    return rows.map(bucketJson);
  }));
  app.get('/bucket/:id', route(async (req) => {
    const claims = await claimsOf(req);
    const rows = await asCaller(claims, req, async (c) => (await c.query<BucketRow>(`select * from storage.buckets where id = $1`, [param(req, 'id')])).rows);
    if (!rows[0]) throw STORAGE_ERRORS.noSuchBucket();
    return bucketJson(rows[0]);
  }));
  app.post('/bucket', route(async (req) => {
    const claims = await claimsOf(req);
    const b = bodyOf(req);
    const id = checkBucketName(b.id ?? b.name);
    const name = b.name === undefined ? id : checkBucketName(b.name);
    const sub = typeof claims.sub === 'string' ? claims.sub : null;
    const values = [id, name, sub, parsePublic(b.public) ?? false, parseSize(b.file_size_limit), parseMimeTypes(b.allowed_mime_types) ?? null];
    await asCaller(claims, req, (c) =>
      c.query(
        `insert into storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types)
         values ($1, $2, case when $3 ~ '^[0-9a-f-]{36}$' then $3::uuid end, $3, $4, $5, $6)`,
        values,
      ),
    ).catch((err) => {
      throw (err as { code?: string }).code === '23505' ? STORAGE_ERRORS.bucketExists() : err;
    });
    return { name: id };
  }));
  app.put('/bucket/:id', route(async (req) => {
    const claims = await claimsOf(req);
    const b = bodyOf(req);
    // Only the settings the request names change (storage-js omits those it is not given), as in supabase/storage.
    const set: [string, unknown][] = [];
    const isPublic = parsePublic(b.public);
    if (isPublic !== undefined) set.push(['public', isPublic]);
    if (b.file_size_limit !== undefined) set.push(['file_size_limit', parseSize(b.file_size_limit)]);
    const mimeTypes = parseMimeTypes(b.allowed_mime_types);
    if (mimeTypes !== undefined) set.push(['allowed_mime_types', mimeTypes]);
    const assignments = set.map(([column], i) => `${column} = $${i + 2}`).concat('updated_at = now()').join(', ');
    const { rowCount } = await asCaller(claims, req, (c) =>
      c.query(`update storage.buckets set ${assignments} where id = $1`, [param(req, 'id'), ...set.map(([, v]) => v)]),
    );
    if (!rowCount) throw STORAGE_ERRORS.noSuchBucket();
    return { message: 'Successfully updated' };
  }));
  app.post('/bucket/:id/empty', route(async (req) => {
    const claims = await claimsOf(req);
    await bucket(param(req, 'id'));
    const removed = await asCaller(claims, req, async (c) => (await c.query<ObjectRow>(`delete from storage.objects where bucket_id = $1 returning *`, [param(req, 'id')])).rows);
    await dropBlobs(removed.map(blobKey));
    return { message: 'Successfully emptied' };
  }));
  app.delete('/bucket/:id', route(async (req) => {
    const claims = await claimsOf(req);
    const id = param(req, 'id');
    const { rows } = await pools.admin.query(`select 1 from storage.objects where bucket_id = $1 limit 1`, [id]);
    if (rows.length) throw STORAGE_ERRORS.bucketNotEmpty();
    const { rowCount } = await asCaller(claims, req, (c) => c.query(`delete from storage.buckets where id = $1`, [id]));
    if (!rowCount) throw STORAGE_ERRORS.noSuchBucket();
    return { message: 'Successfully deleted' };
  }));

  // ------------------------------------------------------------------------- upload

  // A plain insert has no RETURNING, which would need a SELECT policy too: uploading needs only
  // INSERT (an upsert needs INSERT, UPDATE and SELECT), as in supabase/storage.
  const objectInsert = (upsert: boolean) => `insert into storage.objects (id, bucket_id, name, owner, owner_id, version, metadata, user_metadata)
          values ($7, $1, $2, case when $3 ~ '^[0-9a-f-]{36}$' then $3::uuid end, $3, $4, $5, $6)
          ${upsert ? `on conflict (bucket_id, name) do update set owner = excluded.owner, owner_id = excluded.owner_id, version = excluded.version,
             metadata = excluded.metadata, user_metadata = excluded.user_metadata, updated_at = now() returning id` : ''}`;
  const subOf = (claims: JwtClaims) => (typeof claims.sub === 'string' ? claims.sub : null);
  const uploadLimit = (b: BucketRow) => Math.min(MAX_UPLOAD_BYTES, b.file_size_limit === null ? Infinity : Number(b.file_size_limit));
  const checkMime = (b: BucketRow, mimetype: string) => {
    if (!mimeAllowed(mimetype, b.allowed_mime_types)) throw STORAGE_ERRORS.mimeType(mimetype);
  };
  const jsonObject = (text: string, what: string): Record<string, unknown> => {
    try {
      const v = JSON.parse(text) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // reported below
    }
    throw STORAGE_ERRORS.invalidRequest(`${what} must be a JSON object`);
  };

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

  /** The bytes and attributes of an upload request: its multipart file part or its raw body stream. */
  async function uploadBody(req: FastifyRequest): Promise<UploadBody> {
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
      return { stream: file.file, mimetype: fields.contentType ?? file.mimetype, cacheControl, userMetadata, fields, filename: file.filename || undefined };
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
    };
  }

  /** Throws unless `claims` may insert (or upsert) the object: the insert runs as the caller and is rolled back. */
  async function canUpload(req: RequestLike, claims: JwtClaims, bucketId: string, name: string, upsert: boolean): Promise<void> {
    await asCaller(claims, req, (c) => c.query(objectInsert(upsert), [bucketId, name, subOf(claims), randomUUID(), {}, null, randomUUID()]), true).catch((err) => {
      throw (err as { code?: string }).code === '23505' ? STORAGE_ERRORS.keyExists() : err;
    });
  }

  /** The upload pipeline every way of writing goes through: limits, MIME, staged bytes committed with the row inserted as `claims`. */
  async function storeObject(req: RequestLike, claims: JwtClaims, { bucketId, name, upsert, body }: StoreInput): Promise<ObjectRow> {
    const { stream, mimetype, cacheControl, userMetadata } = body;
    const b = await bucket(bucketId);
    const limit = uploadLimit(b);
    // Refused here, the body is never read: the error answer releases it (release-body.ts).
    checkMime(b, mimetype);
    if ((body.declaredLength ?? 0) > limit) throw STORAGE_ERRORS.tooLarge();
    // RLS (and a duplicate key without upsert) decide before a byte is read, as in supabase/storage:
    // a caller who may not write here cannot make the server stream a body to the backend.
    await canUpload(req, claims, bucketId, name, upsert);

    const version = randomUUID();
    let staged;
    try {
      staged = await backend.stage(blobKey({ bucket_id: bucketId, name, version }), stream, { maxBytes: limit, contentType: mimetype, cacheControl });
    } catch (err) {
      if (err instanceof SizeLimitExceeded || (stream as { truncated?: boolean }).truncated) throw STORAGE_ERRORS.tooLarge();
      throw err;
    }
    if ((stream as { truncated?: boolean }).truncated) {
      await staged.abort();
      throw STORAGE_ERRORS.tooLarge();
    }
    const metadata = {
      eTag: staged.etag,
      size: staged.size,
      mimetype,
      cacheControl,
      lastModified: new Date().toUTCString(),
      contentLength: staged.size,
      httpStatusCode: 200,
    };
    const sub = subOf(claims);
    let previous: ObjectRow | undefined;
    let id: string = randomUUID();
    try {
      await asCaller(claims, req, async (c) => {
        if (upsert) {
          // Concurrent upserts of one key take turns, so each knows the version it replaces (and deletes its blob).
          await c.query(`select pg_advisory_xact_lock(hashtextextended($1, 0))`, [`storage.objects/${bucketId}/${name}`]);
          previous = (await c.query<ObjectRow>(`select * from storage.objects where bucket_id = $1 and name = $2`, [bucketId, name])).rows[0];
        }
        const r = await c.query<{ id: string }>(objectInsert(upsert), [bucketId, name, sub, version, metadata, userMetadata, id]);
        if (upsert) id = r.rows[0].id;
        await staged.commit(); // inside the transaction: a failed commit leaves no row
      });
    } catch (err) {
      await staged.abort().catch(() => undefined);
      await dropBlobs([staged.key]);
      throw (err as { code?: string }).code === '23505' ? STORAGE_ERRORS.keyExists() : err;
    }
    if (previous && previous.version !== version) await dropBlobs([blobKey(previous)]);
    // Read back as admin (a plain upload needs no SELECT policy): only the row this request wrote, by id and version.
    const { rows } = await pools.admin.query<ObjectRow>(`select * from storage.objects where id = $1 and version = $2`, [id, version]);
    return rows[0] ?? { id, bucket_id: bucketId, name, owner: null, owner_id: sub, version, metadata, user_metadata: userMetadata, created_at: new Date(), updated_at: new Date(), last_accessed_at: new Date() };
  }

  async function upload(req: FastifyRequest, upsert: boolean) {
    const claims = await claimsOf(req);
    const bucketId = param(req, 'bucket');
    const name = wildcard(req);
    await bucket(bucketId);
    const row = await storeObject(req, claims, { bucketId, name, upsert, body: await uploadBody(req) });
    return { Id: row.id, Key: `${bucketId}/${name}` };
  }

  /** Uploads get their own parsers: multipart streamed by busboy, any other body handed over as the raw request stream (never buffered, whatever its content type). */
  async function streamingScope(register: (scope: FastifyInstance) => void | Promise<void>): Promise<void> {
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      await scope.register(multipart, { limits: { fileSize: MAX_UPLOAD_BYTES, files: 1 } });
      scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
      await register(scope);
    });
  }
  await streamingScope((uploads) => {
    uploads.post('/object/:bucket/*', route((req) => upload(req, req.headers['x-upsert'] === 'true')));
    uploads.put('/object/:bucket/*', route((req) => upload(req, true)));
  });

  // ------------------------------------------------------------------------- read

  /** The object row as the caller may see it (public buckets: everyone; otherwise RLS). */
  async function visibleObject(req: FastifyRequest, bucketId: string, name: string, mode: 'default' | 'public' | 'authenticated' | 'signed'): Promise<ObjectRow> {
    const b = await bucket(bucketId);
    if (mode === 'public' && !b.public) throw STORAGE_ERRORS.noSuchBucket();
    let rows: ObjectRow[];
    if ((b.public && mode !== 'authenticated') || mode === 'signed') {
      rows = (await pools.admin.query<ObjectRow>(`select * from storage.objects where bucket_id = $1 and name = $2`, [bucketId, name])).rows;
    } else {
      const claims = await claimsOf(req, mode === 'default');
      rows = await asCaller(claims, req, async (c) => (await c.query<ObjectRow>(`select * from storage.objects where bucket_id = $1 and name = $2`, [bucketId, name])).rows);
    }
    if (!rows[0]) throw STORAGE_ERRORS.noSuchKey();
    return rows[0];
  }

  async function sendObject(req: FastifyRequest, reply: FastifyReply, o: ObjectRow) {
    const meta = o.metadata as { size: number; mimetype: string; cacheControl: string; eTag: string; lastModified: string };
    const size = meta.size;
    const open = async (range?: { start: number; end: number }) => {
      if (req.method === 'HEAD') return undefined;
      try {
        return await backend.get(blobKey(o), range);
      } catch (err) {
        if (!(err instanceof BlobNotFound)) throw err;
        req.log.warn({ key: blobKey(o) }, 'storage: object row without its blob');
        for (const h of ['content-type', 'cache-control', 'etag', 'last-modified', 'accept-ranges', 'content-disposition', 'content-range', 'content-length']) reply.removeHeader(h);
        throw STORAGE_ERRORS.noSuchKey();
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
      return reply.send(await open({ start, end }));
    }
    reply.header('content-length', size);
    return reply.send(await open());
  }

  for (const [prefix, mode] of [['/object/public', 'public'], ['/object/authenticated', 'authenticated']] as const) {
    app.get(`${prefix}/:bucket/*`, route(async (req, reply) => sendObject(req, reply, await visibleObject(req, param(req, 'bucket'), wildcard(req), mode))));
  }
  app.get('/object/info/:bucket/*', route(async (req) => {
    const o = await visibleObject(req, param(req, 'bucket'), wildcard(req), 'default');
    const m = o.metadata as { size: number; mimetype: string; cacheControl: string; eTag: string; lastModified: string };
    return {
      id: o.id, name: o.name, version: o.version, bucket_id: o.bucket_id, size: m.size, content_type: m.mimetype,
      cache_control: m.cacheControl, etag: m.eTag, metadata: o.user_metadata ?? {}, last_modified: o.updated_at.toISOString(), created_at: o.created_at.toISOString(),
    };
  }));
  app.get('/object/:bucket/*', route(async (req, reply) => sendObject(req, reply, await visibleObject(req, param(req, 'bucket'), wildcard(req), 'default'))));

  // ------------------------------------------------------------------------- remove (listing: list.ts)

  app.delete('/object/:bucket', route(async (req) => {
    const claims = await claimsOf(req);
    const bucketId = param(req, 'bucket');
    const prefixes = bodyOf(req).prefixes;
    if (!Array.isArray(prefixes) || prefixes.length === 0 || prefixes.some((p) => typeof p !== 'string')) throw STORAGE_ERRORS.invalidRequest('prefixes must be a non-empty array of paths');
    if (prefixes.length > MAX_OBJECTS_PER_REQUEST) throw STORAGE_ERRORS.invalidRequest(`At most ${MAX_OBJECTS_PER_REQUEST} objects can be deleted per request`);
    const names = (prefixes as string[]).map((p) => checkNameField(p, 'prefixes').replace(/^\/+/, ''));
    const removed = await asCaller(claims, req, async (c) =>
      (await c.query<ObjectRow>(`delete from storage.objects where bucket_id = $1 and name = any($2) returning *`, [bucketId, names])).rows,
    );
    await dropBlobs(removed.map(blobKey));
    return removed.map((o) => ({ ...o, updated_at: o.updated_at.toISOString(), created_at: o.created_at.toISOString(), last_accessed_at: o.last_accessed_at.toISOString() }));
  }));

  // ------------------------------------------------------------------------- signed URLs

  app.post('/object/sign/:bucket/*', route(async (req) => {
    const bucketId = param(req, 'bucket');
    const name = wildcard(req);
    await visibleObject(req, bucketId, name, 'authenticated');
    const expiresIn = Number(bodyOf(req).expiresIn);
    if (!Number.isInteger(expiresIn) || expiresIn < 1) throw STORAGE_ERRORS.invalidRequest('expiresIn must be a positive integer');
    const url = `${bucketId}/${name}`;
    const transformations = transformationsString(parseTransform(bodyOf(req).transform)); // createSignedUrl(…, {transform})
    const token = await signObjectToken(signingKey, { url, scope: 'download', ...(transformations ? { transformations } : {}) }, expiresIn);
    return { signedURL: `${transformations ? '/render/image/sign' : '/object/sign'}/${url}?token=${token}` };
  }));
  // createSignedUrls: one token per path the caller may read (one RLS SELECT for all), an error entry for the others.
  app.post('/object/sign/:bucket', route(async (req) => {
    const claims = await claimsOf(req);
    const bucketId = param(req, 'bucket');
    const b = bodyOf(req);
    const expiresIn = Number(b.expiresIn);
    if (!Number.isInteger(expiresIn) || expiresIn < 1) throw STORAGE_ERRORS.invalidRequest('expiresIn must be a positive integer');
    const paths = b.paths;
    if (!Array.isArray(paths) || paths.length === 0 || paths.some((p) => typeof p !== 'string')) throw STORAGE_ERRORS.invalidRequest('paths must be a non-empty array of strings');
    if (paths.length > MAX_OBJECTS_PER_REQUEST) throw STORAGE_ERRORS.invalidRequest(`At most ${MAX_OBJECTS_PER_REQUEST} paths can be signed per request`);
    for (const p of paths) checkNameField(p, 'paths');
    await bucket(bucketId);
    const visible = new Set(
      await asCaller(claims, req, async (c) =>
        (await c.query<{ name: string }>(`select name from storage.objects where bucket_id = $1 and name = any($2::text[])`, [bucketId, paths])).rows.map((r) => r.name),
      ),
    );
    return Promise.all(
      (paths as string[]).map(async (p) => {
        if (!visible.has(p)) return { error: 'Either the object does not exist or you do not have access to it', path: p, signedURL: null };
        const url = `${bucketId}/${p}`;
        const token = await signObjectToken(signingKey, { url, scope: 'download' }, expiresIn);
        return { error: null, path: p, signedURL: `/object/sign/${url}?token=${token}` };
      }),
    );
  }));
  app.get('/object/sign/:bucket/*', route(async (req, reply) => {
    const bucketId = param(req, 'bucket');
    const name = wildcard(req);
    await verifyObjectToken(signingKey, (req.query as Record<string, string | undefined>).token, `${bucketId}/${name}`, 'download');
    return sendObject(req, reply, await visibleObject(req, bucketId, name, 'signed'));
  }));

  registerMoveCopy(app, { pools, backend, log: ctx.log, claimsOf, asCaller, bucket, checkKey, mimeAllowed, route });

  // Signed uploads, image transforms, TUS and the short /storage routes share the pipeline above.
  const core: StorageCore = {
    config, pools, signingKey, claimsOf, asCaller, bucket, uploadLimit, checkMime, checkKey, uploadBody, canUpload, storeObject, visibleObject, sendObject, route, streamingScope,
    async readBlob(o) {
      try {
        return await backend.get(blobKey(o));
      } catch (err) {
        throw err instanceof BlobNotFound ? STORAGE_ERRORS.noSuchKey() : err;
      }
    },
    removeBlobs: async (rows) => void (await dropBlobs(rows.map(blobKey))),
  };
  registerList(app, core);
  await registerSignedUpload(app, core);
  await registerTransforms(app, core);
  await registerTus(app, core);
  await registerSimpleRoutes(app, core);
  app.get('/health', async () => ({ status: 'up' }));
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ statusCode: '404', code: 'NotFound', error: 'Not Found', message: `Route ${req.method}:${req.url.split('?')[0]} not found` }),
  );

  await app.ready();
  const cleanup = startCleanupJob(backend, pools.admin, config.storage.cleanupInterval, ctx.log);
  return {
    name: 'storage',
    handle: (req, res) => app.routing(req, res),
    async health() {
      await pools.admin.query('select 1 from storage.buckets limit 1');
      return { status: 'up' };
    },
    async close() {
      await cleanup.stop();
      await app.close();
      backend.close?.();
    },
  };
}
