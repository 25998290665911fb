/**
 * Sessions and their refresh-token family: a session per sign-in, one live refresh token per
 * session, rotated on each refresh with the previous one kept (revoked) as the child's parent,
 * so a replayed token is recognised.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Db } from './db.ts';

export interface SessionRow {
  id: string;
  user_id: string;
  aal: string;
  amr: { method: string; timestamp: number }[];
  not_after: Date | null;
  created_at: Date;
  /** The OAuth client that started the session (auth/routes/oauth-server/), with the scopes granted. */
  oauth_client_id?: string | null;
  scopes?: string | null;
}

export const newRefreshToken = () => randomBytes(24).toString('base64url');

export async function createSession(client: pg.PoolClient, userId: string, amrMethod: string, ttlSeconds: number, userAgent?: string): Promise<{ session: SessionRow; refreshToken: string }> {
  const { rows } = await client.query<SessionRow>(
    `insert into auth.sessions (user_id, amr, not_after, user_agent)
     values ($1, jsonb_build_array(jsonb_build_object('method', $2::text, 'timestamp', extract(epoch from now())::bigint)), now() + make_interval(secs => $3), $4)
     returning *`,
    [userId, amrMethod, ttlSeconds, userAgent ?? null],
  );
  const refreshToken = newRefreshToken();
  await client.query(`insert into auth.refresh_tokens (token, user_id, session_id) values ($1, $2, $3)`, [refreshToken, userId, rows[0].id]);
  await client.query(`update auth.users set last_sign_in_at = now() where id = $1`, [userId]);
  return { session: rows[0], refreshToken };
}

export async function findSession(db: Db, id: string): Promise<SessionRow | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const { rows } = await db.query<SessionRow>(`select * from auth.sessions where id = $1`, [id]);
  return rows[0];
}

/** A refresh token by its value, locked, with whether its session has passed `not_after`. */
export interface RefreshTokenRow {
  id: string;
  token: string;
  user_id: string;
  session_id: string;
  revoked: boolean;
  updated_at: Date;
  expired: boolean;
}

/** Only tokens of sessions of `oauthClientId` (null: first-party sessions; an OAuth client's refresh needs its authentication). */
export async function lockRefreshToken(client: pg.PoolClient, token: string, oauthClientId: string | null = null): Promise<RefreshTokenRow | undefined> {
  const { rows } = await client.query<RefreshTokenRow>(
    `select rt.*, coalesce(s.not_after < now(), false) as expired
     from auth.refresh_tokens rt join auth.sessions s on s.id = rt.session_id
     where rt.token = $1 and s.oauth_client_id is not distinct from $2::uuid for update of rt`,
    [token, oauthClientId],
  );
  return rows[0];
}

/** The live token that replaced `parent` (the newest), if any. */
export async function liveChildToken(client: pg.PoolClient, parent: string): Promise<string | undefined> {
  const { rows } = await client.query<{ token: string }>(
    `select token from auth.refresh_tokens where parent = $1 and not revoked order by id desc limit 1`,
    [parent],
  );
  return rows[0]?.token;
}

/** Revokes `rt`, gives its session the token `next` (child of `rt`) and stamps the refresh. */
export async function rotateRefreshToken(client: pg.PoolClient, rt: RefreshTokenRow, next: string): Promise<void> {
  await client.query(`update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1`, [rt.id]);
  await client.query(`insert into auth.refresh_tokens (token, user_id, session_id, parent) values ($1, $2, $3, $4)`, [next, rt.user_id, rt.session_id, rt.token]);
  await client.query(`update auth.sessions set refreshed_at = now(), updated_at = now() where id = $1`, [rt.session_id]);
}

/** Ends one session (its refresh tokens go with it). */
export async function deleteSession(db: Db, id: string): Promise<void> {
  await db.query(`delete from auth.sessions where id = $1`, [id]);
}

/** Ends every session of a user but `keep` (signOut scope "others"). */
export async function deleteOtherSessions(db: Db, userId: unknown, keep: string | null): Promise<void> {
  await db.query(`delete from auth.sessions where user_id = $1 and id <> $2`, [userId, keep]);
}

/** Ends every session of a user (signOut scope "global"). */
export async function deleteUserSessions(db: Db, userId: unknown): Promise<void> {
  await db.query(`delete from auth.sessions where user_id = $1`, [userId]);
}

/**
 * A new refresh token for session `sessionId`, replacing its live one (GoTrue's
 * GrantRefreshTokenSwap after an MFA verify: the token the client held before is revoked, so the
 * raised session continues with the token of this answer).
 */
export async function swapSessionRefreshToken(client: pg.PoolClient, sessionId: string): Promise<string> {
  const { rows } = await client.query<RefreshTokenRow>(
    `select rt.*, false as expired from auth.refresh_tokens rt where rt.session_id = $1 and not rt.revoked order by rt.id desc limit 1 for update`,
    [sessionId],
  );
  const next = newRefreshToken();
  if (rows[0]) {
    await rotateRefreshToken(client, rows[0], next);
  } else {
    const { rows: s } = await client.query<{ user_id: string }>(`select user_id from auth.sessions where id = $1`, [sessionId]);
    await client.query(`insert into auth.refresh_tokens (token, user_id, session_id) values ($1, $2, $3)`, [next, s[0].user_id, sessionId]);
  }
  return next;
}
