/**
 * What a bucket accepts, in one place for every way of writing (uploads, signed uploads, TUS,
 * copies and moves between buckets): its size limit capped by the global one, and its MIME rules.
 * Also the parsers of those settings as bucket requests send them.
 */
import type { JwtClaims } from '../core/jwt.ts';
import type { BucketRow } from './db.ts';
import { STORAGE_ERRORS } from './errors.ts';

/** Largest object accepted whatever the bucket says (bytes). */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024 * 1024;
const MIME_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/(\*|[A-Za-z0-9!#$&^_.+-]+)$/;

/** "20MB", "1.5GB", 1024 or null → bytes (decimal units, as supabase/storage). */
export function parseSize(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?$/i.exec(String(v));
  if (!m) throw STORAGE_ERRORS.invalidRequest(`Invalid file size limit: ${v}`);
  const unit: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };
  return Math.floor(Number(m[1]) * unit[(m[2] ?? 'B').toUpperCase()]);
}

/** `allowed_mime_types` from a bucket request: undefined (absent), null, or a list of `type/subtype` / `type/*`. */
export function parseMimeTypes(v: unknown): string[] | null | undefined {
  if (v === undefined || v === null) return v;
  if (!Array.isArray(v) || v.some((m) => typeof m !== 'string' || !MIME_TYPE.test(m))) throw STORAGE_ERRORS.invalidRequest('allowed_mime_types must be a list of MIME types such as image/png or image/*');
  return v as string[];
}

export function parsePublic(v: unknown): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw STORAGE_ERRORS.invalidRequest('public must be a boolean');
  return v;
}

export function mimeAllowed(mime: string, allowed: string[] | null): boolean {
  if (!allowed || allowed.length === 0) return true;
  const base = mime.split(';')[0].trim().toLowerCase();
  return allowed.some((a) => {
    const rule = a.toLowerCase();
    return rule.endsWith('/*') ? base.startsWith(rule.slice(0, -1)) : base === rule;
  });
}

/** The largest object the bucket accepts (bucket limit capped by the global one), in bytes. */
export function uploadLimit(b: Pick<BucketRow, 'file_size_limit'>): number {
  return Math.min(MAX_UPLOAD_BYTES, b.file_size_limit === null ? Infinity : Number(b.file_size_limit));
}

/** Throws InvalidMimeType unless the bucket accepts the type. */
export function checkMime(b: Pick<BucketRow, 'allowed_mime_types'>, mimetype: string): void {
  if (!mimeAllowed(mimetype, b.allowed_mime_types)) throw STORAGE_ERRORS.mimeType(mimetype);
}

/** The caller's `sub`, which becomes an object's or bucket's owner. */
export const subOf = (claims: JwtClaims): string | null => (typeof claims.sub === 'string' ? claims.sub : null);
