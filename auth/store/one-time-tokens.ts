/**
 * `auth.one_time_tokens`: the tokens of auth mails (auth/otp.ts mints and hashes them). One live
 * token per user and kind: a new one replaces the old.
 */
import type { Db } from './db.ts';

export interface ConsumedToken {
  user_id: string;
  token_type: string;
  relates_to: string;
  flow_state_id: string | null;
  expired: boolean;
}

export async function upsertToken(
  db: Db,
  t: { userId: string; tokenType: string; storedHash: string; relatesTo: string; flowStateId: string | null; ttlSeconds: number },
): Promise<void> {
  await db.query(
    `insert into auth.one_time_tokens (user_id, token_type, token_hash, relates_to, flow_state_id, expires_at)
     values ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
     on conflict (user_id, token_type) do update set token_hash = excluded.token_hash, relates_to = excluded.relates_to,
       flow_state_id = excluded.flow_state_id, created_at = now(), expires_at = excluded.expires_at`,
    [t.userId, t.tokenType, t.storedHash, t.relatesTo, t.flowStateId, t.ttlSeconds],
  );
}

/** Takes (deletes) the newest token with this stored hash among `kinds` (and for `email`, when given). */
export async function takeToken(db: Db, storedHash: string, kinds: string[], email: string | null): Promise<ConsumedToken | undefined> {
  const { rows } = await db.query<ConsumedToken>(
    `delete from auth.one_time_tokens
     where id = (select id from auth.one_time_tokens where token_hash = $1 and token_type = any($2)
                 and ($3::text is null or relates_to = lower($3)) order by created_at desc limit 1 for update)
     returning user_id, token_type, relates_to, flow_state_id, expires_at < now() as expired`,
    [storedHash, kinds, email],
  );
  return rows[0];
}

/** Does the user still hold a live token of this kind (the other half of a secure email change)? */
export async function hasToken(db: Db, userId: string, tokenType: string): Promise<boolean> {
  const { rowCount } = await db.query(`select 1 from auth.one_time_tokens where user_id = $1 and token_type = $2 and expires_at > now()`, [userId, tokenType]);
  return (rowCount ?? 0) > 0;
}

/** Drops a user's tokens of an email change (a new change replaces them). */
export async function deleteEmailChangeTokens(db: Db, userId: string): Promise<void> {
  await db.query(`delete from auth.one_time_tokens where user_id = $1 and token_type like 'email_change_token_%'`, [userId]);
}

/** Drops a user's invite and confirmation tokens (either one confirmed the address). */
export async function deleteConfirmationTokens(db: Db, userId: string): Promise<void> {
  await db.query(`delete from auth.one_time_tokens where user_id = $1 and token_type in ('invite_token', 'confirmation_token')`, [userId]);
}
