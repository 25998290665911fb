/**
 * `grant_type=id_token` (signInWithIdToken): GoTrue's answers up to its provider check. No
 * provider is enabled for ID tokens in this build, so every request ends in a refusal — which
 * one depends on the provider the request names and the issuer its token carries.
 */
import type { FastifyRequest } from 'fastify';
import type { Config } from '../../../config/load.ts';
import type { AuthDeps } from '../../deps.ts';
import { AuthError, AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';

/** Go's %q of a string, near enough (JSON's escaping). */
const quoted = (s: string) => JSON.stringify(s);

/** The `iss` of an ID token's payload, unverified (as GoTrue reads it to pick Apple's or Azure's issuer). */
function issuerOf(idToken: string): string | undefined {
  const parts = idToken.split('.');
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]*$/.test(parts[1])) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (payload === null) return '';
    if (typeof payload !== 'object' || Array.isArray(payload)) return undefined;
    const iss = (payload as Record<string, unknown>).iss;
    return iss === undefined || iss === null ? '' : typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

const ISSUERS: Record<string, string> = {
  google: 'https://accounts.google.com',
  facebook: 'https://www.facebook.com',
  kakao: 'https://kauth.kakao.com',
  vercel_marketplace: 'https://marketplace.vercel.com',
  snapchat: 'https://accounts.snapchat.com/accounts/oauth2/token',
};
const APPLE_ISSUERS = ['https://appleid.apple.com', 'https://account.apple.com'];
const AZURE_ISSUER = /^https:\/\/login[.]microsoftonline[.]com\/([^/]+)\/v2[.]0\/?$/;

/**
 * signInWithIdToken (`grant_type=id_token`): GoTrue's answers up to the provider check — the
 * provider each request names (by `provider`, or by `issuer` with `client_id`) and, none being
 * enabled for ID tokens here, `Provider (issuer "…") is not enabled`. A configured Google gets
 * "not implemented" (verifying Google's ID tokens is not built yet).
 */
function idTokenRefusal(config: Config, body: Record<string, unknown>): AuthError {
  const idToken = str(body.id_token) ?? '';
  const name = str(body.provider) ?? '';
  const issuer = str(body.issuer) ?? '';
  if (!idToken) return AUTH_ERRORS.validation('id_token required');
  if (!name && (!str(body.client_id) || !issuer)) return AUTH_ERRORS.validation('provider or client_id and issuer required');
  const disabled = (iss: string) => new AuthError(400, 'provider_disabled', `Provider (issuer ${quoted(iss)}) is not enabled`);
  const detected = (label: string, accept: (iss: string) => boolean) => {
    const iss = issuerOf(idToken);
    if (iss === undefined) return AUTH_ERRORS.validation(`Unable to detect issuer in ID token for ${label} provider`);
    if (!accept(iss)) return AUTH_ERRORS.validation(`Detected ID token issuer is not an ${label} ID token issuer`);
    if (issuer && issuer !== iss) return AUTH_ERRORS.validation('Provided issuer does not match ID token issuer');
    return disabled(iss);
  };
  if (name === 'apple' || APPLE_ISSUERS.includes(issuer)) return detected('Apple', (iss) => APPLE_ISSUERS.includes(iss));
  if (name === 'google' || issuer === ISSUERS.google) {
    return config.auth.oauth.google ? AUTH_ERRORS.notImplemented('grant_type=id_token') : disabled(ISSUERS.google);
  }
  if (name === 'azure' || AZURE_ISSUER.test(issuer)) {
    return detected('Azure', (iss) => iss.startsWith('https://login.microsoftonline.com/') || iss.startsWith('https://sts.windows.net/'));
  }
  if (name === 'facebook' || issuer === ISSUERS.facebook) return disabled(ISSUERS.facebook);
  if (name === 'keycloak') return disabled('');
  for (const p of ['kakao', 'vercel_marketplace', 'snapchat']) if (name === p || issuer === ISSUERS[p]) return disabled(ISSUERS[p]);
  if (name.startsWith('custom:')) return AUTH_ERRORS.validation('Custom OAuth providers are disabled');
  return AUTH_ERRORS.validation(`Custom OIDC provider ${quoted(name)} not allowed`);
}

export async function idTokenGrant(d: AuthDeps, req: FastifyRequest): Promise<never> {
  throw idTokenRefusal(d.config, bodyOf(req));
}
