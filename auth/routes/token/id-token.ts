/**
 * `grant_type=id_token` (signInWithIdToken), as GoTrue's IdTokenGrant (internal/api/token_oidc.go):
 * an ID token of Google, Apple, Azure or Facebook — with its client id set — is verified against
 * the provider's keys (auth/id-tokens.ts), its audience must be one of the client ids, and a nonce
 * sent must be the one the token carries (as sha256 hex; not for Facebook, as GoTrue); then the
 * token's account signs in (auth/external-users.ts), or with `link_identity` joins the signed-in
 * user (auth/linking.ts). Other providers answer GoTrue's refusal for a provider that is not
 * enabled, which depends on the provider named and the token's issuer.
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { JWTPayload } from 'jose';
import type { Config } from '../../../config/load.ts';
import type { AuthDeps } from '../../deps.ts';
import { AuthError, AUTH_ERRORS, OAuthError } from '../../errors.ts';
import { userForProfile } from '../../external-users.ts';
import { bodyOf, str } from '../../http.ts';
import { appleProfile, azureProfile, facebookProfile, GOOGLE_ISSUER, googleProfile, verifyIdToken } from '../../id-tokens.ts';
import type { Profile } from '../../external-users.ts';
import { linkProfile } from '../../linking.ts';
import { withTransaction, type UserRow } from '../../store/index.ts';

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

/** A provider an ID token may come from here: whose keys, which issuers and audiences, what user data. */
interface Resolved {
  name: 'google' | 'apple' | 'azure' | 'facebook';
  jwksUrl: string;
  issuers: string[];
  clientIds: string[];
  /** Facebook Limited Login: GoTrue skips the nonce check. */
  skipNonce: boolean;
  profile: (claims: JWTPayload) => Profile;
}

/**
 * GoTrue's getProvider: the configured provider the request names (by `provider`, or by `issuer`
 * with `client_id`) — Apple's and Azure's issuer detected from the token — or the refusal for
 * it, mostly `Provider (issuer "…") is not enabled`.
 */
function resolveProvider(config: Config, body: Record<string, unknown>): Resolved | AuthError {
  const idToken = str(body.id_token) ?? '';
  const name = str(body.provider) ?? '';
  const issuer = str(body.issuer) ?? '';
  const { apple, azure, facebook } = config.auth.idTokens;
  const disabled = (iss: string) => new AuthError(400, 'provider_disabled', `Provider (issuer ${quoted(iss)}) is not enabled`);
  const detect = (label: string, accept: (iss: string) => boolean): string | AuthError => {
    const iss = issuerOf(idToken);
    if (iss === undefined) return AUTH_ERRORS.validation(`Unable to detect issuer in ID token for ${label} provider`);
    if (!accept(iss)) return AUTH_ERRORS.validation(`Detected ID token issuer is not an ${label} ID token issuer`);
    if (issuer && issuer !== iss) return AUTH_ERRORS.validation('Provided issuer does not match ID token issuer');
    return iss;
  };
  if (name === 'apple' || APPLE_ISSUERS.includes(issuer)) {
    const iss = detect('Apple', (i) => APPLE_ISSUERS.includes(i));
    if (typeof iss !== 'string') return iss;
    // GoTrue skips go-oidc's issuer check for Apple: either of its issuers will do.
    return apple ? { name: 'apple', jwksUrl: apple.jwksUrl, issuers: APPLE_ISSUERS, clientIds: apple.clientIds, skipNonce: false, profile: appleProfile } : disabled(iss);
  }
  if (name === 'google' || issuer === ISSUERS.google) {
    const google = config.auth.oauth.google;
    return google ? { name: 'google', jwksUrl: config.auth.googleJwksUrl, issuers: [GOOGLE_ISSUER, 'accounts.google.com'], clientIds: [google.clientId], skipNonce: false, profile: googleProfile } : disabled(ISSUERS.google);
  }
  if (name === 'azure' || AZURE_ISSUER.test(issuer)) {
    const iss = detect('Azure', (i) => i.startsWith('https://login.microsoftonline.com/') || i.startsWith('https://sts.windows.net/'));
    if (typeof iss !== 'string') return iss;
    return azure ? { name: 'azure', jwksUrl: azure.jwksUrl, issuers: [iss], clientIds: azure.clientIds, skipNonce: false, profile: azureProfile } : disabled(iss);
  }
  if (name === 'facebook' || issuer === ISSUERS.facebook) {
    return facebook ? { name: 'facebook', jwksUrl: facebook.jwksUrl, issuers: [ISSUERS.facebook], clientIds: facebook.clientIds, skipNonce: true, profile: facebookProfile } : disabled(ISSUERS.facebook);
  }
  if (name === 'keycloak') return disabled('');
  for (const p of ['kakao', 'vercel_marketplace', 'snapchat']) if (name === p || issuer === ISSUERS[p]) return disabled(ISSUERS[p]);
  if (name.startsWith('custom:')) return AUTH_ERRORS.validation('Custom OAuth providers are disabled');
  return AUTH_ERRORS.validation(`Custom OIDC provider ${quoted(name)} not allowed`);
}

