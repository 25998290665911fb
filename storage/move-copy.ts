/**
 * `POST /object/move` and `POST /object/copy` (storage-js `move(from, to, {destinationBucket})`,
 * `copy(from, to, {destinationBucket})`, protocols.md §3.4), RLS deciding as the caller:
 *
 * - move: `SELECT … FOR UPDATE` then `UPDATE` of the source row to its new bucket, name, owner and
 *   a new version, so the caller needs SELECT and UPDATE on the source and the UPDATE policy's
 *   WITH CHECK must accept the destination. The row keeps its id.
 * - copy: SELECT on the source, INSERT of the destination row (with `x-upsert: true`, an upsert:
 *   INSERT + UPDATE + SELECT), metadata copied unless `copyMetadata` is false.
 *
 * Bytes and rows change together: inside the caller's transaction the blob is copied to the new
 * version's key (a hard link on fs, a server-side copy on S3); a failure rolls the row back and
 * deletes the new blob, and only after the commit is the replaced blob (the move's source, an
 * upsert's previous destination) deleted — whatever a crash leaves behind, cleanup collects.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Pools } from '../db/pool.ts';
import type { JwtClaims } from '../gateway/jwt.ts';
import { BlobNotFound, blobKey, type StorageBackend } from './backend/index.ts';
import type { ObjectRow } from './core.ts';
import { STORAGE_ERRORS } from './errors.ts';


interface BucketLimits {
  file_size_limit: string | null;
  allowed_mime_types: string[] | null;
}

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** What move and copy need from the service. */
export interface MoveCopyDeps {
  pools: Pools;
  backend: StorageBackend;
  log: Logger;
  claimsOf(req: FastifyRequest): Promise<JwtClaims>;
  asCaller<T>(claims: JwtClaims, req: FastifyRequest, fn: (c: pg.PoolClient) => Promise<T>): Promise<T>;
  bucket(id: string): Promise<BucketLimits>;
  checkKey(key: string): string;
  mimeAllowed(mime: string, allowed: string[] | null): boolean;
  route(fn: Handler): Handler;
}

const OWNER = `case when $OWNER ~ '^[0-9a-f-]{36}$' then $OWNER::uuid end`;

function bodyOf(req: FastifyRequest): Record<string, unknown> {
  return req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
}

function requiredString(b: Record<string, unknown>, name: string): string {
  const v = b[name];
  if (typeof v !== 'string' || v === '') throw STORAGE_ERRORS.invalidRequest(`body must have required property '${name}'`);
  return v;
}

const rowJson = (o: ObjectRow) => ({
  ...o,
  created_at: o.created_at.toISOString(),
  updated_at: o.updated_at.toISOString(),
  last_accessed_at: o.last_accessed_at.toISOString(),
});

