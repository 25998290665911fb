/**
 * `auth.flow_state`: PKCE and OAuth flows (auth/flow-state.ts decides what they mean). Auth codes
 * and OAuth states are stored as sha256 hex, never as sent.
 */
import type { Db } from './db.ts';

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
  /** Manual linking: the user the provider identity joins. */
  linking_target_id: string | null;
  expired: boolean;
}

export interface NewFlowState {
  userId: string | null;
  challenge: string | null;
  challengeMethod: string | null;
  authMethod: string;
  providerType: string;
  oauthStateHash: string | null;
  providerCodeVerifier: string | null;
  redirectTo: string | null;
  linkingTargetId: string | null;
}

export async function insertFlowState(db: Db, f: NewFlowState): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into auth.flow_state (user_id, code_challenge, code_challenge_method, authentication_method, provider_type, oauth_state_hash, provider_code_verifier, redirect_to, linking_target_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`,
    [f.userId, f.challenge, f.challengeMethod, f.authMethod, f.providerType, f.oauthStateHash, f.providerCodeVerifier, f.redirectTo, f.linkingTargetId],
  );
  return rows[0].id;
}

/** Gives the flow an auth code (its hash) for `userId`; false when the flow is gone. */
export async function setAuthCode(
  db: Db,
  flowStateId: string,
  userId: string,
  codeHash: string,
  provider: { accessToken: string | null; refreshToken: string | null },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update auth.flow_state set user_id = $2, auth_code_hash = $3, auth_code_issued_at = now(), updated_at = now(),
       provider_access_token = $4, provider_refresh_token = $5
     where id = $1`,
    [flowStateId, userId, codeHash, provider.accessToken, provider.refreshToken],
  );
  return !!rowCount;
}

/** Takes (deletes) the flow holding this auth code; `expired` once `ttlSeconds` passed since the code. */
export async function takeFlowStateByCode(db: Db, codeHash: string, ttlSeconds: number): Promise<FlowStateRow | undefined> {
  const { rows } = await db.query<FlowStateRow>(
    `delete from auth.flow_state where auth_code_hash = $1
     returning *, coalesce(auth_code_issued_at, created_at) + make_interval(secs => $2) < now() as expired`,
    [codeHash, ttlSeconds],
  );
  return rows[0];
}

/** The flow an OAuth callback's state names, its state cleared (single use); `expired` after `ttlSeconds`. */
export async function takeFlowStateByOAuthState(db: Db, stateHash: string, ttlSeconds: number): Promise<FlowStateRow | undefined> {
  const { rows } = await db.query<FlowStateRow>(
    `update auth.flow_state set oauth_state_hash = null, updated_at = now() where oauth_state_hash = $1
     returning *, created_at + make_interval(secs => $2) < now() as expired`,
    [stateHash, ttlSeconds],
  );
  return rows[0];
}

export async function deleteFlowState(db: Db, id: string): Promise<void> {
  await db.query(`delete from auth.flow_state where id = $1`, [id]);
}

/** Drops flow states older than `maxAgeSeconds` and one-time tokens expired for a day. */
export async function sweepFlowStates(db: Db, maxAgeSeconds: number): Promise<void> {
  await db.query(`delete from auth.flow_state where created_at < now() - make_interval(secs => $1)`, [maxAgeSeconds]);
  await db.query(`delete from auth.one_time_tokens where expires_at < now() - interval '1 day'`);
}
