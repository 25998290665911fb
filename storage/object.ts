/**
 * The object operations of one bucket (supabase/storage's ObjectStorage), for one request's
 * caller (context.ts). Every way of writing (upload, signed upload, TUS, the short routes) goes
 * through `storeObject`; every read through `visibleObject`. SQL is db.ts's. A row and its blob appear together
 * or not at all: bytes are staged first, committed inside the caller's transaction, and a
 * replaced blob is deleted only after the commit — whatever a crash leaves, cleanup.ts collects.
 *
 * Move and copy (storage-js `move`/`copy`), RLS deciding as the caller:
 * - move: `SELECT … FOR UPDATE` then `UPDATE` of the source row to its new bucket, name, owner and
 *   a new version, so the caller needs SELECT and UPDATE on the source and the UPDATE policy's
 *   WITH CHECK must accept the destination. The row keeps its id.
 * - copy: SELECT on the source, INSERT of the destination row (with upsert, INSERT + UPDATE +
 *   SELECT), metadata copied unless `copyMetadata` is false.
 * Inside the transaction the blob is copied to the new version's key (a hard link on fs, a
 * server-side copy on S3); a failure rolls the row back and deletes the new blob.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BlobNotFound, SizeLimitExceeded, blobKey, type BlobRange } from './backend/index.ts';
import type { StorageContext } from './context.ts';
import type { ListV1Query, ListV2Query, ListedRow, ObjectRow, StorageDb } from './db.ts';
import { STORAGE_ERRORS } from './errors.ts';
import { checkMime, mimeAllowed, subOf, uploadLimit } from './limits.ts';
import { signObjectToken, verifyObjectToken, type DownloadToken, type UploadToken } from './tokens.ts';
import { counters } from '../core/metrics.ts';

/** How a read is authorised: `default` (RLS, or everyone on a public bucket), `public` (public buckets only), `authenticated` (RLS), `signed` (a verified token: no RLS). */
export type ReadMode = 'default' | 'public' | 'authenticated' | 'signed';

/** The `metadata` column as the upload pipeline writes it. */
export interface ObjectMetadata {
  eTag: string;
  size: number;
  mimetype: string;
  cacheControl: string;
  lastModified: string;
}

/** The bytes of an upload and their attributes. */
export interface UploadBody {
  stream: Readable;
  mimetype: string;
  cacheControl: string;
  userMetadata: Record<string, unknown> | null;
  /** The declared length of a raw body (Content-Length), checked against the limit before reading. */
  declaredLength?: number;
  /** Multipart only: the text fields sent before the file part, and the file part's filename. */
  fields?: Record<string, string>;
  filename?: string;
}

/** What copy takes besides the keys. */
export interface CopyOptions {
  upsert: boolean;
  copyMetadata: boolean;
  /** `metadata` of the body: `cacheControl` and `mimetype` replace the source's when `copyMetadata` is false. */
  override: { cacheControl?: unknown; mimetype?: unknown };
  /** The raw `x-metadata` header (base64 JSON): the copy's user metadata when `copyMetadata` is false. */
  metadataHeader?: string;
}

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';

export class ObjectStorage {
  readonly ctx: StorageContext;
  readonly bucketId: string;

  constructor(ctx: StorageContext, bucketId: string) {
    this.ctx = ctx;
    this.bucketId = bucketId;
  }

  // ----------------------------------------------------------------------- write

  /** Throws unless the caller may insert (or upsert) the object: the insert runs as the caller and is rolled back. */
  async canUpload(name: string, upsert: boolean): Promise<void> {
    const owner = subOf(await this.ctx.claims());
    const probe = { id: randomUUID(), bucketId: this.bucketId, name, owner, version: randomUUID(), metadata: {}, userMetadata: null };
    await this.ctx.asCaller((db) => db.insertObject(probe, upsert), true).catch((err) => {
      throw isUniqueViolation(err) ? STORAGE_ERRORS.keyExists() : err;
    });
  }

