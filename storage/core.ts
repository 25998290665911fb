/**
 * What the storage service shares with its feature modules (signed uploads, image transforms,
 * TUS, the short /storage routes): its upload pipeline, its visibility rules and its helpers,
 * so every way of writing or reading an object goes through the same code (and the same RLS).
 * The service builds one StorageCore and hands it to each module's register function.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Config } from '../config/load.ts';
import type { Pools } from '../db/pool.ts';
import type { JwtClaims } from '../gateway/jwt.ts';

/** A storage.buckets row. */
export interface BucketRow {
  id: string;
  name: string;
  owner: string | null;
  public: boolean;
  file_size_limit: string | null;
  allowed_mime_types: string[] | null;
  created_at: Date;
  updated_at: Date;
}

/** A storage.objects row. */
export interface ObjectRow {
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

/** The `metadata` column as the upload pipeline writes it. */
export interface ObjectMetadata {
  eTag: string;
  size: number;
  mimetype: string;
  cacheControl: string;
  lastModified: string;
}

/** How a read is authorised: `default` (RLS, invalid JWT = anon), `public` (public buckets only), `authenticated` (RLS, JWT required), `signed` (a verified token: no RLS). */
export type ReadMode = 'default' | 'public' | 'authenticated' | 'signed';

/** What running SQL as the caller needs to know about the request (a Fastify or a raw Node request). */
export interface RequestLike {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
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

export interface StoreInput {
  bucketId: string;
  /** A key already checked with `checkKey`. */
  name: string;
  upsert: boolean;
  body: UploadBody;
}

export type RouteHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface StorageCore {
  config: Config;
  pools: Pools;
  /** HS256 key for signed URL tokens (the project JWT secret). */
  signingKey: Uint8Array;
  /** The caller's verified claims (`{role: 'anon'}` without a token); a bad token is AccessDenied unless `allowInvalid`. */
  claimsOf(req: RequestLike, allowInvalid?: boolean): Promise<JwtClaims>;
  /** Runs `fn` in a transaction as `claims` (RLS decides); `rollback` undoes it (permission tests). */
  asCaller<T>(claims: JwtClaims, req: RequestLike, fn: (c: pg.PoolClient) => Promise<T>, rollback?: boolean): Promise<T>;
  /** The bucket read as superuser, or NoSuchBucket. */
  bucket(id: string): Promise<BucketRow>;
  /** The largest object the bucket accepts (bucket limit capped by the global one), in bytes. */
  uploadLimit(b: BucketRow): number;
  /** Throws InvalidMimeType unless the bucket accepts the type. */
  checkMime(b: BucketRow, mimetype: string): void;
  /** A normalised object key, or InvalidKey. */
  checkKey(key: string): string;
  /** The body of an upload request: its multipart file part (storage-js fields) or the raw stream. */
  uploadBody(req: FastifyRequest): Promise<UploadBody>;
  /** Throws unless `claims` may insert (or upsert) the object: the insert is tried as the caller, then rolled back. */
  canUpload(req: RequestLike, claims: JwtClaims, bucketId: string, name: string, upsert: boolean): Promise<void>;
  /** The normal upload path: limits, MIME, bytes staged in the backend, committed with the row inserted as `claims`. */
  storeObject(req: RequestLike, claims: JwtClaims, input: StoreInput): Promise<ObjectRow>;
  /** The object row as the caller may see it (public buckets: everyone; otherwise RLS), or NoSuchKey. */
  visibleObject(req: FastifyRequest, bucketId: string, name: string, mode: ReadMode): Promise<ObjectRow>;
  /** Sends the object's bytes with its headers, Range, ETag and conditional GET handling. */
  sendObject(req: FastifyRequest, reply: FastifyReply, o: ObjectRow): Promise<unknown>;
  /** A stream of the object's bytes. */
  readBlob(o: ObjectRow): Promise<Readable>;
  /** Deletes the blobs of deleted rows. */
  removeBlobs(rows: ObjectRow[]): Promise<void>;
  /** Wraps a handler: its result is the JSON reply, its errors are storage-js-shaped. */
  route(fn: RouteHandler): RouteHandler;
  /** Registers routes in a scope whose bodies are streamed: multipart via busboy, anything else raw. */
  streamingScope(register: (scope: FastifyInstance) => void | Promise<void>): Promise<void>;
}
