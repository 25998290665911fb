/**
 * Every key of the stack, in one place (the JWT verifier that checks them is core/jwt.ts):
 *
 * - API keys: the two keys supabase-js is configured with, long-lived HS256 JWTs whose `role` is
 *   `anon` (public) or `service_role` (secret, bypasses RLS), like Supabase's legacy keys. They
 *   are derived deterministically from JWT_SECRET, so a restart prints the same keys.
 * - Signing keys (`JWT_SIGNING_KEYS`): a JSON array of private JWKs, each with a `kid`. The first
 *   signs new access tokens; the others are still published in the JWKS and accepted, so tokens
 *   they signed stay valid while a rotation rolls out. Only ES256 (EC P-256) and RS256 (RSA ≥ 2048
 *   bits): the algorithms auth-js `getClaims()` verifies locally.
 * - The token signer and the published key set. Default: HS256 with JWT_SECRET and no `kid`
 *   (auth-js `getClaims()` then validates through GET /user, and /.well-known/jwks.json is
 *   `{"keys": []}`). With JWT_SIGNING_KEYS: the first key signs (its `kid` in the header) and every
 *   configured key's public half is published.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { SignJWT, type JSONWebKeySet, type JWK } from 'jose';

// ------------------------------------------------------------------------------- API keys
export type ApiKeyRole = 'anon' | 'service_role';

/** 2025-01-01T00:00:00Z and 2055-01-01T00:00:00Z: fixed so the keys do not change between runs. */
const ISSUED_AT = 1735689600;
const EXPIRES_AT = 2682374400;

/**
 * An API key: the stack's own (`anon`, `service_role`), or with `tenantId` a tenant's (its
 * `tenant_id` claim: a user signing up with it joins the tenant, auth/caller.ts tenantFromApiKey).
 */
export function deriveApiKey(role: ApiKeyRole, secret: string, tenantId?: string): Promise<string> {
  return new SignJWT({ role, iss: 'nextmavens', ...(tenantId !== undefined && { tenant_id: tenantId }) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(ISSUED_AT)
    .setExpirationTime(EXPIRES_AT)
    .sign(new TextEncoder().encode(secret));
}

// ------------------------------------------------------------------------------- signing keys

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

// ------------------------------------------------------------------------------- signer and JWKS

/** The key settings of a configuration (config/load.ts's Config has them). */
export interface KeyConfig {
  jwtSecret: string;
  signingKeys: SigningKey[];
}

export interface TokenSigner {
  readonly alg: 'HS256' | 'ES256' | 'RS256';
  /** Undefined for HS256. */
  readonly kid?: string;
  /** Sets the protected header (alg, typ, kid) on `jwt` and signs it. */
  sign(jwt: SignJWT): Promise<string>;
}

export function createTokenSigner(config: KeyConfig): TokenSigner {
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
export function signerFor(config: KeyConfig): TokenSigner {
  let signer = signers.get(config);
  if (!signer) signers.set(config, (signer = createTokenSigner(config)));
  return signer;
}

/** The document of GET /.well-known/jwks.json: public halves only; the HS secret is never listed. */
export function publicJwks(config: Pick<KeyConfig, 'signingKeys'>): JSONWebKeySet {
  return { keys: config.signingKeys.map((k) => ({ ...k.publicJwk })) };
}

/** Like GoTrue: clients and proxies may cache the key set for 10 minutes. */
export const JWKS_CACHE_CONTROL = 'public, max-age=600';
