/**
 * MFA factors and challenges (`auth.mfa_factors`, `auth.mfa_challenges`, sql/0023_auth_mfa.sql)
 * and what a verified factor does to sessions: the amr entry and aal of the session it was
 * verified in, the other aal1 sessions ended, sessions raised by a removed factor lowered again —
 * as GoTrue's models/factor.go, challenge.go and sessions.go do.
 */
import type pg from 'pg';
import type { Db } from './db.ts';
import type { SessionRow } from './sessions.ts';

export interface FactorRow {
  id: string;
  user_id: string;
  friendly_name: string | null;
  factor_type: 'totp' | 'webauthn' | 'phone';
  status: 'unverified' | 'verified';
  secret: string | null;
  phone: string | null;
  last_challenged_at: Date | null;
  web_authn_credential: Record<string, unknown> | null;
  web_authn_aaguid: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface ChallengeRow {
  id: string;
  factor_id: string;
  created_at: Date;
  verified_at: Date | null;
  ip_address: string;
  otp_code: string | null;
  web_authn_session_data: Record<string, unknown> | null;
  /** Has it passed the challenge lifetime (computed by Postgres' clock)? */
  expired: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID.test(s);

/** A user's factors, oldest first (GoTrue's user.Factors). */
export async function factorsOf(db: Db, userId: string): Promise<FactorRow[]> {
  const { rows } = await db.query<FactorRow>(`select * from auth.mfa_factors where user_id = $1 order by created_at, id`, [userId]);
  return rows;
}

/** The factor `id` if `userId` owns it (GoTrue's FindOwnedFactorByID). */
export async function findOwnedFactor(db: Db, userId: string, id: string): Promise<FactorRow | undefined> {
  if (!isUuid(id)) return undefined;
  const { rows } = await db.query<FactorRow>(`select * from auth.mfa_factors where id = $1 and user_id = $2`, [id, userId]);
  return rows[0];
}

/**
 * Unverified factors older than `seconds` with no challenge are dropped before enrolling
 * (GoTrue's DeleteExpiredFactors, run by validateFactors).
 */
export async function deleteExpiredFactors(db: Db, seconds: number): Promise<void> {
  await db.query(
    `delete from auth.mfa_factors f where f.status <> 'verified'
       and not exists (select 1 from auth.mfa_challenges c where c.factor_id = f.id)
       and f.created_at + make_interval(secs => $1) < now()`,
    [seconds],
  );
}

export async function createFactor(
  db: Db,
  f: { userId: string; friendlyName: string; type: FactorRow['factor_type']; secret?: string; phone?: string },
): Promise<FactorRow> {
  const { rows } = await db.query<FactorRow>(
    `insert into auth.mfa_factors (user_id, friendly_name, factor_type, secret, phone) values ($1, $2, $3, $4, $5) returning *`,
    [f.userId, f.friendlyName, f.type, f.secret ?? null, f.phone ?? null],
  );
  return rows[0];
}

export async function deleteFactor(db: Db, id: string): Promise<FactorRow | undefined> {
  const { rows } = await db.query<FactorRow>(`delete from auth.mfa_factors where id = $1 returning *`, [id]);
  return rows[0];
}

/** A new challenge of `factorId` from `ip`, stamping the factor's last_challenged_at; with its expiry (unix seconds). */
export async function createChallenge(
  db: Db,
  factorId: string,
  ip: string,
  expirySeconds: number,
  extra: { otpCode?: string; webauthnSession?: Record<string, unknown> } = {},
): Promise<{ id: string; expiresAt: number }> {
  const { rows } = await db.query<{ id: string; expires_at: string }>(
    `with c as (
       insert into auth.mfa_challenges (factor_id, ip_address, otp_code, web_authn_session_data) values ($1, $2, $3, $4)
       returning id, created_at
     ), f as (update auth.mfa_factors set last_challenged_at = now() where id = $1)
     select id, extract(epoch from created_at + make_interval(secs => $5))::bigint as expires_at from c`,
    [factorId, ip, extra.otpCode ?? null, extra.webauthnSession ?? null, expirySeconds],
  );
  return { id: rows[0].id, expiresAt: Number(rows[0].expires_at) };
}

/** The challenge `id` of factor `factorId`, locked, with whether it has expired after `expirySeconds`. */
export async function lockChallenge(c: pg.PoolClient, factorId: string, id: string, expirySeconds: number): Promise<ChallengeRow | undefined> {
  if (!isUuid(id)) return undefined;
  const { rows } = await c.query<ChallengeRow>(
    `select *, created_at + make_interval(secs => $3) < now() as expired from auth.mfa_challenges where id = $1 and factor_id = $2 for update`,
    [id, factorId, expirySeconds],
  );
  return rows[0];
}

export async function deleteChallenge(db: Db, id: string): Promise<void> {
  await db.query(`delete from auth.mfa_challenges where id = $1`, [id]);
}

export async function markChallengeVerified(db: Db, id: string): Promise<void> {
  await db.query(`update auth.mfa_challenges set verified_at = now() where id = $1`, [id]);
}

export async function markFactorVerified(db: Db, id: string): Promise<void> {
  await db.query(`update auth.mfa_factors set status = 'verified', updated_at = now() where id = $1`, [id]);
}

/** Removes the user's unverified factors of a type once one of that type is verified (GoTrue's DeleteUnverifiedFactors). */
export async function deleteUnverifiedFactors(db: Db, userId: string, type: string): Promise<void> {
  await db.query(`delete from auth.mfa_factors where user_id = $1 and status = 'unverified' and factor_type = $2`, [userId, type]);
}

/**
 * The session `sessionId` after a factor verified in it: the amr `method` added (or its
 * timestamp renewed; newest first, as GoTrue orders them), aal2, and the factor remembered.
 */
export async function raiseSession(db: Db, sessionId: string, method: string, factorId: string): Promise<SessionRow> {
  const { rows } = await db.query<SessionRow>(
    `update auth.sessions set
       amr = (select jsonb_agg(e order by (e->>'timestamp')::bigint desc)
              from jsonb_array_elements(jsonb_build_array(jsonb_build_object('method', $2::text, 'timestamp', extract(epoch from now())::bigint))
                || coalesce((select jsonb_agg(x) from jsonb_array_elements(amr) x where x->>'method' <> $2), '[]')) e),
       aal = 'aal2', factor_id = $3, updated_at = now()
     where id = $1 returning *`,
    [sessionId, method, factorId],
  );
  return rows[0];
}

/** Ends the user's sessions below aal2 (GoTrue's InvalidateSessionsWithAALLessThan after a verify). */
export async function deleteAal1Sessions(db: Db, userId: string): Promise<void> {
  await db.query(`delete from auth.sessions where user_id = $1 and aal < 'aal2'`, [userId]);
}

/**
 * Sessions raised by a factor that is gone lose its amr method and return to aal1 (GoTrue's
 * DowngradeSessionsToAAL1).
 */
export async function downgradeSessions(db: Db, userId: string, factorId: string, method: string): Promise<void> {
  await db.query(
    `update auth.sessions set
       amr = coalesce((select jsonb_agg(x) from jsonb_array_elements(amr) x where x->>'method' <> $3), '[]'),
       aal = 'aal1', factor_id = null, updated_at = now()
     where user_id = $1 and factor_id = $2`,
    [userId, factorId, method],
  );
}

/** A WebAuthn factor's credential (set once, at its first verification) and authenticator AAGUID. */
export async function saveWebauthnCredential(db: Db, id: string, credential: Record<string, unknown>, aaguid: string | null): Promise<void> {
  await db.query(`update auth.mfa_factors set web_authn_credential = $2, web_authn_aaguid = $3, updated_at = now() where id = $1`, [id, credential, aaguid]);
}

/** The signature counter of a WebAuthn factor after an assertion. */
export async function setWebauthnCounter(db: Db, id: string, counter: number): Promise<void> {
  await db.query(`update auth.mfa_factors set web_authn_credential = jsonb_set(web_authn_credential, '{counter}', to_jsonb($2::bigint)), updated_at = now() where id = $1`, [id, counter]);
}