export function registerMoveCopy(app: FastifyInstance, deps: MoveCopyDeps): void {
  const { backend, log } = deps;
  const dropBlobs = (keys: string[]) =>
    backend.delete(keys).catch((err) => log.warn({ err, keys }, 'storage: could not delete blobs (cleanup will)'));

  /** Parses the body shared by move and copy; checks both keys and that both buckets exist. */
  async function target(req: FastifyRequest) {
    const b = bodyOf(req);
    const sourceBucket = requiredString(b, 'bucketId');
    const sourceKey = deps.checkKey(requiredString(b, 'sourceKey'));
    const destinationKey = deps.checkKey(requiredString(b, 'destinationKey'));
    const destinationBucket = typeof b.destinationBucket === 'string' && b.destinationBucket ? b.destinationBucket : sourceBucket;
    await deps.bucket(sourceBucket);
    const limits = await deps.bucket(destinationBucket);
    return { b, sourceBucket, sourceKey, destinationBucket, destinationKey, limits };
  }

  /** Runs `fn` as the caller; on any failure the blob written at `newKey()` (if any) is deleted. */
  async function consistent<T>(claims: JwtClaims, req: FastifyRequest, newKey: () => string | undefined, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    try {
      return await deps.asCaller(claims, req, fn);
    } catch (err) {
      const key = newKey();
      if (key) await dropBlobs([key]);
      if (err instanceof BlobNotFound) {
        log.warn({ err }, 'storage: object row without its blob');
        throw STORAGE_ERRORS.noSuchKey();
      }
      throw err;
    }
  }

  function checkLimits(limits: BucketLimits, source: ObjectRow) {
    const meta = (source.metadata ?? {}) as { size?: number; mimetype?: string };
    if (limits.file_size_limit !== null && (meta.size ?? 0) > Number(limits.file_size_limit)) throw STORAGE_ERRORS.tooLarge();
    if (meta.mimetype && !deps.mimeAllowed(meta.mimetype, limits.allowed_mime_types)) throw STORAGE_ERRORS.mimeType(meta.mimetype);
  }

  app.post('/object/move', deps.route(async (req) => {
    const claims = await deps.claimsOf(req);
    const t = await target(req);
    const sub = typeof claims.sub === 'string' ? claims.sub : null;
    const version = randomUUID();
    let written: string | undefined;
    const { source, moved } = await consistent(claims, req, () => written, async (c) => {
      // FOR UPDATE: the row must pass the SELECT and the UPDATE policies' USING.
      const source = (await c.query<ObjectRow>(`select * from storage.objects where bucket_id = $1 and name = $2 for update`, [t.sourceBucket, t.sourceKey])).rows[0];
      if (!source) throw STORAGE_ERRORS.noSuchKey();
      if (t.sourceBucket === t.destinationBucket && t.sourceKey === t.destinationKey) return { source, moved: source };
      if (t.sourceBucket !== t.destinationBucket) checkLimits(t.limits, source);
      const moved = (
        await c.query<ObjectRow>(
          `update storage.objects set bucket_id = $2, name = $3, version = $4,
             owner = coalesce(${OWNER.replaceAll('$OWNER', '$5')}, owner), owner_id = coalesce($5, owner_id), updated_at = now()
           where id = $1 returning *`,
          [source.id, t.destinationBucket, t.destinationKey, version, sub],
        )
      ).rows[0];
      if (!moved) throw STORAGE_ERRORS.noSuchKey();
      written = blobKey(moved);
      await backend.copy(blobKey(source), written);
      return { source, moved };
    });
    if (moved !== source) await dropBlobs([blobKey(source)]);
    return { message: 'Successfully moved', Id: moved.id, Key: moved.name };
  }));

  app.post('/object/copy', deps.route(async (req) => {
    const claims = await deps.claimsOf(req);
    const t = await target(req);
    const upsert = req.headers['x-upsert'] === 'true';
    const copyMetadata = t.b.copyMetadata !== false;
    const override = (t.b.metadata && typeof t.b.metadata === 'object' ? t.b.metadata : {}) as { cacheControl?: unknown; mimetype?: unknown };
    let headerMetadata: Record<string, unknown> | null = null;
    if (!copyMetadata && typeof req.headers['x-metadata'] === 'string') {
      try {
        headerMetadata = JSON.parse(Buffer.from(req.headers['x-metadata'], 'base64').toString('utf8'));
      } catch {
        throw STORAGE_ERRORS.invalidRequest('x-metadata must be base64-encoded JSON');
      }
    }
    const sub = typeof claims.sub === 'string' ? claims.sub : null;
    const version = randomUUID();
    let written: string | undefined;
    const newId = randomUUID();
    const { copiedId, previous } = await consistent(claims, req, () => written, async (c) => {
      const source = (await c.query<ObjectRow>(`select * from storage.objects where bucket_id = $1 and name = $2`, [t.sourceBucket, t.sourceKey])).rows[0];
      if (!source) throw STORAGE_ERRORS.noSuchKey();
      const metadata: Record<string, unknown> = { ...(source.metadata ?? {}), lastModified: new Date().toUTCString() };
      if (!copyMetadata) {
        if (typeof override.cacheControl === 'string') metadata.cacheControl = override.cacheControl;
        if (typeof override.mimetype === 'string') metadata.mimetype = override.mimetype;
      }
      checkLimits(t.limits, { ...source, metadata });
      // Upserts of one key take turns (as uploads do), so each knows the version it replaces.
      if (upsert) await c.query(`select pg_advisory_xact_lock(hashtextextended($1, 0))`, [`storage.objects/${t.destinationBucket}/${t.destinationKey}`]);
      const previous = upsert
        ? (await c.query<ObjectRow>(`select * from storage.objects where bucket_id = $1 and name = $2`, [t.destinationBucket, t.destinationKey])).rows[0]
        : undefined;
      // No RETURNING without upsert: a plain copy needs INSERT on the destination, not SELECT.
      const inserted = await c.query<{ id: string }>(
        `insert into storage.objects (id, bucket_id, name, owner, owner_id, version, metadata, user_metadata)
         values ($7, $1, $2, ${OWNER.replaceAll('$OWNER', '$3')}, $3, $4, $5, $6)
         ${upsert ? `on conflict (bucket_id, name) do update set owner = excluded.owner, owner_id = excluded.owner_id, version = excluded.version,
            metadata = excluded.metadata, user_metadata = excluded.user_metadata, updated_at = now() returning id` : ''}`,
        [t.destinationBucket, t.destinationKey, sub, version, metadata, copyMetadata ? source.user_metadata : headerMetadata, newId],
      );
      written = blobKey({ bucket_id: t.destinationBucket, name: t.destinationKey, version });
      await backend.copy(blobKey(source), written);
      return { copiedId: upsert ? inserted.rows[0].id : newId, previous };
    });
    if (previous) await dropBlobs([blobKey(previous)]);
    const copied = (await deps.pools.admin.query<ObjectRow>(`select * from storage.objects where id = $1`, [copiedId])).rows[0];
    const Key = `${t.destinationBucket}/${t.destinationKey}`;
    return copied ? { Id: copied.id, Key, ...rowJson(copied) } : { Id: copiedId, Key };
  }));
}