const invalid = (description: string) => new OAuthError('invalid request', description);

/** The signed-in user an ID token links to (`link_identity: true`), as GoTrue checks it. */
async function linkTarget(d: AuthDeps, req: FastifyRequest): Promise<UserRow> {
  if (!req.headers.authorization) throw invalid('Linking requires a valid user access token in Authorization');
  const { user } = await d.currentUser(req);
  if (!d.config.auth.manualLinking) throw AUTH_ERRORS.manualLinkingDisabled();
  return user;
}

/** GoTrue's nonce rule: both or neither; the token carries sha256 hex of the nonce sent. */
function checkNonce(sent: string, inToken: unknown): void {
  const tokenNonce = typeof inToken === 'string' ? inToken : '';
  if (!!tokenNonce !== !!sent) throw invalid('Passed nonce and nonce in id_token should either both exist or not.');
  if (sent && createHash('sha256').update(sent).digest('hex') !== tokenNonce) throw new OAuthError('invalid nonce', 'Nonces mismatch');
}

export async function idTokenGrant(d: AuthDeps, req: FastifyRequest) {
  // Google's client id (the ID token's audience) may be the dashboard's (core/auth-settings.ts).
  const config = await d.effectiveConfig();
  const body = bodyOf(req);
  const idToken = str(body.id_token) ?? '';
  if (!idToken) throw invalid('id_token required');
  if (!str(body.provider) && (!str(body.client_id) || !str(body.issuer))) throw invalid('provider or client_id and issuer required');
  const target = body.link_identity === true ? await linkTarget(d, req) : undefined;
  const p = resolveProvider(config, body);
  if (p instanceof AuthError) throw p;
  d.signinByIp.hit(req.ip);
  const claims = await verifyIdToken(p.jwksUrl, idToken, p.issuers, str(body.access_token)).catch((err: Error) => {
    req.log.info({ err: err.message, provider: p.name }, 'auth: ID token refused');
    throw invalid('Bad ID token');
  });
  if (!claims.sub) throw invalid('Missing sub claim in id_token');
  const audience = Array.isArray(claims.aud) ? claims.aud : claims.aud ? [claims.aud] : [];
  if (!audience.some((a) => p.clientIds.includes(a))) throw invalid(`Unacceptable audience in id_token: [${audience.join(' ')}]`);
  if (!p.skipNonce) checkNonce(str(body.nonce) ?? '', claims.nonce);
  const profile = p.profile(claims);
  const outcome = await withTransaction(d.pool, async (c) => {
    let user: UserRow;
    if (target) {
      const linked = await linkProfile(d, c, target.id, p.name, profile, config.auth.siteUrl);
      if ('afterCommit' in linked) return { refusal: linked.afterCommit };
      user = linked.user;
    } else {
      user = await userForProfile(c, p.name, profile);
    }
    return { session: await d.issue(c, user, 'oauth', req) };
  });
  if (outcome.refusal) throw outcome.refusal;
  return outcome.session;
}
