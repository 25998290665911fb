/**
 * ID tokens for signInWithIdToken (GoTrue's provider.ParseIDToken over go-oidc): signature
 * against the provider's published keys (GOOGLE_/APPLE_/AZURE_/FACEBOOK_JWKS_URL, fetched and
 * cached by jose's remote key set), issuer, expiry, and `at_hash` when an access token comes with
 * it; then the user data GoTrue takes from each provider's claims (internal/api/provider/oidc.go:
 * parseGoogleIDToken, parseAppleIDToken, parseAzureIDToken, parseFacebookIDToken). Google's
 * issuer is https://accounts.google.com (or accounts.google.com, which go-oidc accepts from
 * Google too). The audience and nonce are the grant's checks (auth/routes/token/id-token.ts).
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

/** The claims of an ID token whose signature (RS256 or ES256), issuer and lifetime hold; throws otherwise. */
export async function verifyIdToken(jwksUrl: string, idToken: string, issuers: string[], accessToken?: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(idToken, keySetAt(jwksUrl), { issuer: issuers, algorithms: ['RS256', 'ES256'] });
  if (accessToken && typeof payload.at_hash === 'string') {
    // OIDC Core 3.1.3.6: base64url of the left half of the access token's SHA-256.
    const digest = createHash('sha256').update(accessToken).digest();
    if (digest.subarray(0, digest.length / 2).toString('base64url') !== payload.at_hash) throw new Error('access token hash mismatch');
  }
  return payload;
}

export const verifyGoogleIdToken = (jwksUrl: string, idToken: string, accessToken?: string) => verifyIdToken(jwksUrl, idToken, [GOOGLE_ISSUER, 'accounts.google.com'], accessToken);

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

const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

/** parseAppleIDToken: the address is verified; is_private_email, auth_time and transfer_sub are custom claims. */
export function appleProfile(claims: JWTPayload): Profile {
  const sub = String(claims.sub);
  const email = text(claims.email)?.toLowerCase();
  const custom = Object.fromEntries((['is_private_email', 'auth_time', 'transfer_sub'] as const).filter((k) => claims[k] !== undefined && claims[k] !== '').map((k) => [k, claims[k]]));
  return {
    id: sub,
    email,
    emailVerified: email !== undefined,
    data: { iss: claims.iss, sub, provider_id: sub, email, email_verified: email !== undefined, phone_verified: false, ...(Object.keys(custom).length ? { custom_claims: custom } : {}) },
  };
}

/** Azure's xms_edov rule (AzureIDTokenClaims.IsEmailVerified): absent, an address is verified; else it must say true ("1", "true" or true). */
function azureEmailVerified(claims: JWTPayload, email: string | undefined): boolean {
  const edov = claims.xms_edov;
  if (edov === undefined || edov === null) return email !== undefined;
  return email !== undefined && (edov === true || edov === '1' || edov === 'true');
}

/** Claims parseAzureIDToken leaves out of custom_claims. */
const AZURE_STANDARD = new Set(['aud', 'iss', 'iat', 'nbf', 'exp', 'c_hash', 'at_hash', 'aio', 'nonce', 'rh', 'uti', 'jti', 'ver', 'sub', 'name', 'preferred_username']);

/** parseAzureIDToken: name, preferred_username, the address verified by xms_edov, the rest as custom claims. */
export function azureProfile(claims: JWTPayload): Profile {
  const sub = String(claims.sub);
  const email = text(claims.email)?.toLowerCase();
  const verified = azureEmailVerified(claims, email);
  const custom = Object.fromEntries(Object.entries(claims).filter(([k]) => !AZURE_STANDARD.has(k)));
  return {
    id: sub,
    email,
    emailVerified: verified,
    data: {
      iss: claims.iss, sub, provider_id: sub, email, email_verified: verified, phone_verified: false,
      full_name: text(claims.name), preferred_username: text(claims.preferred_username),
      ...(Object.keys(custom).length ? { custom_claims: custom } : {}),
    },
  };
}

/** parseFacebookIDToken: Limited Login addresses are verified; name and picture. */
export function facebookProfile(claims: JWTPayload): Profile {
  const sub = String(claims.sub);
  const email = text(claims.email)?.toLowerCase();
  return {
    id: sub,
    email,
    emailVerified: email !== undefined,
    data: { iss: claims.iss, sub, provider_id: sub, email, email_verified: email !== undefined, phone_verified: false, name: text(claims.name), picture: text(claims.picture) },
  };
}
