/**
 * Sign-in with Google and GitHub (signInWithOAuth): `GET /authorize?provider=&redirect_to=`
 * stores a flow state (a random `state`, kept as sha256, our PKCE verifier towards the provider,
 * the client's own code_challenge when it uses PKCE) and redirects to the provider;
 * `GET /callback` checks the state, trades the code (oauth4webapi, PKCE), reads the profile and
 * signs the user in: the same identity again, or linked to an existing user by a verified email,
 * or a new user. The browser then goes to redirect_to with `?code=` (PKCE) or the session in the
 * fragment (implicit), provider tokens included.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as oauth from 'oauth4webapi';
import type { Config, OAuthProviderConfig } from '../../config/load.ts';
import { asAuthError, AuthError, AUTH_ERRORS, redirectErrorName } from '../errors.ts';
import type { AuthDeps } from '../deps.ts';
import { challengeOf, createFlowState, FLOW_STATE_TTL_SECONDS, issueAuthCode } from '../flow-state.ts';
import { queryOf, str } from '../http.ts';
import { clean, userForProfile, type Profile } from '../external-users.ts';
import { linkProfile } from '../linking.ts';
import { errorRedirect, safeRedirect, withQuery, withSessionFragment } from '../redirects.ts';
import { deleteFlowState, sweepFlowStates, takeFlowStateByOAuthState, withTransaction, type UserRow } from '../store/index.ts';

const PROVIDERS = ['google', 'github'] as const;
type ProviderName = (typeof PROVIDERS)[number];

interface Provider {
  name: ProviderName;
  cfg: OAuthProviderConfig;
  scopes: string;
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  profile(tokens: oauth.TokenEndpointResponse): Promise<Profile>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const httpOptions = (url: string) => ({ [oauth.allowInsecureRequests]: url.startsWith('http:'), signal: AbortSignal.timeout(10_000) });

function provider(config: Config, name: string): Provider | undefined {
  if (name !== 'google' && name !== 'github') return undefined;
  const cfg = config.auth.oauth[name];
  if (!cfg) return undefined;
  const client: oauth.Client = { client_id: cfg.clientId };
  if (name === 'google') {
    const as: oauth.AuthorizationServer = {
      issuer: new URL(cfg.authorizeUrl).origin,
      authorization_endpoint: cfg.authorizeUrl,
      token_endpoint: cfg.tokenUrl,
      userinfo_endpoint: cfg.apiUrl,
    };
    return {
      name, cfg, as, client, scopes: 'openid email profile',
      async profile(tokens) {
        const claims = oauth.getValidatedIdTokenClaims(tokens);
        const res = await oauth.userInfoRequest(as, client, tokens.access_token, httpOptions(cfg.apiUrl));
        const info = await oauth.processUserInfoResponse(as, client, claims?.sub ?? oauth.skipSubjectCheck, res);
        const email = typeof info.email === 'string' ? info.email.toLowerCase() : undefined;
        const verified = info.email_verified === true;
        return {
          id: info.sub,
          email,
          emailVerified: verified,
          data: {
            iss: as.issuer, sub: info.sub, provider_id: info.sub, email, email_verified: verified, phone_verified: false,
            name: info.name, full_name: info.name, picture: info.picture, avatar_url: info.picture,
          },
        };
      },
    };
  }
  const as: oauth.AuthorizationServer = { issuer: new URL(cfg.authorizeUrl).origin, authorization_endpoint: cfg.authorizeUrl, token_endpoint: cfg.tokenUrl };
  return {
    name, cfg, as, client, scopes: 'read:user user:email',
    async profile(tokens) {
      const get = async (path: string) => {
        const url = new URL(`${cfg.apiUrl}${path}`);
        const res = await oauth.protectedResourceRequest(tokens.access_token, 'GET', url, new Headers({ accept: 'application/vnd.github+json' }), null, httpOptions(url.href));
        if (!res.ok) throw new Error(`GitHub ${path} answered ${res.status}`);
        return res.json();
      };
      const user = (await get('/user')) as Record<string, unknown>;
      const emails = (await get('/user/emails')) as { email: string; primary: boolean; verified: boolean }[];
      const primary = emails.find((e) => e.primary && e.verified) ?? emails.find((e) => e.verified) ?? emails[0];
      const id = String(user.id);
      const email = primary?.email?.toLowerCase();
      return {
        id,
        email,
        emailVerified: primary?.verified === true,
        data: {
          iss: cfg.apiUrl, sub: id, provider_id: id, email, email_verified: primary?.verified === true, phone_verified: false,
          name: user.name, full_name: user.name, user_name: user.login, preferred_username: user.login, avatar_url: user.avatar_url,
        },
      };
    },
  };
}

/** The OAuth providers GoTrue knows: those not configured answer "provider is not enabled". */
const GOTRUE_PROVIDERS = new Set([
  'apple', 'azure', 'bitbucket', 'discord', 'facebook', 'figma', 'fly', 'github', 'gitlab', 'google', 'kakao', 'keycloak', 'linkedin',
  'linkedin_oidc', 'notion', 'snapchat', 'spotify', 'slack', 'slack_oidc', 'twitch', 'twitter', 'x', 'vercel_marketplace', 'workos', 'zoom',
]);

/** GoTrue's refusal of `/authorize?provider=` for a provider that cannot be used here. */
function unsupportedProvider(name: string): AuthError {
  const why = name.startsWith('custom:')
    ? 'custom OAuth providers are disabled'
    : GOTRUE_PROVIDERS.has(name) ? 'provider is not enabled' : `Provider ${name} could not be found`;
  return AUTH_ERRORS.validation(`Unsupported provider: ${why}`);
}

