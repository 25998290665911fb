/**
 * Signed URL tokens (storage-js `createSignedUrl`, `createSignedUploadUrl`): HS256 JWTs signed with the project secret, bound to
 * one `<bucket>/<key>` and one scope. Download tokens (`/object/sign`, `/render/image/sign`) may
 * carry image transformations; upload tokens (`/object/upload/sign`) carry the signer as
 * `owner` and the `upsert` flag. A token of one scope never works for the other.
 */
import { SignJWT, jwtVerify } from 'jose';
import { STORAGE_ERRORS } from './errors.ts';

export type TokenScope = 'download' | 'upload';

export interface DownloadToken {
  url: string;
  scope: 'download';
  /** `width:100,height:100,resize:cover,…` (render/image/sign only). */
  transformations?: string;
}

export interface UploadToken {
  url: string;
  scope: 'upload';
  owner?: string;
  upsert: boolean;
}

export async function signObjectToken(key: Uint8Array, payload: DownloadToken | UploadToken, expiresInSeconds: number): Promise<string> {
  return new SignJWT({ ...payload })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
    .sign(key);
}

/**
 * Verifies signature, expiry, scope and path binding, in supabase/storage's order and with its
 * errors: InvalidJWT, ExpiredToken, InvalidSignature. Tokens without `scope` (older servers)
 * count as download tokens unless they carry `upsert`.
 */
export async function verifyObjectToken(key: Uint8Array, token: string | undefined, url: string, scope: 'upload'): Promise<UploadToken>;
export async function verifyObjectToken(key: Uint8Array, token: string | undefined, url: string, scope: 'download'): Promise<DownloadToken>;
export async function verifyObjectToken(key: Uint8Array, token: string | undefined, url: string, scope: TokenScope): Promise<DownloadToken | UploadToken> {
  if (!token) throw STORAGE_ERRORS.invalidJwt('Missing token');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key, { algorithms: ['HS256'] }));
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_JWT_EXPIRED') throw STORAGE_ERRORS.expiredToken();
    throw STORAGE_ERRORS.invalidJwt((err as Error).message || 'jwt malformed');
  }
  const tokenScope = payload.scope ?? ('upsert' in payload ? 'upload' : 'download');
  if (tokenScope !== scope) throw STORAGE_ERRORS.invalidSignature(`Token is not scoped for ${scope}`);
  if (payload.url !== url) throw STORAGE_ERRORS.invalidSignature();
  if (scope === 'upload') {
    return { url, scope, owner: typeof payload.owner === 'string' ? payload.owner : undefined, upsert: payload.upsert === true };
  }
  return { url, scope, transformations: typeof payload.transformations === 'string' ? payload.transformations : undefined };
}
