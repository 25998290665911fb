/** The JSON shapes storage's answers carry (storage-js's types), from db.ts's rows. */
import type { BucketRow, ObjectRow } from '../db.ts';
import type { ObjectMetadata } from '../object.ts';

/** A bucket as `GET /bucket/:id` answers it (storage-api's getBucket.ts selects no `type`). */
export function bucketJson(b: BucketRow) {
  return {
    id: b.id,
    name: b.name,
    owner: b.owner ?? '',
    public: b.public,
    file_size_limit: b.file_size_limit === null ? null : Number(b.file_size_limit),
    allowed_mime_types: b.allowed_mime_types,
    created_at: b.created_at.toISOString(),
    updated_at: b.updated_at.toISOString(),
  };
}

/** A bucket as `GET /bucket` lists it: with its `type` (storage-api's getAllBuckets.ts). */
export const listedBucketJson = (b: BucketRow) => ({ ...bucketJson(b), type: 'STANDARD' });

/** An object row with its times as ISO strings. */
export const rowJson = (o: ObjectRow) => ({
  ...o,
  created_at: o.created_at.toISOString(),
  updated_at: o.updated_at.toISOString(),
  last_accessed_at: o.last_accessed_at.toISOString(),
});

/** `GET /object/info`'s answer (storage-js `info`). */
export function infoJson(o: ObjectRow) {
  const m = o.metadata as unknown as ObjectMetadata;
  return {
    id: o.id, name: o.name, version: o.version, bucket_id: o.bucket_id, size: m.size, content_type: m.mimetype,
    cache_control: m.cacheControl, etag: m.eTag, metadata: o.user_metadata ?? {}, last_modified: o.updated_at.toISOString(), created_at: o.created_at.toISOString(),
  };
}

/** The short /storage routes' file: `{id, bucket, path, key, size, content_type, etag, created_at, updated_at}`. */
export function fileJson(o: ObjectRow) {
  const m = o.metadata as unknown as ObjectMetadata;
  return {
    id: o.id,
    bucket: o.bucket_id,
    path: o.name,
    key: `${o.bucket_id}/${o.name}`,
    size: m.size,
    content_type: m.mimetype,
    etag: m.eTag,
    created_at: o.created_at.toISOString(),
    updated_at: o.updated_at.toISOString(),
  };
}
