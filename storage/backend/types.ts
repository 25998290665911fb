/**
 * The blob backend contract every storage backend implements (fs.ts, s3.ts), its errors and the
 * blob key layout. Keys are opaque, versioned paths chosen by the service: a blob is written
 * once under a key that no row references yet, published by `commit`, and never modified after,
 * so readers only ever see whole blobs and a row always points at complete bytes.
 */
import { Readable } from 'node:stream';

export interface PutOptions {
  /** Bytes beyond this abort the write with SizeLimitExceeded. */
  maxBytes: number;
  contentType?: string;
  cacheControl?: string;
}

export interface WrittenBlob {
  size: number;
  /** Quoted MD5 of the bytes, the same for every backend (S3 multipart ETags are not MD5s). */
  etag: string;
}

/** Bytes written but not yet published: `commit` makes them readable at their key, `abort` forgets them. */
export interface StagedBlob extends WrittenBlob {
  readonly key: string;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface BlobInfo {
  key: string;
  size: number;
  lastModified: Date;
}

/** An unfinished write left behind (a staging file, an incomplete multipart upload). */
export interface StagedInfo {
  id: string;
  lastModified: Date;
}

export interface BlobRange {
  start: number;
  /** Inclusive. */
  end: number;
}

export interface StorageBackend {
  readonly kind: 'fs' | 's3' | 'telegram';
  /** Prepares the backend (directories, the S3 bucket). */
  init(): Promise<void>;
  /** Streams `body` towards `key`, counting and hashing; not readable until committed. */
  stage(key: string, body: Readable, opts: PutOptions): Promise<StagedBlob>;
  /** stage + commit. */
  put(key: string, body: Readable, opts: PutOptions): Promise<WrittenBlob>;
  /** put of bytes already in memory, when the backend has a cheaper way than a stream (putBytes below falls back to put). */
  putBytes?(key: string, bytes: Buffer, opts: PutOptions): Promise<void>;
  /** The whole blob in memory, when the backend has a cheaper way than a stream (for small blobs; BlobNotFound as get). */
  getBytes?(key: string): Promise<Buffer>;
  /** A stream of the blob (or of `range`); BlobNotFound when it does not exist. */
  get(key: string, range?: BlobRange): Promise<Readable>;
  head(key: string): Promise<BlobInfo | null>;
  /** Deletes blobs; missing ones are not an error. */
  delete(keys: string[]): Promise<void>;
  /** Server-side copy of an immutable blob to a new key. */
  copy(from: string, to: string): Promise<void>;
  /** Every committed blob, for reconciliation. */
  list(): AsyncIterable<BlobInfo>;
  /** Unfinished writes, for reconciliation. */
  listStaged(): AsyncIterable<StagedInfo>;
  removeStaged(id: string): Promise<void>;
  /** Releases connections. */
  close?(): void;
}

/** Writes `bytes` at `key` (published at once, as put), through the backend's putBytes when it has one. */
export async function putBytes(backend: StorageBackend, key: string, bytes: Buffer, opts: PutOptions): Promise<void> {
  if (bytes.length > opts.maxBytes) throw new SizeLimitExceeded();
  if (backend.putBytes) return backend.putBytes(key, bytes, opts);
  await backend.put(key, Readable.from([bytes]), opts);
}

export class SizeLimitExceeded extends Error {
  constructor() {
    super('size limit exceeded');
    this.name = 'SizeLimitExceeded';
  }
}

export class BlobNotFound extends Error {
  constructor(key: string) {
    super(`blob not found: ${key}`);
    this.name = 'BlobNotFound';
  }
}

/**
 * Where an object version's bytes live: `<bucket>/<name>/@<version>`. Bucket ids have no `/` and
 * names no `.`/`..` segments (the service checks both), and the version is always the last
 * segment, so the key parses back unambiguously. Backends map keys to their own namespace (fs
 * URI-encodes each segment into a file name; S3 uses the key as it is).
 */
export function blobKey(o: { bucket_id: string; name: string; version: string }): string {
  return `${o.bucket_id}/${o.name}/@${o.version}`;
}

/** The (bucket, name, version) a blob key encodes, or null for a key outside that layout. */
export function parseBlobKey(key: string): { bucket_id: string; name: string; version: string } | null {
  const parts = key.split('/');
  const last = parts.at(-1) ?? '';
  if (parts.length < 3 || !last.startsWith('@') || last.length < 2 || parts.some((p) => p === '')) return null;
  return { bucket_id: parts[0], name: parts.slice(1, -1).join('/'), version: last.slice(1) };
}
