/**
 * PKCE (RFC 7636, as GoTrue runs it): a client sends `code_challenge` (S256 or plain); the flow state waits
 * for the link or OAuth callback, which gets an auth code (`?code=`); `POST /token?grant_type=pkce`
 * then trades code + `code_verifier` for a session, once. Auth codes are stored as sha256.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { AuthError, AUTH_ERRORS } from './errors.ts';
import { str, type Body } from './http.ts';
import { insertFlowState, setAuthCode, takeFlowStateByCode, type Db, type FlowStateRow } from './store/index.ts';

/** How long a flow state (and its auth code) lives: GoTrue's 300 s. */
export const FLOW_STATE_TTL_SECONDS = 300;

export interface Challenge {
  challenge: string;
  method: 's256' | 'plain';
}

const CHALLENGE = /^[A-Za-z0-9._~-]{43,128}$/;
const sha256 = (s: string) => createHash('sha256').update(s).digest();
/** Constant-time comparison of two secrets (compared as sha256 digests: equal lengths). */
const sameText = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b));

/** The body's code_challenge, validated; undefined when the client uses the implicit flow. */
export function challengeOf(body: Body): Challenge | undefined {
  const challenge = str(body.code_challenge);
  const rawMethod = str(body.code_challenge_method);
  if (!challenge && !rawMethod) return undefined;
  if (!challenge || !rawMethod) throw AUTH_ERRORS.validation('PKCE flow requires code_challenge_method and code_challenge');
  const method = rawMethod.toLowerCase();
  if (method !== 's256' && method !== 'plain') throw AUTH_ERRORS.validation(`code challenge method not supported: ${rawMethod}`);
  if (!CHALLENGE.test(challenge)) throw AUTH_ERRORS.validation('code challenge has to be between 43 and 128 characters of [A-Za-z0-9._~-]');
  return { challenge, method };
}

export async function createFlowState(
  db: Db,
  f: { challenge?: Challenge; authMethod: string; userId?: string | null; providerType?: string; oauthStateHash?: string; providerCodeVerifier?: string; redirectTo?: string; linkingTargetId?: string },
): Promise<string> {
  return insertFlowState(db, {
    userId: f.userId ?? null,
    challenge: f.challenge?.challenge ?? null,
    challengeMethod: f.challenge?.method ?? null,
    authMethod: f.authMethod,
    providerType: f.providerType ?? 'email',
    oauthStateHash: f.oauthStateHash ?? null,
    providerCodeVerifier: f.providerCodeVerifier ?? null,
    redirectTo: f.redirectTo ?? null,
    linkingTargetId: f.linkingTargetId ?? null,
  });
}

/** Gives the flow an auth code for `userId` (a link was followed, a provider answered). */
export async function issueAuthCode(db: Db, flowStateId: string, userId: string, provider?: { accessToken?: string; refreshToken?: string }): Promise<string> {
  const code = randomUUID();
  const found = await setAuthCode(db, flowStateId, userId, sha256(code).toString('hex'), {
    accessToken: provider?.accessToken ?? null,
    refreshToken: provider?.refreshToken ?? null,
  });
  if (!found) throw flowNotFound();
  return code;
}

const flowNotFound = () => new AuthError(404, 'flow_state_not_found', 'invalid flow state, no valid flow state found');

/** Checks code + verifier and ends the flow; returns it (user, method, provider tokens). */
export async function exchangeAuthCode(db: Db, authCode: string | undefined, verifier: string | undefined): Promise<FlowStateRow & { user_id: string }> {
  if (!authCode || !verifier) throw AUTH_ERRORS.validation('invalid request: both auth code and code verifier should be non-empty');
  const flow = await takeFlowStateByCode(db, sha256(authCode).toString('hex'), FLOW_STATE_TTL_SECONDS);
  if (!flow || !flow.user_id) throw flowNotFound();
  if (flow.expired) throw new AuthError(422, 'flow_state_expired', 'invalid flow state, flow state has expired');
  const expected = flow.code_challenge_method === 'plain' ? verifier : sha256(verifier).toString('base64url');
  if (!flow.code_challenge || !sameText(expected, flow.code_challenge)) {
    throw new AuthError(400, 'bad_code_verifier', 'code challenge does not match previously saved code verifier');
  }
  return flow as FlowStateRow & { user_id: string };
}
