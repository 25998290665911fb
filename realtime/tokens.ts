/**
 * Tokens as realtime takes them (at connect, in a join's or refresh's `access_token`): they must
 * verify, carry `role` and `exp` (as Supabase Realtime requires), and name an API role, as at the
 * edge for REST and GraphQL — a token reaching realtime without the edge gets no other role.
 * Refusals carry Supabase Realtime's reason codes (join replies read `<code>: <message>`).
 * A token given in a join or a refresh is also admitted as the edge admits a request's
 * (core/protocol-admission.ts): service_role only from ADMIN_IP_ALLOWLIST, a foreign
 * super-admin's use audited first.
 */
import { createJwtVerifier, JwtError, type JwtClaims } from '../core/jwt.ts';
import { isApiRole } from '../core/caller.ts';
import { PROTOCOL_REFUSALS, type ProtocolAdmission, type ProtocolRefusal, type ProtocolUse } from '../core/protocol-admission.ts';

export class TokenRefused extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The database is away: REST endpoints answer 503, joins an error reply. */
export class DatabaseUnavailable extends Error {}

/** Seconds since the (unverified) token's `exp`, for "Token has expired N seconds ago". */
function secondsExpired(token: string): number {
  try {
    const exp = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).exp;
    return typeof exp === 'number' ? Math.max(0, Math.round(Date.now() / 1000 - exp)) : 0;
  } catch {
    return 0;
  }
}

export function tokenRefusal(err: unknown, token: string): TokenRefused {
  if (err instanceof TokenRefused) return err;
  if (err instanceof JwtError && err.code === 'jwt_expired') return new TokenRefused('InvalidJWTToken', `Token has expired ${secondsExpired(token)} seconds ago`);
  if (err instanceof JwtError && err.code === 'jwt_invalid_signature') return new TokenRefused('JwtSignatureError', 'Failed to validate JWT signature');
  return new TokenRefused('MalformedJWT', 'The token provided is not a valid JWT');
}

/** Realtime's reason codes for the protocol refusals (not Supabase's: it has no allowlist). */
const REFUSAL_CODES: Record<ProtocolRefusal, string> = { address_not_allowed: 'AddressNotAllowed', not_audited: 'AuditUnavailable' };

export interface RealtimeTokens {
  /**
   * A channel token (connect, join, refresh); throws TokenRefused. With `use` (a join's or a
   * refresh's token: the edge saw only the upgrade's), it is also admitted.
   */
  channel(token: string, use?: ProtocolUse): Promise<JwtClaims>;
  /** The caller of a REST request (the broadcast endpoints): any valid token of an API role, else undefined. */
  caller(token: string): Promise<JwtClaims | undefined>;
}

export function realtimeTokens(secret: string, jwks: Parameters<typeof createJwtVerifier>[1], admission?: ProtocolAdmission): RealtimeTokens {
  const verifier = createJwtVerifier(secret, jwks);
  return {
    async channel(token, use) {
      let claims: JwtClaims;
      try {
        claims = await verifier.verify(token);
      } catch (err) {
        throw tokenRefusal(err, token);
      }
      if (typeof claims.role !== 'string' || typeof claims.exp !== 'number') throw new TokenRefused('InvalidJWTToken', 'Fields `role` and `exp` are required in JWT');
      if (!isApiRole(claims.role)) throw new TokenRefused('InvalidJWTToken', `Role "${claims.role}" is not allowed`);
      const refusal = use && admission ? await admission.admit(claims, use) : undefined;
      if (refusal) throw new TokenRefused(REFUSAL_CODES[refusal], PROTOCOL_REFUSALS[refusal]);
      return claims;
    },
    async caller(token) {
      const claims = await verifier.verify(token).then((c) => c, () => undefined);
      return claims && isApiRole(claims.role) ? claims : undefined;
    },
  };
}
