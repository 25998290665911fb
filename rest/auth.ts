/**
 * Who a REST request runs as, the way PostgREST v13 decides it (§4 of the reference): no
 * `Authorization` header (or a non-Bearer scheme) → anon; a Bearer token must be a valid JWT,
 * and its `role` claim (default anon) becomes the request's role.
 */
import { bearerToken, JwtError, unsecuredJwtError, type JwtClaims, type JwtVerifier } from '../core/jwt.ts';
import { ERRORS } from './errors.ts';

export const ANON_ROLE = 'anon';

export interface RestCaller {
  role: string;
  /** Claims as stored in request.jwt.claims (role forced to the effective role). */
  claims: JwtClaims;
}

export async function authenticate(verifier: JwtVerifier, authorization: string | undefined): Promise<RestCaller> {
  const token = bearerToken(authorization);
  if (token === undefined) return { role: ANON_ROLE, claims: { role: ANON_ROLE } };
  if (token === '') throw ERRORS.jwt('Empty JWT is sent in Authorization header');
  let claims: JwtClaims;
  try {
    // The verifier remembers the gateway's verification of this token: a map lookup, not a second check.
    claims = await verifier.verify(token);
  } catch (err) {
    if (!(err instanceof JwtError)) throw err;
    // An unsecured token never verifies; only then is its header decoded for PostgREST's answer.
    const unsecured = unsecuredJwtError(token);
    if (unsecured) throw ERRORS.jwt(unsecured.message, unsecured.code, unsecured.details);
    switch (err.code) {
      case 'jwt_expired':
        throw ERRORS.jwt('JWT expired', 'PGRST303');
      case 'jwt_invalid':
        throw ERRORS.jwt(err.message, 'PGRST303');
      case 'jwt_invalid_signature':
        throw ERRORS.jwt('JWT cryptographic operation failed');
      default: {
        const parts = token.split('.').length;
        throw ERRORS.jwt(parts === 3 ? 'JWT cryptographic operation failed' : `Expected 3 parts in JWT; got ${parts}`);
      }
    }
  }
  const role = typeof claims.role === 'string' && claims.role ? claims.role : ANON_ROLE;
  return { role, claims: { ...claims, role } };
}