/** `external` of GET /settings: which providers are configured. */
export function enabledProviders(config: Config): Record<ProviderName, boolean> {
  return { google: !!config.auth.oauth.google, github: !!config.auth.oauth.github };
}

const callbackUrl = (config: Config) => `${config.publicUrl}/auth/v1/callback`;

/** GET /authorize?provider=&redirect_to=&scopes= (signInWithOAuth): to the provider, with a new flow state. */
export async function authorize(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  return toProvider(d, req, reply);
}

/**
 * To the provider with a new flow state (a JSON `{url}` with skip_http_redirect=true); with
 * `linkingTargetId` the callback links the identity to that user (linkIdentity).
 */
export async function toProvider(d: AuthDeps, req: FastifyRequest, reply: FastifyReply, linkingTargetId?: string) {
  const { pool } = d;
  const config = await d.effectiveConfig();
  const q = queryOf(req);
  const name = (str(q.provider) ?? '').toLowerCase();
  const p = provider(config, name);
  if (!p) throw unsupportedProvider(name);
  const challenge = challengeOf(q);
  const redirectTo = safeRedirect(config, str(q.redirect_to));
  const state = oauth.generateRandomState();
  const verifier = oauth.generateRandomCodeVerifier();
  await sweepFlowStates(pool, Math.max(86_400, config.auth.otpExp + FLOW_STATE_TTL_SECONDS));
  await createFlowState(pool, { challenge, authMethod: 'oauth', providerType: name, oauthStateHash: sha256(state), providerCodeVerifier: verifier, redirectTo, linkingTargetId });
  const url = new URL(p.cfg.authorizeUrl);
  const scopes = [...new Set([...p.scopes.split(' '), ...(str(q.scopes) ?? '').split(/[\s,]+/).filter(Boolean)])].join(' ');
  url.searchParams.set('client_id', p.cfg.clientId);
  url.searchParams.set('redirect_uri', callbackUrl(config));
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', scopes);
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  if (q.skip_http_redirect === 'true') return { url: url.href };
  return reply.code(302).header('location', url.href).header('cache-control', 'no-store').send();
}

/** GET /callback: the provider's answer; every outcome, errors included, is a redirect to redirect_to. */
export async function callback(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const { pool } = d;
  const config = await d.effectiveConfig();
  const q = queryOf(req);
  const state = str(q.state);
  // The flow the state names (single use: the state is cleared).
  const flow = state ? await takeFlowStateByOAuthState(pool, sha256(state), FLOW_STATE_TTL_SECONDS * 2) : undefined;
  const target = flow?.redirect_to ? safeRedirect(config, flow.redirect_to) : config.auth.siteUrl;
  const pkce = !!flow?.code_challenge;
  const fail = (error: string, code: string, description: string) => {
    if (flow) void deleteFlowState(pool, flow.id).catch(() => undefined);
    return reply.code(303).header('location', errorRedirect(target, { error, code, description }, pkce)).send();
  };
  if (!flow) return fail('invalid_request', 'bad_oauth_state', 'OAuth state parameter missing or invalid');
  if (flow.expired) return fail('invalid_request', 'flow_state_expired', 'OAuth flow has expired');
  if (str(q.error)) return fail(str(q.error)!, 'oauth_provider_error', str(q.error_description) ?? 'The provider refused the sign-in');
  const p = provider(config, flow.provider_type);
  if (!p || !flow.provider_code_verifier) return fail('invalid_request', 'bad_oauth_state', 'OAuth provider is not configured');
  let tokens: oauth.TokenEndpointResponse;
  let profile: Profile;
  try {
    const params = oauth.validateAuthResponse(p.as, p.client, new URLSearchParams(q as Record<string, string>), oauth.skipStateCheck);
    const res = await oauth.authorizationCodeGrantRequest(p.as, p.client, oauth.ClientSecretPost(p.cfg.clientSecret), params, callbackUrl(config), flow.provider_code_verifier, httpOptions(p.cfg.tokenUrl));
    tokens = await oauth.processAuthorizationCodeResponse(p.as, p.client, res);
    profile = await p.profile(tokens);
  } catch (err) {
    req.log.warn({ err, provider: p.name }, 'auth: OAuth code exchange failed');
    return fail('server_error', 'bad_oauth_callback', 'Unable to exchange the code with the provider');
  }
  try {
    const outcome = await withTransaction(pool, async (c) => {
      let user: UserRow;
      if (flow.linking_target_id) {
        const linked = await linkProfile(d, c, flow.linking_target_id, p.name, { ...profile, data: clean(profile.data) }, target);
        if ('afterCommit' in linked) return { refusal: linked.afterCommit };
        user = linked.user;
      } else {
        user = await userForProfile(c, p.name, profile);
      }
      const providerTokens = { accessToken: tokens.access_token, refreshToken: tokens.refresh_token };
      if (pkce) return { location: withQuery(target, { code: await issueAuthCode(c, flow.id, user.id, providerTokens) }) };
      await deleteFlowState(c, flow.id);
      const s = await d.issue(c, user, 'oauth', req);
      return { location: withSessionFragment(target, s, {
        provider_token: tokens.access_token,
        ...(tokens.refresh_token ? { provider_refresh_token: tokens.refresh_token } : {}),
      }) };
    });
    if (outcome.refusal) return fail(redirectErrorName(outcome.refusal), outcome.refusal.code, outcome.refusal.message);
    return reply.code(303).header('location', outcome.location!).header('cache-control', 'no-store').send();
  } catch (err) {
    const e = asAuthError(err);
    if (!(err instanceof AuthError)) req.log[e.status === 503 ? 'warn' : 'error']({ err }, 'auth: OAuth sign-in failed');
    return fail(redirectErrorName(e), e.code, e.message);
  }
}
