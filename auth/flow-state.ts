/**
 * PKCE (protocols.md §2.9): a client sends `code_challenge` (S256 or plain); the flow state waits
 * for the link or OAuth callback, which gets an auth code (`?code=`); `POST /token?grant_type=pkce`
 * then trades code + `code_verifier` for a session, once. Auth codes are stored as sha256.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { AuthError, AUTH_ERRORS } from './errors.ts';
import { str, type Body } from './http.ts';

type Db = pg.Pool | pg.PoolClient;

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

export interface FlowStateRow {
  id: string;
  user_id: string | null;
  code_challenge: string | null;
  code_challenge_method: string | null;
  authentication_method: string;
  provider_type: string;
  provider_access_token: string | null;
  provider_refresh_token: string | null;
  provider_code_verifier: string | null;
  redirect_to: string | null;
  expired: boolean;
}

export async function createFlowState(
  db: Db,
  f: { challenge?: Challenge; authMethod: string; userId?: string | null; providerType?: string; oauthStateHash?: string; providerCodeVerifier?: string; redirectTo?: string },
): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into auth.flow_state (user_id, code_challenge, code_challenge_method, authentication_method, provider_type, oauth_state_hash, provider_code_verifier, redirect_to)
     values ($1, $2, $3, $4, $5, $6, $7, $8) returning id`,
    [f.userId ?? null, f.challenge?.challenge ?? null, f.challenge?.method ?? null, f.authMethod, f.providerType ?? 'email', f.oauthStateHash ?? null, f.providerCodeVerifier ?? null, f.redirectTo ?? null],
  );
  return rows[0].id;
}

/** Gives the flow an auth code for `userId` (a link was followed, a provider answered). */
export async function issueAuthCode(db: Db, flowStateId: string, userId: string, provider?: { accessToken?: string; refreshToken?: string }): Promise<string> {
  const code = randomUUID();
  const { rowCount } = await db.query(
    `update auth.flow_state set user_id = $2, auth_code_hash = $3, auth_code_issued_at = now(), updated_at = now(),
       provider_access_token = $4, provider_refresh_token = $5
     where id = $1`,
    [flowStateId, userId, sha256(code).toString('hex'), provider?.accessToken ?? null, provider?.refreshToken ?? null],
  );
  if (!rowCount) throw flowNotFound();
  return code;
}

const flowNotFound = () => new AuthError(404, 'flow_state_not_found', 'invalid flow state, no valid flow state found');

/** Checks code + verifier and ends the flow; returns it (user, method, provider tokens). */
export async function exchangeAuthCode(db: Db, authCode: string | undefined, verifier: string | undefined): Promise<FlowStateRow & { user_id: string }> {
  if (!authCode || !verifier) throw AUTH_ERRORS.validation('invalid request: both auth code and code verifier should be non-empty');
  const { rows } = await db.query<FlowStateRow>(
    `delete from auth.flow_state where auth_code_hash = $1
     returning *, coalesce(auth_code_issued_at, created_at) + make_interval(secs => $2) < now() as expired`,
    [sha256(authCode).toString('hex'), FLOW_STATE_TTL_SECONDS],
  );
  const flow = rows[0];
  if (!flow || !flow.user_id) throw flowNotFound();
  if (flow.expired) throw new AuthError(422, 'flow_state_expired', 'invalid flow state, flow state has expired');
  const expected = flow.code_challenge_method === 'plain' ? verifier : sha256(verifier).toString('base64url');
  if (!flow.code_challenge || !sameText(expected, flow.code_challenge)) {
    throw new AuthError(400, 'bad_code_verifier', 'code challenge does not match previously saved code verifier');
  }
  return flow as FlowStateRow & { user_id: string };
}

/**
 * Drops what can no longer be used (called now and then): flow states older than `maxAgeSeconds`
 * (an email link may wait that long for its click) and expired one-time tokens.
 */
export async function sweepFlowStates(db: Db, maxAgeSeconds: number): Promise<void> {
  await db.query(`delete from auth.flow_state where created_at < now() - make_interval(secs => $1)`, [maxAgeSeconds]);
  await db.query(`delete from auth.one_time_tokens where expires_at < now() - interval '1 day'`);
}
