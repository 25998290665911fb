/**
 * Google ID tokens for signInWithIdToken (GoTrue's provider.ParseIDToken over go-oidc):
 * signature against Google's published keys (GOOGLE_JWKS_URL, fetched and cached by jose's
 * remote key set), issuer https://accounts.google.com (or accounts.google.com, which go-oidc
 * accepts from Google too), expiry, and `at_hash` when an access token comes with it. The
 * audience and nonce are the grant's checks (auth/routes/token/id-token.ts).
 */
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Profile } from './external-users.ts';

export const GOOGLE_ISSUER = 'https://accounts.google.com';

const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
const keySetAt = (url: string) => {
  let set = keySets.get(url);
  if (!set) keySets.set(url, (set = createRemoteJWKSet(new URL(url), { timeoutDuration: 10_000 })));
  return set;
};

/** The claims of a Google ID token whose signature, issuer and lifetime hold; throws otherwise. */
export async function verifyGoogleIdToken(jwksUrl: string, idToken: string, accessToken?: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(idToken, keySetAt(jwksUrl), { issuer: [GOOGLE_ISSUER, 'accounts.google.com'], algorithms: ['RS256'] });
  if (accessToken && typeof payload.at_hash === 'string') {
    // OIDC Core 3.1.3.6: base64url of the left half of the access token's SHA-256.
    const digest = createHash('sha256').update(accessToken).digest();
    if (digest.subarray(0, digest.length / 2).toString('base64url') !== payload.at_hash) throw new Error('access token hash mismatch');
  }
  return payload;
}

/** The user data GoTrue takes from a Google ID token (parseGoogleIDToken). */
export function googleProfile(claims: JWTPayload): Profile {
  const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const email = str(claims.email)?.toLowerCase();
  const emailVerified = email !== undefined && (claims.email_verified === true || claims.email_verified === 'true');
  const sub = String(claims.sub);
  return {
    id: sub,
    email,
    emailVerified,
    data: {
      iss: claims.iss, sub, provider_id: sub, email, email_verified: emailVerified, phone_verified: false,
      name: str(claims.name), full_name: str(claims.name), picture: str(claims.picture), avatar_url: str(claims.picture),
      ...(str(claims.hd) ? { custom_claims: { hd: claims.hd } } : {}),
    },
  };
}
