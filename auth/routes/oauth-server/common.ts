/**
 * What the OAuth 2.1 server's routes share (GoTrue's internal/api/oauthserver): the switch
 * (AUTH_OAUTH_SERVER_ENABLED), its errors, client secrets (base64url sha256, compared in constant
 * time), the client JSON of the admin API, and scopes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthDeps } from '../../deps.ts';
import { AuthError } from '../../errors.ts';
import { findOAuthClient, isUuid, type OAuthClientRow } from '../../store/oauth-server.ts';

export const OAUTH_SERVER_ERRORS = {
  disabled: () => new AuthError(404, 'feature_disabled', 'OAuth server is disabled'),
  dynamicRegistrationDisabled: () => new AuthError(403, 'oauth_dynamic_client_registration_disabled', 'Dynamic client registration is not enabled'),
  clientNotFound: () => new AuthError(404, 'oauth_client_not_found', 'OAuth client not found'),
  authorizationNotFound: () => new AuthError(404, 'oauth_authorization_not_found', 'authorization not found'),
  consentNotFound: () => new AuthError(404, 'oauth_consent_not_found', 'No active grant found for this client'),
  validation: (message: string) => new AuthError(400, 'validation_failed', message),
  /**
   * GoTrue's refusal of the token endpoint's client authentication (400 invalid_credentials),
   * with RFC 6749's `error: invalid_client` beside it for OAuth client libraries.
   */
  badClient: (message: string) => new AuthError(400, 'invalid_credentials', message, { error: 'invalid_client', error_description: message }),
} as const;

/** The feature switch every OAuth server route checks first (after admin or user authentication where GoTrue does those first). */
export function requireOAuthServer(d: AuthDeps): void {
  if (!d.config.auth.oauthServer.enabled) throw OAUTH_SERVER_ERRORS.disabled();
}

export const newClientSecret = () => randomBytes(32).toString('base64url');
export const hashClientSecret = (secret: string) => createHash('sha256').update(secret).digest('base64url');

export function clientSecretMatches(provided: string, storedHash: string | null): boolean {
  if (!storedHash) return false;
  const calc = createHash('sha256').update(provided).digest();
  const stored = Buffer.from(storedHash, 'base64url');
  return stored.length === calc.length && timingSafeEqual(calc, stored);
}

/** A client as GoTrue's OAuthServerClientResponse: empty strings and lists left out; the secret only when just made. */
export function clientJson(c: OAuthClientRow, secret?: string): Record<string, unknown> {
  const json: Record<string, unknown> = {
    client_id: c.id,
    client_secret: secret,
    client_type: c.client_type,
    redirect_uris: c.redirect_uris.length ? c.redirect_uris : undefined,
    token_endpoint_auth_method: c.token_endpoint_auth_method,
    grant_types: c.grant_types.length ? c.grant_types : undefined,
    response_types: ['code'],
    client_name: c.client_name || undefined,
    client_uri: c.client_uri || undefined,
    logo_uri: c.logo_uri || undefined,
    registration_type: c.registration_type,
    created_at: new Date(c.created_at).toISOString(),
    updated_at: new Date(c.updated_at).toISOString(),
  };
  for (const k of Object.keys(json)) if (json[k] === undefined) delete json[k];
  return json;
}

/** A client as the consent page and the grant list see it (GoTrue's ClientDetailsResponse). */
export function clientDetails(c: Pick<OAuthClientRow, 'id' | 'client_name' | 'client_uri' | 'logo_uri'>): Record<string, unknown> {
  const json: Record<string, unknown> = { id: c.id, name: c.client_name || undefined, uri: c.client_uri || undefined, logo_uri: c.logo_uri || undefined };
  for (const k of Object.keys(json)) if (json[k] === undefined) delete json[k];
  return json;
}

/** GoTrue's supported scopes (models.SupportedOAuthScopes). */
export const SUPPORTED_SCOPES = ['openid', 'profile', 'email', 'phone', 'offline_access'] as const;
/** The scope of a request without one (GoTrue's oauth_server.default_scope). */
export const DEFAULT_SCOPE = 'email';

export const parseScopes = (scope: string) => scope.split(' ').map((s) => s.trim()).filter(Boolean);
export const hasAllScopes = (granted: string[], requested: string[]) => requested.every((s) => granted.includes(s));

/** sha256 hex of an authorization code: the database keeps no usable code. */
export const hashCode = (code: string) => createHash('sha256').update(code).digest('hex');

/** The client of `/admin/oauth/clients/:client_id` (GoTrue's LoadOAuthServerClient). */
export async function clientOfPath(d: AuthDeps, params: unknown): Promise<OAuthClientRow> {
  const id = (params as { client_id?: string }).client_id ?? '';
  if (!id) throw OAUTH_SERVER_ERRORS.validation('client_id is required');
  if (!isUuid(id)) throw OAUTH_SERVER_ERRORS.validation('invalid client_id format');
  const client = await findOAuthClient(d.pool, id);
  if (!client) throw OAUTH_SERVER_ERRORS.clientNotFound();
  return client;
}

/** The OAuth token response of a GoTrue session response (no user). */
export function tokenResponse(s: { access_token: string; token_type: string; expires_in: number; refresh_token: string }, idToken?: string) {
  return { access_token: s.access_token, token_type: s.token_type, expires_in: s.expires_in, refresh_token: s.refresh_token, ...(idToken && { id_token: idToken }) };
}
