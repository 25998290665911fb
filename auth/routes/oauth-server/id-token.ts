/**
 * The OpenID Connect ID token of a code exchange with scope `openid` (GoTrue's GenerateIDToken):
 * audience the client, valid an hour, `auth_time` the user's last sign-in, the nonce of the
 * authorization request, and the claims of the scopes granted. Signed by the project's current
 * signing key (config/keys.ts; published in /.well-known/jwks.json) — never with the HS256 secret.
 */
import { SignJWT } from 'jose';
import type { Config } from '../../../config/load.ts';
import { signerFor } from '../../../config/keys.ts';
import type { UserRow } from '../../store/index.ts';

const unix = (d: Date) => Math.floor(d.getTime() / 1000);

/** What the `profile` scope shows of the user (ID token and userinfo alike). */
export function profileClaims(user: UserRow): Record<string, unknown> {
  const meta = user.raw_user_meta_data as Record<string, unknown>;
  const text = (k: string) => (typeof meta[k] === 'string' && meta[k] !== '' ? (meta[k] as string) : undefined);
  const claims: Record<string, unknown> = {
    name: text('name') ?? (user.email || undefined),
    picture: text('picture') ?? text('avatar_url'),
    preferred_username: text('preferred_username') ?? text('username'),
    updated_at: user.updated_at ? unix(user.updated_at) : undefined,
  };
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
  return claims;
}

export async function idToken(config: Config, user: UserRow, clientId: string, scopes: string[], nonce: string | null): Promise<string> {
  const signer = signerFor(config);
  if (signer.alg === 'HS256') throw new Error('ID tokens need an asymmetric signing key (JWT_SIGNING_KEYS)');
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    auth_time: user.last_sign_in_at ? unix(user.last_sign_in_at) : now,
    email_verified: false,
    phone_number_verified: false,
    client_id: clientId,
  };
  if (nonce) claims.nonce = nonce;
  if (scopes.includes('email')) {
    if (user.email) claims.email = user.email;
    claims.email_verified = !!user.email_confirmed_at;
  }
  if (scopes.includes('phone')) {
    if (user.phone) claims.phone_number = user.phone;
    claims.phone_number_verified = !!user.phone_confirmed_at;
  }
  if (scopes.includes('profile')) Object.assign(claims, profileClaims(user));
  return signer.sign(
    new SignJWT(claims).setIssuer(`${config.publicUrl}/auth/v1`).setSubject(user.id).setAudience([clientId]).setIssuedAt(now).setExpirationTime(now + 3600),
  );
}
