/**
 * The storage service: buckets and objects over HTTP as @supabase/storage-js speaks it
 * (protocols.md §3), every object access decided by RLS on storage.objects as the caller.
 * Bytes stream through the filesystem backend; a row and its blob appear together or not at all.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SignJWT, jwtVerify } from 'jose';
import type pg from 'pg';
import { withRequestContext } from '../db/request-context.ts';
import { bearerToken, createJwtVerifier, type JwtClaims } from '../gateway/jwt.ts';
import type { Service, ServiceContext } from '../gateway/service.ts';
import { createServiceApp } from '../services/fastify.ts';
import { STORAGE_ERRORS, StorageError, sendStorageError } from './errors.ts';
import { FsBackend, SizeLimitExceeded } from './fs-backend.ts';

const BUCKET_NAME = /^[A-Za-z0-9_!.*'() &$=@;:+,?-]{1,100}$/;
const OBJECT_KEY = /^[A-Za-z0-9_/!.*'() &$=@;:+,?-]+$/;
const MAX_UPLOAD_BYTES = 50 * 1024 * 1024 * 1024;

interface BucketRow {
  id: string;
  name: string;
  owner: string | null;
  public: boolean;
  file_size_limit: string | null;
  allowed_mime_types: string[] | null;
  created_at: Date;
  updated_at: Date;
}

interface ObjectRow {
  id: string;
  bucket_id: string;
  name: string;
  owner: string | null;
  owner_id: string | null;
  version: string;
  metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
  last_accessed_at: Date;
}

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

function checkKey(key: string): string {
  const clean = key.replace(/\/+/g, '/').replace(/^\/|\/$/g, '');
  if (!clean || !OBJECT_KEY.test(clean) || clean.split('/').some((s) => s === '.' || s === '..')) throw STORAGE_ERRORS.invalidKey(key);
  return clean;
}

function checkBucketName(name: unknown): string {
  if (typeof name !== 'string' || !BUCKET_NAME.test(name)) throw STORAGE_ERRORS.invalidBucketName();
  return name;
}

const blobKey = (o: { bucket_id: string; name: string; version: string }) => path.posix.join(encodeURIComponent(o.bucket_id), ...o.name.split('/').map(encodeURIComponent), `@${o.version}`);

export async function createStorageService(ctx: ServiceContext): Promise<Service> {
  const { config, pools } = ctx;
  const verifier = createJwtVerifier(config.jwtSecret, config.jwks);
  const backend = new FsBackend(path.join(config.dataDir, 'storage'));
  const signingKey = new TextEncoder().encode(config.jwtSecret);
  const app = createServiceApp({ name: 'storage', log: ctx.log, logRequests: !ctx.embedded });

  async function claimsOf(req: FastifyRequest, allowInvalid = false): Promise<JwtClaims> {
    const token = bearerToken(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined);
    if (!token) return { role: 'anon' };
    try {
      return await verifier.verify(token);
    } catch (err) {
      if (allowInvalid) return { role: 'anon' };
      throw STORAGE_ERRORS.accessDenied((err as Error).message);
    }
  }

  const asCaller = <T>(claims: JwtClaims, req: FastifyRequest, fn: (c: pg.PoolClient) => Promise<T>) =>
    withRequestContext(pools.request, claims, fn, { request: { method: req.method, path: req.url.split('?')[0] } });

  async function bucket(id: string): Promise<BucketRow> {
    const { rows } = await pools.admin.query<BucketRow>(`select * from storage.buckets where id = $1`, [id]);
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
  const wildcard = (req: FastifyRequest) => decodeURIComponent((req.params as Record<string, string>)['*'] ?? '');
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
    const sub = typeof claims.sub === 'string' ? claims.sub : null;
    await asCaller(claims, req, (c) =>
      c.query(
        `insert into storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types)
         values ($1, $2, case when $3 ~ '^[0-9a-f-]{36}$' then $3::uuid end, $3, $4, $5, $6)`,
        [id, typeof b.name === 'string' ? b.name : id, sub, b.public === true, parseSize(b.file_size_limit), b.allowed_mime_types ?? null],
      ),
    ).catch((err) => {
      throw (err as { code?: string }).code === '23505' ? STORAGE_ERRORS.bucketExists() : err;
    });
    return { name: id };
  }));
  app.put('/bucket/:id', route(async (req) => {
    const claims = await claimsOf(req);
    const b = bodyOf(req);
    const { rowCount } = await asCaller(claims, req, (c) =>
      c.query(
        `update storage.buckets set public = coalesce($2, public), file_size_limit = $3, allowed_mime_types = $4, updated_at = now() where id = $1`,
        [param(req, 'id'), typeof b.public === 'boolean' ? b.public : null, parseSize(b.file_size_limit), b.allowed_mime_types ?? null],
      ),
    );
    if (!rowCount) throw STORAGE_ERRORS.noSuchBucket();
    return { message: 'Successfully updated' };
  }));
  app.post('/bucket/:id/empty', route(async (req) => {
    const claims = await claimsOf(req);
    await bucket(param(req, 'id'));
    const removed = await asCaller(claims, req, async (c) => (await c.query<ObjectRow>(`delete from storage.objects where bucket_id = $1 returning *`, [param(req, 'id')])).rows);
    await Promise.all(removed.map((o) => backend.remove(blobKey(o))));
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

  async function upload(req: FastifyRequest, upsert: boolean) {
    const claims = await claimsOf(req);
    const bucketId = param(req, 'bucket');
    const name = checkKey(wildcard(req));
    const b = await bucket(bucketId);
    const limit = Math.min(MAX_UPLOAD_BYTES, b.file_size_limit === null ? Infinity : Number(b.file_size_limit));
    let stream: Readable;
    let mimetype: string;
    let cacheControl = 'no-cache';
    let userMetadata: Record<string, unknown> | null = null;
    if (req.isMultipart()) {
      const file = await req.file();
      if (!file) throw STORAGE_ERRORS.invalidRequest('No content provided');
      const field = (n: string) => {
        const f = file.fields[n] as { value?: unknown } | undefined;
        return typeof f?.value === 'string' ? f.value : undefined;
      };
      if (field('cacheControl')) cacheControl = `max-age=${field('cacheControl')}`;
      const meta = field('metadata') ?? field('userMetadata');
      if (meta) userMetadata = JSON.parse(meta);
      mimetype = field('contentType') ?? file.mimetype;
      stream = file.file;
    } else {
      if (!req.body || typeof (req.body as Readable).pipe !== 'function') throw STORAGE_ERRORS.invalidRequest('No content provided');
      stream = req.body as Readable;
      mimetype = String(req.headers['content-type'] ?? 'application/octet-stream');
      if (req.headers['cache-control']) cacheControl = String(req.headers['cache-control']);
      if (req.headers['x-metadata']) userMetadata = JSON.parse(Buffer.from(String(req.headers['x-metadata']), 'base64').toString('utf8'));
    }
    if (!mimeAllowed(mimetype, b.allowed_mime_types)) throw STORAGE_ERRORS.mimeType(mimetype);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (!req.isMultipart() && declared > limit) throw STORAGE_ERRORS.tooLarge();

    let staged;
    try {
      staged = await backend.stage(stream, limit);
    } catch (err) {
      if (err instanceof SizeLimitExceeded || (stream as { truncated?: boolean }).truncated) throw STORAGE_ERRORS.tooLarge();
      throw err;
    }
    if ((stream as { truncated?: boolean }).truncated) {
      await staged.discard();
      throw STORAGE_ERRORS.tooLarge();
    }
    const version = randomUUID();
    const metadata = {
      eTag: staged.etag,
      size: staged.size,
      mimetype,
      cacheControl,
      lastModified: new Date().toUTCString(),
      contentLength: staged.size,
      httpStatusCode: 200,
    };
    const sub = typeof claims.sub === 'string' ? claims.sub : null;
    let previous: ObjectRow | undefined;
    let row: ObjectRow;
    try {
      row = await asCaller(claims, req, async (c) => {
        if (upsert) {
          previous = (await c.query<ObjectRow>(`select * from storage.objects where bucket_id = $1 and name = $2`, [bucketId, name])).rows[0];
        }
        const sql = `insert into storage.objects (bucket_id, name, owner, owner_id, version, metadata, user_metadata)
          values ($1, $2, case when $3 ~ '^[0-9a-f-]{36}$' then $3::uuid end, $3, $4, $5, $6)
          ${upsert ? `on conflict (bucket_id, name) do update set owner = excluded.owner, owner_id = excluded.owner_id, version = excluded.version,
             metadata = excluded.metadata, user_metadata = excluded.user_metadata, updated_at = now()` : ''}
          returning *`;
        const r = (await c.query<ObjectRow>(sql, [bucketId, name, sub, version, metadata, userMetadata])).rows[0];
        await staged.commit(blobKey(r)); // inside the transaction: a failed commit leaves no row
        return r;
      });
    } catch (err) {
      await staged.discard();
      await backend.remove(blobKey({ bucket_id: bucketId, name, version })).catch(() => undefined);
      throw (err as { code?: string }).code === '23505' ? STORAGE_ERRORS.keyExists() : err;
    }
    if (previous && previous.version !== row.version) await backend.remove(blobKey(previous)).catch(() => undefined);
    return { Id: row.id, Key: `${bucketId}/${name}` };
  }

  // Uploads get their own parsers: multipart streamed by busboy, any other body handed over as
  // the raw request stream (never buffered, whatever its content type).
  await app.register(async (uploads) => {
    uploads.removeAllContentTypeParsers();
    await uploads.register(multipart, { limits: { fileSize: MAX_UPLOAD_BYTES, files: 1 } });
    uploads.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
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
    reply
      .header('content-type', meta.mimetype)
      .header('cache-control', meta.cacheControl)
      .header('etag', meta.eTag)
      .header('last-modified', meta.lastModified)
      .header('accept-ranges', 'bytes');
    const download = (req.query as Record<string, string>).download;
    if (download !== undefined) {
      const filename = download || path.posix.basename(o.name);
      reply.header('content-disposition', `attachment; filename="${filename.replace(/"/g, '')}"; filename*=UTF-8''${encodeURIComponent(filename)}`);
    }
    if (req.headers['if-none-match'] === meta.eTag) return reply.code(304).send();
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range && size > 0) {
      let start = range[1] === '' ? size - Number(range[2]) : Number(range[1]);
      let end = range[1] === '' || range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
      start = Math.max(0, start);
      if (start > end || start >= size) return reply.code(416).header('content-range', `bytes */${size}`).send();
      end = Math.max(end, start);
      reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`).header('content-length', end - start + 1);
      return reply.send(req.method === 'HEAD' ? undefined : await backend.read(blobKey(o), { start, end }));
    }
    reply.header('content-length', size);
    return reply.send(req.method === 'HEAD' ? undefined : await backend.read(blobKey(o)));
  }

  for (const [prefix, mode] of [['/object/public', 'public'], ['/object/authenticated', 'authenticated']] as const) {
    app.get(`${prefix}/:bucket/*`, route(async (req, reply) => sendObject(req, reply, await visibleObject(req, param(req, 'bucket'), checkKey(wildcard(req)), mode))));
  }
  app.get('/object/info/:bucket/*', route(async (req) => {
    const o = await visibleObject(req, param(req, 'bucket'), checkKey(wildcard(req)), 'default');
    const m = o.metadata as { size: number; mimetype: string; cacheControl: string; eTag: string; lastModified: string };
    return {
      id: o.id, name: o.name, version: o.version, bucket_id: o.bucket_id, size: m.size, content_type: m.mimetype,
      cache_control: m.cacheControl, etag: m.eTag, metadata: o.user_metadata ?? {}, last_modified: o.updated_at.toISOString(), created_at: o.created_at.toISOString(),
    };
  }));
  app.get('/object/:bucket/*', route(async (req, reply) => sendObject(req, reply, await visibleObject(req, param(req, 'bucket'), checkKey(wildcard(req)), 'default'))));

  // ------------------------------------------------------------------------- list, remove

  app.post('/object/list/:bucket', route(async (req) => {
    const claims = await claimsOf(req);
    const bucketId = param(req, 'bucket');
    await bucket(bucketId);
    const b = bodyOf(req);
    const rawPrefix = typeof b.prefix === 'string' ? b.prefix.replace(/^\/+|\/+$/g, '') : '';
    const prefix = rawPrefix ? `${rawPrefix}/` : '';
    const limit = Math.min(Math.max(Number(b.limit) || 100, 1), 1500);
    const offset = Math.max(Number(b.offset) || 0, 0);
    const sortBy = (b.sortBy ?? {}) as { column?: string; order?: string };
    const column = ['name', 'updated_at', 'created_at', 'last_accessed_at'].includes(String(sortBy.column)) ? String(sortBy.column) : 'name';
    const order = String(sortBy.order).toLowerCase() === 'desc' ? 'desc' : 'asc';
    const search = typeof b.search === 'string' ? b.search : '';
    const rows = await asCaller(claims, req, async (c) =>
      (
        await c.query(
          `with o as (
             select *, substr(name, length($2) + 1) as rest from storage.objects
             where bucket_id = $1 and starts_with(name, $2)
           ), entries as (
             select distinct split_part(rest, '/', 1) as name, null::uuid as id, null::timestamptz as updated_at, null::timestamptz as created_at,
                    null::timestamptz as last_accessed_at, null::jsonb as metadata
             from o where position('/' in rest) > 0
             union all
             select rest, id, updated_at, created_at, last_accessed_at, metadata from o where position('/' in rest) = 0
           )
           select * from entries where starts_with(lower(name), lower($3))
           order by ${column === 'name' ? 'name' : `${column} nulls first, name`} ${order}
           limit $4 offset $5`,
          [bucketId, prefix, search, limit, offset],
        )
      ).rows,
    );
    return rows;
  }));

  app.delete('/object/:bucket', route(async (req) => {
    const claims = await claimsOf(req);
    const bucketId = param(req, 'bucket');
    const prefixes = bodyOf(req).prefixes;
    if (!Array.isArray(prefixes) || prefixes.length === 0) throw STORAGE_ERRORS.invalidRequest('prefixes must be a non-empty array');
    const names = prefixes.map((p) => String(p).replace(/^\/+/, ''));
    const removed = await asCaller(claims, req, async (c) =>
      (await c.query<ObjectRow>(`delete from storage.objects where bucket_id = $1 and name = any($2) returning *`, [bucketId, names])).rows,
    );
    await Promise.all(removed.map((o) => backend.remove(blobKey(o))));
    return removed.map((o) => ({ ...o, updated_at: o.updated_at.toISOString(), created_at: o.created_at.toISOString(), last_accessed_at: o.last_accessed_at.toISOString() }));
  }));

  // ------------------------------------------------------------------------- signed URLs

  app.post('/object/sign/:bucket/*', route(async (req) => {
    const bucketId = param(req, 'bucket');
    const name = checkKey(wildcard(req));
    await visibleObject(req, bucketId, name, 'authenticated');
    const expiresIn = Number(bodyOf(req).expiresIn);
    if (!Number.isInteger(expiresIn) || expiresIn < 1) throw STORAGE_ERRORS.invalidRequest('expiresIn must be a positive integer');
    const url = `${bucketId}/${name}`;
    const token = await new SignJWT({ url }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn).sign(signingKey);
    return { signedURL: `/object/sign/${url}?token=${token}` };
  }));
  app.get('/object/sign/:bucket/*', route(async (req, reply) => {
    const bucketId = param(req, 'bucket');
    const name = checkKey(wildcard(req));
    const token = (req.query as Record<string, string>).token;
    let url: unknown;
    try {
      ({ payload: { url } } = await jwtVerify(token ?? '', signingKey, { algorithms: ['HS256'] }));
    } catch (err) {
      throw (err as { code?: string }).code === 'ERR_JWT_EXPIRED' ? STORAGE_ERRORS.expiredToken() : STORAGE_ERRORS.invalidSignature();
    }
    if (url !== `${bucketId}/${name}`) throw STORAGE_ERRORS.invalidSignature();
    return sendObject(req, reply, await visibleObject(req, bucketId, name, 'signed'));
  }));

  app.post('/object/move', route(async () => Promise.reject(new StorageError(501, 'NotImplemented', 'not_implemented', 'move is not implemented yet', 501))));
  app.post('/object/copy', route(async () => Promise.reject(new StorageError(501, 'NotImplemented', 'not_implemented', 'copy is not implemented yet', 501))));
  app.get('/health', async () => ({ status: 'up' }));
  app.setNotFoundHandler((_req, reply) =>
    reply.code(501).send({ statusCode: '501', code: 'NotImplemented', error: 'not_implemented', message: 'This storage endpoint is not implemented yet in this build of NextMavens Stack' }),
  );

  await app.ready();
  return {
    name: 'storage',
    handle: (req, res) => app.routing(req, res),
    async health() {
      await pools.admin.query('select 1 from storage.buckets limit 1');
      return { status: 'up' };
    },
    close: () => app.close(),
  };
}