  /** The upload pipeline every way of writing goes through: limits, MIME, staged bytes committed with the row inserted as the caller. `name` is checked (checkKey). */
  async storeObject(name: string, upsert: boolean, body: UploadBody): Promise<ObjectRow> {
    const { stream, mimetype, cacheControl, userMetadata } = body;
    const b = await this.ctx.bucket(this.bucketId);
    const limit = uploadLimit(b);
    // Refused here, the body is never read: the error answer releases it (http/release-body.ts).
    checkMime(b, mimetype);
    if ((body.declaredLength ?? 0) > limit) throw STORAGE_ERRORS.tooLarge();
    // RLS (and a duplicate key without upsert) decide before a byte is read, as in supabase/storage:
    // a caller who may not write here cannot make the server stream a body to the backend.
    await this.canUpload(name, upsert);

    const version = randomUUID();
    let staged;
    try {
      staged = await this.ctx.backend.stage(blobKey({ bucket_id: this.bucketId, name, version }), stream, { maxBytes: limit, contentType: mimetype, cacheControl });
    } catch (err) {
      if (err instanceof SizeLimitExceeded || (stream as { truncated?: boolean }).truncated) throw STORAGE_ERRORS.tooLarge();
      throw err;
    }
    if ((stream as { truncated?: boolean }).truncated) {
      await staged.abort();
      throw STORAGE_ERRORS.tooLarge();
    }
    const metadata = { eTag: staged.etag, size: staged.size, mimetype, cacheControl, lastModified: new Date().toUTCString(), contentLength: staged.size, httpStatusCode: 200 };
    const owner = subOf(await this.ctx.claims());
    let previous: ObjectRow | undefined;
    let id: string = randomUUID();
    try {
      await this.ctx.asCaller(async (db) => {
        if (upsert) {
          // Concurrent upserts of one key take turns, so each knows the version it replaces (and deletes its blob).
          await db.lockName(this.bucketId, name);
          previous = await db.findObject(this.bucketId, name);
        }
        id = await db.insertObject({ id, bucketId: this.bucketId, name, owner, version, metadata, userMetadata }, upsert);
        await staged.commit(); // inside the transaction: a failed commit leaves no row
      });
    } catch (err) {
      await staged.abort().catch(() => undefined);
      await this.ctx.dropBlobs([staged.key]);
      throw isUniqueViolation(err) ? STORAGE_ERRORS.keyExists() : err;
    }
    counters.storageBytesIn.inc(staged.size);
    if (previous && previous.version !== version) await this.ctx.dropBlobs([blobKey(previous)]);
    // Read back as superuser (a plain upload needs no SELECT policy): only the row this request wrote, by id and version.
    const row = await this.ctx.superUser.findObjectById(id, version);
    const now = new Date();
    return row ?? { id, bucket_id: this.bucketId, name, owner: null, owner_id: owner, version, metadata, user_metadata: userMetadata, created_at: now, updated_at: now, last_accessed_at: now };
  }

  // ----------------------------------------------------------------------- read

  /** The object row as the caller may see it (public buckets: everyone, unless `authenticated`; otherwise RLS), or NoSuchKey. */
  async visibleObject(name: string, mode: ReadMode): Promise<ObjectRow> {
    const b = await this.ctx.bucket(this.bucketId);
    if (mode === 'public' && !b.public) throw STORAGE_ERRORS.noSuchBucket();
    const row =
      (b.public && mode !== 'authenticated') || mode === 'signed'
        ? await this.ctx.superUser.findObject(this.bucketId, name)
        : await this.ctx.asCaller((db) => db.findObject(this.bucketId, name));
    if (!row) throw STORAGE_ERRORS.noSuchKey();
    return row;
  }

  /** A stream of the object's bytes (or of `range`); NoSuchKey when its blob is missing. */
  async readBlob(o: ObjectRow, range?: BlobRange): Promise<Readable> {
    try {
      return await this.ctx.backend.get(blobKey(o), range);
    } catch (err) {
      throw err instanceof BlobNotFound ? STORAGE_ERRORS.noSuchKey() : err;
    }
  }

