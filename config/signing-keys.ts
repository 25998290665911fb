/**
 * Asymmetric signing keys for access tokens (`JWT_SIGNING_KEYS`): a JSON array of private JWKs,
 * each with a `kid`. The first signs new tokens; the others are still published in the JWKS and
 * accepted, so tokens they signed stay valid while a rotation rolls out. Only ES256 (EC P-256)
 * and RS256 (RSA ≥ 2048 bits) are allowed: the algorithms auth-js `getClaims()` verifies locally.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';

export type SigningAlg = 'ES256' | 'RS256';

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  /** The private key (never leaves the process). */
  privateKey: KeyObject;
  /** The public half as published in /.well-known/jwks.json. */
  publicJwk: JWK;
}

const MIN_RSA_BITS = 2048;

function fail(message: string): never {
  throw new Error(`JWT_SIGNING_KEYS: ${message}`);
}

/** Parses and checks every key; throws an Error whose message says what is wrong. */
export function parseSigningKeys(raw: string): SigningKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    fail('must be a JSON array of private JWKs (or a JWKS {"keys": [...]})');
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list) || list.length === 0) fail('must be a non-empty JSON array of private JWKs (or a JWKS {"keys": [...]})');
  const seen = new Set<string>();
  return list.map((jwk: unknown, i) => {
    const at = `key ${i + 1}`;
    if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) fail(`${at} is not a JSON object`);
    const j = jwk as JWK;
    if (typeof j.kid !== 'string' || !j.kid) fail(`${at} has no "kid"`);
    if (seen.has(j.kid)) fail(`kid "${j.kid}" appears twice`);
    seen.add(j.kid);
    if (j.kty !== 'EC' && j.kty !== 'RSA') fail(`${at} ("${j.kid}"): kty must be EC (ES256) or RSA (RS256)`);
    if (typeof j.d !== 'string') fail(`${at} ("${j.kid}") is not a private key (no "d")`);
    const alg: SigningAlg = j.kty === 'EC' ? 'ES256' : 'RS256';
    if (j.alg !== undefined && j.alg !== alg) fail(`${at} ("${j.kid}"): alg "${j.alg}" does not fit kty ${j.kty}; use ${alg}`);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: j as JsonWebKey, format: 'jwk' });
    } catch (err) {
      fail(`${at} ("${j.kid}") cannot be imported: ${(err as Error).message}`);
    }
    const details = privateKey.asymmetricKeyDetails ?? {};
    if (alg === 'ES256' && details.namedCurve !== 'prime256v1') fail(`${at} ("${j.kid}"): EC keys must use curve P-256`);
    if (alg === 'RS256' && (details.modulusLength ?? 0) < MIN_RSA_BITS) fail(`${at} ("${j.kid}"): RSA keys need at least ${MIN_RSA_BITS} bits`);
    return { kid: j.kid, alg, privateKey, publicJwk: publicJwkOf(privateKey, j.kid, alg) };
  });
}

/** The public JWK of a private key: derived from the key itself, so no private member can slip through. */
export function publicJwkOf(privateKey: KeyObject, kid: string, alg: SigningAlg): JWK {
  const pub = createPublicKey(privateKey).export({ format: 'jwk' });
  const material = alg === 'ES256' ? { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y } : { kty: pub.kty, n: pub.n, e: pub.e };
  return { ...material, kid, alg, use: 'sig', key_ops: ['verify'] };
}

/** A fresh private JWK for JWT_SIGNING_KEYS (`nextmavens keys --es256 | --rs256`). */
export function generateSigningJwk(alg: SigningAlg): JWK {
  const { privateKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: MIN_RSA_BITS });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg, use: 'sig' };
}
