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
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { BlobNotFound, SizeLimitExceeded, blobKey, putBytes, type BlobRange } from './backend/index.ts';
import type { StorageContext } from './context.ts';
import type { BucketSettings, ListV1Query, ListV2Query, ListedRow, ObjectRow, StorageDb } from './db.ts';
import { STORAGE_ERRORS, StorageError } from './errors.ts';
import { checkBucketId } from './names.ts';
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
  /** The most bytes the body can have (the request's Content-Length), when known. */
  boundedLength?: number;
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

/**
 * Bodies that cannot be larger than this (bytes: their Content-Length says so) are read into
 * memory and stored in one transaction (storeBuffered); larger ones stream (storeStreamed).
 */
export const BUFFERED_UPLOAD_BYTES = 256 * 1024;

/** What storeObject wrote. */
export interface StoredObject {
  id: string;
  version: string;
}

interface Stored extends StoredObject {
  size: number;
  /** The row an upsert replaced. */
  previous?: ObjectRow;
}

/** The whole of a body known to be at most `max` bytes (more is TooLarge). */
async function readBody(stream: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw STORAGE_ERRORS.tooLarge();
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}

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
    await this.probe(name, upsert, () => undefined);
  }

  /**
   * One rolled-back transaction as the caller: the bucket's settings (NoSuchBucket), `check` of
   * them, then a probe row inserted as the caller (RLS, and a duplicate key without upsert,
   * decide); sent together, in one round trip. The bucket's settings.
   */
  private async probe(name: string, upsert: boolean, check: (b: BucketSettings) => void): Promise<BucketSettings> {
    const owner = subOf(await this.ctx.claims());
    const row = { id: randomUUID(), bucketId: this.bucketId, name, owner, version: randomUUID(), metadata: {}, userMetadata: null };
    return this.ctx
      .asCaller(async (db) => {
        const settings = db.bucketSettings(this.bucketId);
        const inserted = db.insertObject(row, upsert);
        inserted.catch(() => undefined);
        const b = await settings;
        if (!b) throw STORAGE_ERRORS.noSuchBucket();
        check(b);
        await inserted;
        return b;
      }, { rollback: true })
      .catch((err) => {
        throw isUniqueViolation(err) ? STORAGE_ERRORS.keyExists() : err;
      });
  }

  /**
   * The upload pipeline every way of writing goes through: limits, MIME, the bytes committed with
   * the row inserted as the caller. `name` is checked (checkKey). The stored object's id and
   * version (storedRow reads the row back).
   *
   * A body that cannot be larger than BUFFERED_UPLOAD_BYTES (its Content-Length says so) is read
   * first and stored in one transaction as the caller (storeBuffered); any other streams to the
   * backend between a probe of RLS and the transaction that inserts the row (storeStreamed), so
   * no connection is held while a large or slow body arrives.
   */
  async storeObject(name: string, upsert: boolean, body: UploadBody): Promise<StoredObject> {
    checkBucketId(this.bucketId);
    const stored =
      body.boundedLength !== undefined && body.boundedLength <= BUFFERED_UPLOAD_BYTES ? await this.storeBuffered(name, upsert, body) : await this.storeStreamed(name, upsert, body);
    counters.storageBytesIn.inc(stored.size);
    if (stored.previous && stored.previous.version !== stored.version) await this.ctx.dropBlobs([blobKey(stored.previous)]);
    return { id: stored.id, version: stored.version };
  }

  /** The row storeObject wrote, read back as superuser (a plain upload needs no SELECT policy): only that version, by id. */
  async storedRow(stored: StoredObject): Promise<ObjectRow> {
    const row = await this.ctx.superUser.findObjectById(stored.id, stored.version);
    if (!row) throw STORAGE_ERRORS.noSuchKey(); // replaced or removed since
    return row;
  }

  /**
   * A small body: read into memory (at most what a refused request's body is drained anyway,
   * http/release-body.ts), then one transaction as the caller whose first round trip carries the
   * bucket's settings, the name's lock and the row it replaces (upsert), and the row's INSERT, on
   * which RLS decides. Only once all of them passed are the bytes written to the backend, still
   * inside the transaction, and then it commits; whatever fails rolls the row back and deletes
   * the blob. A refused upload writes no byte and leaves no row.
   */
  private async storeBuffered(name: string, upsert: boolean, body: UploadBody): Promise<Stored> {
    const { mimetype, cacheControl, userMetadata } = body;
    const bytes = await readBody(body.stream, BUFFERED_UPLOAD_BYTES);
    if ((body.stream as { truncated?: boolean }).truncated) throw STORAGE_ERRORS.tooLarge();
    const owner = subOf(await this.ctx.claims());
    const version = randomUUID();
    const key = blobKey({ bucket_id: this.bucketId, name, version });
    const etag = `"${createHash('md5').update(bytes).digest('hex')}"`;
    const metadata = { eTag: etag, size: bytes.length, mimetype, cacheControl, lastModified: new Date().toUTCString(), contentLength: bytes.length, httpStatusCode: 200 };
    let written = false;
    try {
      return await this.ctx.asCaller(async (db) => {
        const settings = db.bucketSettings(this.bucketId);
        // Concurrent upserts of one key take turns, so each knows the version it replaces (and deletes its blob).
        const locked = upsert ? db.lockName(this.bucketId, name) : undefined;
        const previous = upsert ? db.findObject(this.bucketId, name) : undefined;
        const inserted = db.insertObject({ id: randomUUID(), bucketId: this.bucketId, name, owner, version, metadata, userMetadata }, upsert);
        for (const p of [locked, previous, inserted]) p?.catch(() => undefined);
        const b = await settings;
        if (!b) throw STORAGE_ERRORS.noSuchBucket();
        checkMime(b, mimetype);
        if (bytes.length > uploadLimit(b)) throw STORAGE_ERRORS.tooLarge();
        await locked;
        const replaced = await previous;
        const id = await inserted;
        written = true;
        await putBytes(this.ctx.backend, key, bytes, { maxBytes: uploadLimit(b), contentType: mimetype, cacheControl });
        return { id, version, size: bytes.length, previous: replaced };
      });
    } catch (err) {
      if (written) await this.ctx.dropBlobs([key]);
      throw isUniqueViolation(err) ? STORAGE_ERRORS.keyExists() : err;
    }
  }

  /**
   * Any other body: RLS (and a duplicate key without upsert) decide in a probe before a byte is
   * read, as in supabase/storage — a caller who may not write here cannot make the server stream
   * a body to the backend — then the bytes stream to a staged blob (counted and hashed on the
   * way, never buffered whole), which is committed inside the transaction that inserts the row.
   */
  private async storeStreamed(name: string, upsert: boolean, body: UploadBody): Promise<Stored> {
    const { stream, mimetype, cacheControl, userMetadata } = body;
    // Refused here, the body is never read: the error answer releases it (http/release-body.ts).
    const b = await this.probe(name, upsert, (bucket) => {
      checkMime(bucket, mimetype);
      if ((body.declaredLength ?? 0) > uploadLimit(bucket)) throw STORAGE_ERRORS.tooLarge();
    });
    const limit = uploadLimit(b);
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
    try {
      return await this.ctx.asCaller(async (db) => {
        let previous: ObjectRow | undefined;
        if (upsert) {
          // Concurrent upserts of one key take turns, so each knows the version it replaces (and deletes its blob).
          await db.lockName(this.bucketId, name);
          previous = await db.findObject(this.bucketId, name);
        }
        const id = await db.insertObject({ id: randomUUID(), bucketId: this.bucketId, name, owner, version, metadata, userMetadata }, upsert);
        await staged.commit(); // inside the transaction: a failed commit leaves no row
        return { id, version, size: staged.size, previous };
      });
    } catch (err) {
      await staged.abort().catch(() => undefined);
      await this.ctx.dropBlobs([staged.key]);
      throw isUniqueViolation(err) ? STORAGE_ERRORS.keyExists() : err;
    }
  }

  // ----------------------------------------------------------------------- read

  /** The object row as the caller may see it (public buckets: everyone, unless `authenticated`; otherwise RLS), or NoSuchKey. */
  async visibleObject(name: string, mode: ReadMode): Promise<ObjectRow> {
    const row = mode === 'default' || mode === 'authenticated' ? await this.callerVisible(name, mode) : await this.superUserVisible(name, mode);
    if (!row) throw STORAGE_ERRORS.noSuchKey();
    return row;
  }

  /** Public and signed reads: the bucket and the row as superuser. */
  private async superUserVisible(name: string, mode: ReadMode): Promise<ObjectRow | undefined> {
    const b = await this.ctx.bucket(this.bucketId);
    if (mode === 'public' && !b.public) throw STORAGE_ERRORS.noSuchBucket();
    return b.public || mode === 'signed' ? this.ctx.superUser.findObject(this.bucketId, name) : this.ctx.asCaller((db) => db.findObject(this.bucketId, name));
  }

  /**
   * Reads as the caller: one transaction, one round trip (BEGIN, the context, the bucket's
   * settings, the row as RLS shows it, COMMIT). A public bucket is everyone's in `default` mode,
   * whoever the caller is: when RLS hides the row there, or the caller's transaction fails (a
   * suspended tenant's caller, a role's statement timeout), it is read as superuser, as
   * superUserVisible does.
   */
  private async callerVisible(name: string, mode: ReadMode): Promise<ObjectRow | undefined> {
    checkBucketId(this.bucketId);
    let read: { b: BucketSettings; row?: ObjectRow };
    try {
      read = await this.ctx.asCaller(async (db) => {
        const settings = db.bucketSettings(this.bucketId);
        const found = db.findObject(this.bucketId, name);
        found.catch(() => undefined);
        const b = await settings;
        if (!b) throw STORAGE_ERRORS.noSuchBucket();
        return { b, row: await found };
      }, { singleQuery: true });
    } catch (err) {
      if (mode === 'default' && !(err instanceof StorageError)) {
        const b = await this.ctx.superUser.bucketSettings(this.bucketId);
        if (b?.public) return this.ctx.superUser.findObject(this.bucketId, name);
      }
      throw err;
    }
    if (!read.row && read.b.public && mode === 'default') return this.ctx.superUser.findObject(this.bucketId, name);
    return read.row;
  }

  /** A stream of the object's bytes (or of `range`); NoSuchKey when its blob is missing. */
  async readBlob(o: ObjectRow, range?: BlobRange): Promise<Readable | Buffer> {
    try {
      // A small whole blob in one read, sent as one buffer: no file stream to open, pipe and close.
      const size = Number((o.metadata as { size?: unknown } | null)?.size);
      if (!range && this.ctx.backend.getBytes && size <= BUFFERED_UPLOAD_BYTES) {
        const bytes = await this.ctx.backend.getBytes(blobKey(o));
        if (bytes.length === size) return bytes;
        return Readable.from([bytes]); // not the size its row says: as the stream would send it
      }
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