  // ----------------------------------------------------------------------- remove

  /** Deletes the named objects the caller may delete, then their blobs; the deleted rows. */
  async removeObjects(names: string[]): Promise<ObjectRow[]> {
    const removed = await this.ctx.asCaller((db) => db.deleteObjects(this.bucketId, names));
    await this.ctx.dropBlobs(removed.map(blobKey));
    return removed;
  }

  // ----------------------------------------------------------------------- signed URLs

  /** A download token for `name` (with the transformations a render URL applies). */
  signDownload(name: string, expiresIn: number, transformations?: string): Promise<string> {
    return signObjectToken(this.ctx.deps.signingKey, { url: `${this.bucketId}/${name}`, scope: 'download', ...(transformations ? { transformations } : {}) }, expiresIn);
  }

  /** Download tokens for the paths the caller may read (one RLS SELECT for all); null for the others. */
  async signDownloads(paths: string[], expiresIn: number): Promise<(string | null)[]> {
    await this.ctx.bucket(this.bucketId);
    const visible = await this.ctx.asCaller((db) => db.existingNames(this.bucketId, paths));
    return Promise.all(paths.map((p) => (visible.has(p) ? this.signDownload(p, expiresIn) : null)));
  }

  verifyDownload(name: string, token: string | undefined): Promise<DownloadToken> {
    return verifyObjectToken(this.ctx.deps.signingKey, token, `${this.bucketId}/${name}`, 'download');
  }

  /** An upload token for `name`, once the caller is seen to be allowed to write it; it carries the caller as owner and the upsert flag. */
  async signUpload(name: string, upsert: boolean, expiresIn: number): Promise<string> {
    const claims = await this.ctx.claims();
    await this.ctx.bucket(this.bucketId);
    await this.canUpload(name, upsert);
    const owner = typeof claims.sub === 'string' ? claims.sub : undefined;
    return signObjectToken(this.ctx.deps.signingKey, { url: `${this.bucketId}/${name}`, scope: 'upload', owner, upsert }, expiresIn);
  }

  verifyUpload(name: string, token: string | undefined): Promise<UploadToken> {
    return verifyObjectToken(this.ctx.deps.signingKey, token, `${this.bucketId}/${name}`, 'upload');
  }

  // ----------------------------------------------------------------------- move and copy

  /** Runs `fn` as the caller; on any failure the blob written at `newKey()` (if any) is deleted. */
  private async consistent<T>(newKey: () => string | undefined, fn: (db: StorageDb) => Promise<T>): Promise<T> {
    try {
      return await this.ctx.asCaller(fn);
    } catch (err) {
      const key = newKey();
      if (key) await this.ctx.dropBlobs([key]);
      if (err instanceof BlobNotFound) {
        this.ctx.log.warn({ err }, 'storage: object row without its blob');
        throw STORAGE_ERRORS.noSuchKey();
      }
      throw err;
    }
  }

  /** Both buckets exist; the destination's limits. */
  private async destination(bucketId: string) {
    await this.ctx.bucket(this.bucketId);
    return this.ctx.bucket(bucketId);
  }

  private static checkLimits(limits: { file_size_limit: string | null; allowed_mime_types: string[] | null }, metadata: Record<string, unknown> | null) {
    const meta = (metadata ?? {}) as { size?: number; mimetype?: string };
    if (limits.file_size_limit !== null && (meta.size ?? 0) > Number(limits.file_size_limit)) throw STORAGE_ERRORS.tooLarge();
    if (meta.mimetype && !mimeAllowed(meta.mimetype, limits.allowed_mime_types)) throw STORAGE_ERRORS.mimeType(meta.mimetype);
  }

