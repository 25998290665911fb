/**
 * What the storage service accepts as bucket names, object keys and download file names, in
 * one place so every route (objects, signed URLs, transforms, TUS, short routes) checks them the
 * same way: keys and bucket names are the character sets supabase/storage allows, never `.`/`..`
 * segments, `%`, `\` or NUL, and a download name only reaches the Content-Disposition header in
 * a form that cannot break it.
 */
import { STORAGE_ERRORS } from './errors.ts';

export const BUCKET_NAME = /^[A-Za-z0-9_!.*'() &$=@;:+,?-]{1,100}$/;
export const OBJECT_KEY = /^[A-Za-z0-9_/!.*'() &$=@;:+,?-]+$/;
/** The longest object name, in UTF-8 bytes (Supabase's limit, and S3's for a whole key). */
export const MAX_KEY_BYTES = 1024;
/** C0 controls and DEL: never part of a bucket id or an object name (NUL cannot even reach Postgres text). */
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A normalised object key (no leading, trailing or doubled `/`), or InvalidKey. */
export function checkKey(key: string): string {
  const clean = key.replace(/\/+/g, '/').replace(/^\/|\/$/g, '');
  if (Buffer.byteLength(clean, 'utf8') > MAX_KEY_BYTES) throw STORAGE_ERRORS.keyTooLong(`${MAX_KEY_BYTES} bytes`);
  if (!clean || !OBJECT_KEY.test(clean) || clean.split('/').some((s) => s === '.' || s === '..')) throw STORAGE_ERRORS.invalidKey(key);
  return clean;
}

/**
 * The id of an existing bucket as a request names it (route parameter or body field): a string
 * without control characters and not longer than any bucket name, or InvalidBucketName. Looser
 * than checkBucketName, which new buckets must pass: a bucket created in SQL keeps working.
 */
export function checkBucketId(id: unknown): string {
  if (typeof id !== 'string' || id === '' || id.length > 100 || CONTROL.test(id)) throw STORAGE_ERRORS.invalidBucketName();
  return id;
}

/** An object name or prefix taken from a request body (remove, sign, list): a string under the name limit, without control characters. */
export function checkNameField(v: unknown, what: string): string {
  if (typeof v !== 'string') throw STORAGE_ERRORS.invalidRequest(`${what} must be a string`);
  if (CONTROL.test(v)) throw STORAGE_ERRORS.invalidRequest(`${what} must not contain control characters`);
  if (Buffer.byteLength(v, 'utf8') > MAX_KEY_BYTES) throw STORAGE_ERRORS.keyTooLong(`${MAX_KEY_BYTES} bytes`);
  return v;
}

/** A valid bucket name (`.` and `..` are not: blob keys start with the bucket id), or InvalidBucketName. */
export function checkBucketName(name: unknown): string {
  if (typeof name !== 'string' || !BUCKET_NAME.test(name) || name === '.' || name === '..') throw STORAGE_ERRORS.invalidBucketName();
  return name;
}

/** The object key of a route's `*` parameter, percent-decoded once more (a bad escape is InvalidKey, not a 500) and checked. */
export function keyParam(params: unknown): string {
  const raw = (params as Record<string, string | undefined>)['*'] ?? '';
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw STORAGE_ERRORS.invalidKey(raw);
  }
  return checkKey(decoded);
}

/** The `download` query parameter: undefined when absent, '' for "use the object's name". */
export function downloadParam(query: unknown): string | undefined {
  const v = (query as Record<string, unknown> | undefined)?.download;
  if (v === undefined) return undefined;
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' ? first : '';
}

/**
 * `attachment; filename="…"; filename*=UTF-8''…`: the quoted form keeps printable ASCII only
 * (others become `_`; quotes and backslashes dropped), the extended form carries the exact name.
 * Control characters never reach the header, so a name cannot inject headers or make Node throw.
 */
export function contentDisposition(name: string): string {
  const filename = name.toWellFormed();
  const ascii = filename.replace(/["\\]/g, '').replace(/[^\x20-\x7e]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}
