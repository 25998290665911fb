/**
 * What auth hands out: the User JSON auth-js reads, access tokens with GoTrue's
 * claims plus the tenant, and GoTrue's session responses.
 */
import { SignJWT } from 'jose';
import type { Config } from '../config/load.ts';
import { signerFor } from '../config/keys.ts';
import type { FactorRow, IdentityRow, SessionRow, UserRow } from './store/index.ts';

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : undefined);

/** App metadata as the token and the user JSON show it: the tenant included. */
export function appMetadata(user: UserRow): Record<string, unknown> {
  return user.tenant_id ? { ...user.raw_app_meta_data, tenant_id: user.tenant_id } : user.raw_app_meta_data;
}

/** A factor as GoTrue's models.Factor marshals it (no secret). */
export function factorJson(f: FactorRow): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: f.id,
    friendly_name: f.friendly_name || undefined,
    factor_type: f.factor_type,
    status: f.status,
    created_at: iso(f.created_at),
    updated_at: iso(f.updated_at),
    phone: f.phone ?? '',
    last_challenged_at: iso(f.last_challenged_at) ?? null,
  };
  if (f.web_authn_aaguid) json.web_authn_aaguid = f.web_authn_aaguid;
  if (json.friendly_name === undefined) delete json.friendly_name;
  return json;
}

/** The User JSON auth-js reads; `factors` appear once the user has any (GoTrue's omitempty). */
export function userJson(user: UserRow, identities: IdentityRow[], factors: FactorRow[] = []): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: user.id,
    aud: user.aud,
    role: user.role,
    email: user.email ?? '',
    email_confirmed_at: iso(user.email_confirmed_at),
    phone: user.phone ?? '',
    phone_confirmed_at: iso(user.phone_confirmed_at),
    confirmation_sent_at: iso(user.confirmation_sent_at),
    confirmed_at: iso(user.email_confirmed_at ?? user.phone_confirmed_at),
    recovery_sent_at: iso(user.recovery_sent_at),
    new_email: user.email_change ?? undefined,
    email_change_sent_at: iso(user.email_change_sent_at),
    new_phone: user.phone_change || undefined,
    phone_change_sent_at: iso(user.phone_change_sent_at),
    invited_at: iso(user.invited_at),
    last_sign_in_at: iso(user.last_sign_in_at),
    app_metadata: appMetadata(user),
    user_metadata: user.email_confirmed_at ? { ...user.raw_user_meta_data, email_verified: true } : user.raw_user_meta_data,
    identities: identities.map((i) => ({
      identity_id: i.id,
      id: i.provider_id,
      user_id: i.user_id,
      identity_data: i.identity_data,
      provider: i.provider,
      last_sign_in_at: iso(i.last_sign_in_at),
      created_at: iso(i.created_at),
      updated_at: iso(i.updated_at),
      email: i.email ?? undefined,
    })),
    created_at: iso(user.created_at),
    updated_at: iso(user.updated_at),
    banned_until: iso(user.banned_until),
    is_anonymous: user.is_anonymous,
    tenant_id: user.tenant_id ?? undefined,
    factors: factors.length ? factors.map(factorJson) : undefined,
  };
  for (const k of Object.keys(json)) if (json[k] === undefined) delete json[k];
  return json;
}

export interface IssuedSession {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  expires_at: number;
  refresh_token: string;
  user: Record<string, unknown>;
}

/**
 * The tenant an access token names (auth/tenancy.ts decides it): the active tenant, the caller's
 * role there (`tenant_role`; `super_admin` for a platform super-admin who is no member) and
 * whether the user is a platform super-admin (`is_super_admin: true`).
 */
export interface TokenTenant {
  tenantId: string | null;
  role?: string;
  superAdmin: boolean;
}

export async function accessToken(config: Config, user: UserRow, session: SessionRow, tenant?: TokenTenant): Promise<{ token: string; exp: number }> {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + config.auth.accessTokenTtl;
  const claims: Record<string, unknown> = {
    email: user.email ?? '',
    phone: user.phone ?? '',
    app_metadata: appMetadata(user),
    user_metadata: user.raw_user_meta_data,
    role: user.role,
    aal: session.aal,
    amr: session.amr,
    session_id: session.id,
    is_anonymous: user.is_anonymous,
  };
  if (tenant) {
    const meta = { ...user.raw_app_meta_data };
    delete meta.tenant_id;
    claims.app_metadata = tenant.tenantId ? { ...meta, tenant_id: tenant.tenantId } : meta;
    if (tenant.tenantId) claims.tenant_id = tenant.tenantId;
    if (tenant.tenantId && tenant.role) claims.tenant_role = tenant.role;
    if (tenant.superAdmin) claims.is_super_admin = true;
  } else if (user.tenant_id) claims.tenant_id = user.tenant_id;
  // A session an OAuth client started (GoTrue's client_id and scope claims).
  if (session.oauth_client_id) claims.client_id = session.oauth_client_id;
  if (session.scopes) claims.scope = session.scopes;
  const token = await signerFor(config).sign(
    new SignJWT(claims).setIssuer(`${config.publicUrl}/auth/v1`).setSubject(user.id).setAudience('authenticated').setIssuedAt(now).setExpirationTime(exp),
  );
  return { token, exp };
}

export async function sessionResponse(
  config: Config,
  user: UserRow,
  identities: IdentityRow[],
  session: SessionRow,
  refreshToken: string,
  factors: FactorRow[] = [],
  tenant?: TokenTenant,
): Promise<IssuedSession> {
  const { token, exp } = await accessToken(config, user, session, tenant);
  return {
    access_token: token,
    token_type: 'bearer',
    expires_in: exp - Math.floor(Date.now() / 1000),
    expires_at: exp,
    refresh_token: refreshToken,
    user: userJson(user, identities, factors),
  };
}