  /** Moves `sourceKey` to `toBucket`/`toKey` (keys checked); the moved row. */
  async moveObject(sourceKey: string, toBucket: string, toKey: string): Promise<ObjectRow> {
    const limits = await this.destination(toBucket);
    const owner = subOf(await this.ctx.claims());
    const version = randomUUID();
    let written: string | undefined;
    const { source, moved } = await this.consistent(() => written, async (db) => {
      // FOR UPDATE: the row must pass the SELECT and the UPDATE policies' USING.
      const source = await db.findObject(this.bucketId, sourceKey, { forUpdate: true });
      if (!source) throw STORAGE_ERRORS.noSuchKey();
      if (this.bucketId === toBucket && sourceKey === toKey) return { source, moved: source };
      if (this.bucketId !== toBucket) ObjectStorage.checkLimits(limits, source.metadata);
      const moved = await db.moveObject(source.id, { bucketId: toBucket, name: toKey, version, owner });
      if (!moved) throw STORAGE_ERRORS.noSuchKey();
      written = blobKey(moved);
      await this.ctx.backend.copy(blobKey(source), written);
      return { source, moved };
    });
    if (moved !== source) await this.ctx.dropBlobs([blobKey(source)]);
    return moved;
  }

  /** Copies `sourceKey` to `toBucket`/`toKey` (keys checked); the new row as superuser reads it, or its id. */
  async copyObject(sourceKey: string, toBucket: string, toKey: string, opts: CopyOptions): Promise<{ id: string; row?: ObjectRow }> {
    const limits = await this.destination(toBucket);
    let headerMetadata: Record<string, unknown> | null = null;
    if (!opts.copyMetadata && opts.metadataHeader !== undefined) {
      try {
        headerMetadata = JSON.parse(Buffer.from(opts.metadataHeader, 'base64').toString('utf8'));
      } catch {
        throw STORAGE_ERRORS.invalidRequest('x-metadata must be base64-encoded JSON');
      }
    }
    const owner = subOf(await this.ctx.claims());
    const version = randomUUID();
    let written: string | undefined;
    const newId = randomUUID();
    const { copiedId, previous } = await this.consistent(() => written, async (db) => {
      const source = await db.findObject(this.bucketId, sourceKey);
      if (!source) throw STORAGE_ERRORS.noSuchKey();
      const metadata: Record<string, unknown> = { ...(source.metadata ?? {}), lastModified: new Date().toUTCString() };
      if (!opts.copyMetadata) {
        if (typeof opts.override.cacheControl === 'string') metadata.cacheControl = opts.override.cacheControl;
        if (typeof opts.override.mimetype === 'string') metadata.mimetype = opts.override.mimetype;
      }
      ObjectStorage.checkLimits(limits, metadata);
      // Upserts of one key take turns (as uploads do), so each knows the version it replaces.
      if (opts.upsert) await db.lockName(toBucket, toKey);
      const previous = opts.upsert ? await db.findObject(toBucket, toKey) : undefined;
      // No RETURNING without upsert: a plain copy needs INSERT on the destination, not SELECT.
      const userMetadata = opts.copyMetadata ? source.user_metadata : headerMetadata;
      const copiedId = await db.insertObject({ id: newId, bucketId: toBucket, name: toKey, owner, version, metadata, userMetadata }, opts.upsert);
      written = blobKey({ bucket_id: toBucket, name: toKey, version });
      await this.ctx.backend.copy(blobKey(source), written);
      return { copiedId, previous };
    });
    if (previous) await this.ctx.dropBlobs([blobKey(previous)]);
    return { id: copiedId, row: await this.ctx.superUser.findObjectById(copiedId) };
  }

  // ----------------------------------------------------------------------- list

  /** One folder level of a v1 listing (http/routes/object/listObjects.ts), as the caller sees it. */
  async listObjects(query: ListV1Query): Promise<ListedRow[]> {
    await this.ctx.bucket(this.bucketId);
    return this.ctx.asCaller((db) => db.listV1(this.bucketId, query));
  }

  /** A list-v2 page (http/routes/object/listObjectsV2.ts; and one row more when another follows), as the caller sees it. */
  async listObjectsV2(query: ListV2Query): Promise<(ListedRow & { key: string | null })[]> {
    await this.ctx.bucket(this.bucketId);
    return this.ctx.asCaller((db) => db.listV2(this.bucketId, query));
  }
}
