/**
 * Who signs access tokens, and which public keys auth publishes.
 *
 * Default: HS256 with JWT_SECRET and no `kid` (auth-js `getClaims()` then validates through
 * GET /user, and /.well-known/jwks.json is `{"keys": []}`). With JWT_SIGNING_KEYS: the first key
 * signs (ES256 or RS256, its `kid` in the header) and every configured key's public half is
 * published, so clients verify tokens locally, including those of a key being rotated out.
 */
import type { KeyObject } from 'node:crypto';
import type { JSONWebKeySet, SignJWT } from 'jose';
import type { Config } from '../config/load.ts';

export interface TokenSigner {
  readonly alg: 'HS256' | 'ES256' | 'RS256';
  /** Undefined for HS256. */
  readonly kid?: string;
  /** Sets the protected header (alg, typ, kid) on `jwt` and signs it. */
  sign(jwt: SignJWT): Promise<string>;
}

export function createTokenSigner(config: Pick<Config, 'jwtSecret' | 'signingKeys'>): TokenSigner {
  const current = config.signingKeys[0];
  if (!current) {
    const secret = new TextEncoder().encode(config.jwtSecret);
    return { alg: 'HS256', sign: (jwt) => jwt.setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(secret) };
  }
  const { alg, kid } = current;
  const key: KeyObject = current.privateKey;
  return { alg, kid, sign: (jwt) => jwt.setProtectedHeader({ alg, typ: 'JWT', kid }).sign(key) };
}

const signers = new WeakMap<object, TokenSigner>();

/** The signer of a configuration, made once per Config object. */
export function signerFor(config: Config): TokenSigner {
  let signer = signers.get(config);
  if (!signer) signers.set(config, (signer = createTokenSigner(config)));
  return signer;
}

/** The document of GET /.well-known/jwks.json: public halves only; the HS secret is never listed. */
export function publicJwks(config: Pick<Config, 'signingKeys'>): JSONWebKeySet {
  return { keys: config.signingKeys.map((k) => ({ ...k.publicJwk })) };
}

/** Like GoTrue: clients and proxies may cache the key set for 10 minutes. */
export const JWKS_CACHE_CONTROL = 'public, max-age=600';
