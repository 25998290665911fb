/**
 * JWT verification shared by every service (gateway /verify, REST, GraphQL, realtime, storage):
 * HS256/384/512 with the configured secret and, when a JWKS is configured (`JWT_JWKS`),
 * RS/PS/ES/EdDSA tokens with its public keys; `exp`/`nbf`/`iat` checked with PostgREST's 30 s
 * clock skew. `alg: none`, other algorithms and malformed tokens are rejected.
 */
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';

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

export function createJwtVerifier(secret: string, jwks?: JSONWebKeySet): JwtVerifier {
  const secretKey = new TextEncoder().encode(secret);
  const keySet = jwks ? createLocalJWKSet(jwks) : undefined;
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
      const { payload } = await jwtVerify(token, key, { algorithms, clockTolerance: CLOCK_SKEW_SECONDS });
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
}

function toJwtError(err: unknown): JwtError {
  if (err instanceof JwtError) return err;
  if (err instanceof joseErrors.JWTExpired) return new JwtError('jwt_expired', 'JWT expired');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new JwtError('jwt_invalid_signature', 'JWT signature is invalid');
  if (err instanceof joseErrors.JWTClaimValidationFailed) return new JwtError('jwt_invalid', `JWT claim "${err.claim}" is invalid`);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new JwtError('jwt_invalid', 'JWT algorithm is not allowed');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new JwtError('jwt_invalid_signature', 'No suitable key or wrong key type');
  return new JwtError('jwt_malformed', 'JWT cannot be decoded');
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^bearer\s+(.*)$/i.exec(authorization ?? '');
  return match ? match[1].trim() : undefined;
}
