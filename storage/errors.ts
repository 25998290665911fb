/**
 * Storage errors in supabase/storage's shape: `{statusCode: "<logical status>", code, error,
 * message}` (StorageError.render), sent with HTTP 400 for client errors as that server does (a
 * few keep their own status), which is what @supabase/storage-js expects. Handlers throw them;
 * each Fastify scope's error handler (storageErrorHandler) renders whatever was thrown.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../core/errors.ts';
import { isTenantSuspended } from '../db/request-context.ts';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.ts';

export class StorageError extends ServiceError {
  readonly statusCode: number;
  readonly error: string;
  readonly #httpStatus: number;
  constructor(statusCode: number, code: string, error: string, message: string, httpStatus?: number) {
    super(code, message);
    this.statusCode = statusCode;
    this.error = error;
    this.#httpStatus = httpStatus ?? (statusCode === 503 ? 503 : statusCode >= 500 ? 500 : statusCode === 413 ? 413 : 400);
  }

  /** The HTTP status actually sent. */
  get httpStatus(): number {
    return this.#httpStatus;
  }

  /** The body storage-js reads. */
  render(): { statusCode: string; code: string; error: string; message: string } {
    return { statusCode: String(this.statusCode), code: this.code, error: this.error, message: this.message };
  }
}

/** Every error the service answers with: its stable code list (the `code` field storage-js reads). */
export const STORAGE_ERRORS = {
  noSuchKey: () => new StorageError(404, 'NoSuchKey', 'not_found', 'Object not found'),
  noSuchBucket: () => new StorageError(404, 'NoSuchBucket', 'Bucket not found', 'Bucket not found'),
  accessDenied: (message = 'new row violates row-level security policy') => new StorageError(403, 'AccessDenied', 'Unauthorized', message),
  keyExists: () => new StorageError(409, 'KeyAlreadyExists', 'Duplicate', 'The resource already exists'),
  bucketExists: () => new StorageError(409, 'BucketAlreadyExists', 'Duplicate', 'The resource already exists'),
  bucketNotEmpty: () => new StorageError(409, 'ResourceNotEmpty', 'ResourceNotEmpty', 'The bucket you tried to delete is not empty'),
  tooLarge: () => new StorageError(413, 'EntityTooLarge', 'Payload too large', 'The object exceeded the maximum allowed size'),
  mimeType: (mime: string) => new StorageError(415, 'InvalidMimeType', 'invalid_mime_type', `mime type ${mime} is not supported`),
  invalidKey: (key: string) => new StorageError(400, 'InvalidKey', 'InvalidKey', `Invalid key: ${key}`),
  keyTooLong: (limit: string) => new StorageError(400, 'InvalidKey', 'InvalidKey', `Invalid key: the object name is longer than ${limit}`),
  invalidBucketName: () => new StorageError(400, 'InvalidBucketName', 'Invalid Input', 'Bucket name invalid'),
  invalidRequest: (message: string) => new StorageError(400, 'InvalidRequest', 'InvalidRequest', message),
  invalidSignature: (message = 'Invalid signature') => new StorageError(400, 'InvalidSignature', 'InvalidSignature', message),
  /** A signed URL's token missing or not a valid JWT. */
  invalidJwt: (message: string) => new StorageError(400, 'InvalidJWT', 'InvalidJWT', message),
  /** Bytes that are not an image sharp may transform. */
  invalidImage: (message = 'The object is not an image that can be transformed') => new StorageError(400, 'InvalidImage', 'invalid_image', message),
  expiredToken: () => new StorageError(400, 'ExpiredToken', 'ExpiredToken', 'The provided token has expired.'),
  /** The caller's tenant is suspended (auth.check_request(), sql/0026_tenant_rbac.sql). */
  tenantSuspended: () => new StorageError(403, 'TenantSuspended', 'Forbidden', 'The tenant is suspended'),
  internal: () => new StorageError(500, 'InternalError', 'internal', 'Internal Server Error'),
  /** Postgres is down, starting or shutting down: a 503 that names no host, port or path (db/unavailable.ts). */
  databaseUnavailable: () => new StorageError(503, 'DatabaseUnavailable', 'Service Unavailable', DATABASE_UNAVAILABLE_MESSAGE),
} as const;

/** The StorageError an error stands for (its own, or a known Postgres/Fastify one), or undefined. */
export function asStorageError(err: unknown): StorageError | undefined {
  if (err instanceof StorageError) return err;
  const code = (err as { code?: string })?.code;
  if (code === '42501') return STORAGE_ERRORS.accessDenied();
  if (isTenantSuspended(err)) return STORAGE_ERRORS.tenantSuspended();
  if (code === '23505') return STORAGE_ERRORS.keyExists();
  if (code === 'FST_REQ_FILE_TOO_LARGE' || code === 'FST_ERR_CTP_BODY_TOO_LARGE') return STORAGE_ERRORS.tooLarge();
  // A value Postgres cannot store as text (NUL): whatever route it came through, bad input.
  if (code === '22021') return STORAGE_ERRORS.invalidRequest('The request contains a character that cannot be stored (such as NUL)');
  // A key the blob backend cannot hold (a path over the filesystem's limit, an S3 key over 1024 bytes).
  if (code === 'ENAMETOOLONG' || code === 'KeyTooLongError') return STORAGE_ERRORS.keyTooLong('this storage backend accepts');
  if (isDatabaseUnavailable(err)) return STORAGE_ERRORS.databaseUnavailable();
  // Fastify's own client errors (bad JSON, bad URL, multipart without a boundary, …).
  const status = (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && typeof code === 'string' && code.startsWith('FST_')) {
    return STORAGE_ERRORS.invalidRequest((err as Error).message || 'Invalid request');
  }
  // A request body that is not what it claims to be (busboy's multipart errors).
  const message = err instanceof Error ? err.message : '';
  if (/^(Unexpected end of (form|file)|Malformed part header|Multipart: |Malformed urlencoded form|Unexpected end of multipart data|Part terminated early)/.test(message)) {
    return STORAGE_ERRORS.invalidRequest(`Invalid multipart body: ${message}`);
  }
  return undefined;
}

/**
 * Sends `err` in storage's shape (an unknown error as InternalError, logged). The HTTP status is
 * the error's `httpStatus` (storage-js's API), or with `logicalStatus` its own status (the short
 * /storage routes, TUS).
 */
export function sendStorageError(reply: FastifyReply, err: unknown, logicalStatus = false): FastifyReply {
  let e = asStorageError(err);
  if (e?.statusCode === 503) reply.log.warn({ err }, 'storage: database unavailable');
  if (!e) {
    reply.log.error({ err }, 'storage: unexpected error');
    e = STORAGE_ERRORS.internal();
  }
  return reply.code(logicalStatus ? e.statusCode : e.httpStatus).send(e.render());
}

/** A Fastify error handler rendering as sendStorageError does. */
export function storageErrorHandler(logicalStatus = false) {
  return (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => sendStorageError(reply, err, logicalStatus);
}
