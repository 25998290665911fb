/**
 * JWT verification shared by every service (gateway /verify, REST, GraphQL, realtime, storage, auth):
 * HS256/384/512 with the configured secret and, when public keys are configured (the public
 * halves of `JWT_SIGNING_KEYS`, then `JWT_JWKS`), RS/PS/ES/EdDSA tokens with the key named by
 * their `kid` (or, without `kid`, any key that fits); `exp`/`nbf`/`iat` checked with PostgREST's
 * 30 s clock skew. `alg: none`, other algorithms and malformed tokens are rejected.
 *
 * HS* tokens are only ever checked with the secret and asymmetric ones only with the public
 * keys, so a token "HMAC-signed with the public key" (algorithm confusion) cannot pass.
 */
import {
  createLocalJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';

export type JwtClaims = JWTPayload & Record<string, unknown>;

export type JwtErrorCode = 'jwt_malformed' | 'jwt_expired' | 'jwt_invalid_signature' | 'jwt_invalid';

export class JwtError extends Error {
  readonly code: JwtErrorCode;
  constructor(code: JwtErrorCode, message: string) {
    super(message);
    this.name = 'JwtError';
    this.code = code;
  }
}

export const CLOCK_SKEW_SECONDS = 30;
const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface JwtVerifier {
  verify(token: string): Promise<JwtClaims>;
}

/** Verified tokens are remembered (until they expire) so a request is not verified three times. */
const CACHE_SIZE = 1000;

/** Members of private (and symmetric) JWKs: never used to verify. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];

/** The verification keys of a JWKS: asymmetric keys only, stripped to their public members. */
export function publicKeysOf(jwks: JSONWebKeySet): JSONWebKeySet {
  const keys = jwks.keys
    .filter((k) => k && typeof k === 'object' && (k.kty === 'EC' || k.kty === 'RSA' || k.kty === 'OKP'))
    .map((k) => Object.fromEntries(Object.entries(k).filter(([name]) => !PRIVATE_MEMBERS.includes(name))) as JWK);
  return { keys };
}

/**
 * One verifier (and so one cache) per set of keys in the process: the embedded gateway and the
 * services it mounts verify with the same keys, so a request's token is verified once, not once
 * per layer.
 */
const verifiers = new Map<string, JwtVerifier>();

export function createJwtVerifier(secret: string, jwks?: JSONWebKeySet): JwtVerifier {
  const id = `${secret}\u0000${JSON.stringify(jwks ?? null)}`;
  let verifier = verifiers.get(id);
  if (!verifier) verifiers.set(id, (verifier = newVerifier(secret, jwks)));
  return verifier;
}

function newVerifier(secret: string, jwks?: JSONWebKeySet): JwtVerifier {
  const secretKey = new TextEncoder().encode(secret);
  const publicKeys = jwks ? publicKeysOf(jwks) : undefined;
  const keySet = publicKeys?.keys.length ? createLocalJWKSet(publicKeys) : undefined;
  const algorithms = keySet ? [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS] : HMAC_ALGORITHMS;
  const key: JWTVerifyGetKey = (header, token) =>
    header.alg?.startsWith('HS') || !keySet ? secretKey : keySet(header, token);
  const cache = new Map<string, JwtClaims>();
  const verifier: JwtVerifier = {
    async verify(token) {
      const hit = cache.get(token);
      if (hit) {
        if (typeof hit.exp !== 'number' || hit.exp + CLOCK_SKEW_SECONDS > Date.now() / 1000) return hit;
        cache.delete(token);
      }
      const claims = await verifyUncached(token);
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(token, Object.freeze(claims));
      return claims;
    },
  };
  return verifier;

  async function verifyUncached(token: string): Promise<JwtClaims> {
    if (!JWT_SHAPE.test(token)) throw new JwtError('jwt_malformed', 'Expected 3 parts in JWT');
    try {
      const payload = await verifySignature(token);
      if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS) {
        throw new JwtError('jwt_invalid', 'JWT issued at future');
      }
      const aud: unknown = payload.aud;
      if (aud !== undefined && aud !== null && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) {
        throw new JwtError('jwt_invalid', "The JWT 'aud' claim must be a string or an array of strings");
      }
      return payload as JwtClaims;
    } catch (err) {
      throw toJwtError(err);
    }
  }

  /** Without a `kid`, several keys may fit the algorithm: the token is valid if one of them verified it. */
  async function verifySignature(token: string): Promise<JWTPayload> {
    const options: JWTVerifyOptions = { algorithms, clockTolerance: CLOCK_SKEW_SECONDS };
    try {
      return (await jwtVerify(token, key, options)).payload;
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSMultipleMatchingKeys)) throw err;
      for await (const candidate of err) {
        try {
          return (await jwtVerify(token, candidate, options)).payload;
        } catch (inner) {
          if (!(inner instanceof joseErrors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new JwtError('jwt_invalid_signature', 'JWT signature is invalid');
    }
  }
}

function toJwtError(err: unknown): JwtError {
  if (err instanceof JwtError) return err;
  if (err instanceof joseErrors.JWTExpired) return new JwtError('jwt_expired', 'JWT expired');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new JwtError('jwt_invalid_signature', 'JWT signature is invalid');
  if (err instanceof joseErrors.JWTClaimValidationFailed) return new JwtError('jwt_invalid', `JWT claim "${err.claim}" is invalid`);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new JwtError('jwt_invalid', 'JWT algorithm is not allowed');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new JwtError('jwt_invalid_signature', 'No suitable key or wrong key type');
  if (err instanceof joseErrors.JOSENotSupported || err instanceof joseErrors.JWKSInvalid || err instanceof joseErrors.JWKInvalid) {
    return new JwtError('jwt_invalid', 'JWT algorithm or key is not supported');
  }
  return new JwtError('jwt_malformed', 'JWT cannot be decoded');
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^bearer\s+(.*)$/i.exec(authorization ?? '');
  return match ? match[1].trim() : undefined;
}

/**
 * PostgREST's answer to an unsecured JWT (`alg: none`, three parts): its JWT library refuses it
 * as a bad algorithm, 401 PGRST301 (not a claims error). Undefined for any other token.
 */
export function unsecuredJwtError(token: string): { code: 'PGRST301'; message: string; details: string } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!header || typeof header !== 'object' || (header as { alg?: unknown }).alg !== 'none') return undefined;
  return { code: 'PGRST301', message: 'Wrong or unsupported encoding algorithm', details: "JWT is unsecured but expected 'alg' was not 'none'" };
}
