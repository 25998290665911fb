/**
 * The byte meter both backends (fs.ts, s3.ts) stream uploads through: it counts and MD5-hashes
 * the bytes, so every backend reports the same size and ETag, and stops a body past its limit.
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { SizeLimitExceeded } from './types.ts';

/** A pass-through that counts and MD5-hashes the bytes and fails past `maxBytes`. */
export function byteMeter(maxBytes: number): Transform & { readonly size: number; etag(): string } {
  const hash = createHash('md5');
  let size = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new SizeLimitExceeded());
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return Object.defineProperties(t, {
    size: { get: () => size },
    etag: { value: () => `"${hash.digest('hex')}"` },
  }) as Transform & { readonly size: number; etag(): string };
}
