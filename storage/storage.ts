/**
 * The storage domain, as supabase/storage cuts it: a Storage is made per request for one caller
 * (whose claims the request's HTTP scope decides: http/scopes.ts) and holds the bucket
 * operations; `from(bucket)` gives the object operations of one bucket (object.ts). Statements
 * run through db.ts, as the caller (RLS decides) or, for settings and read-backs, as superuser.
 */
import type { JwtClaims } from '../core/jwt.ts';
import { blobKey } from './backend/index.ts';
import { StorageContext } from './context.ts';
import type { BucketChanges, BucketRow, ObjectRow } from './db.ts';
import { STORAGE_ERRORS } from './errors.ts';
import { parseMimeTypes, parsePublic, parseSize, subOf } from './limits.ts';
import { checkBucketName } from './names.ts';
import { ObjectStorage } from './object.ts';

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';

export class Storage extends StorageContext {
  /** This request's Storage acting as `claims` instead (a signed upload: service_role with the signer as owner). */
  as(claims: JwtClaims): Storage {
    return new Storage(this.deps, { request: this.caller.request, claims: async () => claims });
  }

  /** The object operations of one bucket. */
  from(bucketId: string): ObjectStorage {
    return new ObjectStorage(this, bucketId);
  }

  // ----------------------------------------------------------------------- buckets

  async listBuckets(): Promise<BucketRow[]> {
    return this.asCaller((db) => db.listBuckets());
  }

  /** The bucket as the caller may see it, or NoSuchBucket. */
  async findBucket(id: string): Promise<BucketRow> {
    const row = await this.asCaller((db) => db.findBucket(id));
    if (!row) throw STORAGE_ERRORS.noSuchBucket();
    return row;
  }

  /** Creates the bucket a request body describes (`id` or `name`, `public`, `file_size_limit`, `allowed_mime_types`); its id. */
  async createBucket(body: Record<string, unknown>): Promise<string> {
    const claims = await this.claims();
    const id = checkBucketName(body.id ?? body.name);
    const name = body.name === undefined ? id : checkBucketName(body.name);
    const bucket = {
      id, name, owner: subOf(claims), public: parsePublic(body.public) ?? false,
      fileSizeLimit: parseSize(body.file_size_limit), allowedMimeTypes: parseMimeTypes(body.allowed_mime_types) ?? null,
    };
    await this.asCaller((db) => db.createBucket(bucket)).catch((err) => {
      throw isUniqueViolation(err) ? STORAGE_ERRORS.bucketExists() : err;
    });
    return id;
  }

  /** Changes only the settings the body names (storage-js omits those it is not given), as in supabase/storage. */
  async updateBucket(id: string, body: Record<string, unknown>): Promise<void> {
    await this.claims();
    const changes: BucketChanges = { public: parsePublic(body.public) };
    if (body.file_size_limit !== undefined) changes.file_size_limit = parseSize(body.file_size_limit);
    changes.allowed_mime_types = parseMimeTypes(body.allowed_mime_types);
    if (!(await this.asCaller((db) => db.updateBucket(id, changes)))) throw STORAGE_ERRORS.noSuchBucket();
  }

  /** Deletes the objects the caller may delete, then their blobs. */
  async emptyBucket(id: string): Promise<void> {
    await this.claims();
    await this.bucket(id);
    const removed = await this.asCaller((db) => db.deleteAllObjects(id));
    await this.dropBlobs(removed.map(blobKey));
  }

  async deleteBucket(id: string): Promise<void> {
    await this.claims();
    if (await this.superUser.bucketHasObjects(id)) throw STORAGE_ERRORS.bucketNotEmpty();
    if (!(await this.asCaller((db) => db.deleteBucket(id)))) throw STORAGE_ERRORS.noSuchBucket();
  }

  // ----------------------------------------------------------------------- objects by id (the short /storage routes)

  /** The object with that id, read as superuser, or NoSuchKey. */
  async objectById(id: string): Promise<ObjectRow> {
    const row = await this.superUser.findObjectById(id);
    if (!row) throw STORAGE_ERRORS.noSuchKey();
    return row;
  }

  /** Deletes the object with that id as the caller, then its blob. */
  async removeObjectById(id: string): Promise<ObjectRow> {
    const removed = await this.asCaller((db) => db.deleteObjectById(id));
    if (!removed) throw STORAGE_ERRORS.noSuchKey();
    await this.dropBlobs([blobKey(removed)]);
    return removed;
  }
}
