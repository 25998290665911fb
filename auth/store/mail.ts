/**
 * What auth mail reads and writes: the per-address send limit (the user's `*_sent_at` column),
 * the queue (a graphile-worker job added in the caller's transaction, so a rolled-back request
 * sends nothing; the worker is jobs/worker.ts) and the dev inbox (`auth.dev_inbox`).
 */
import type pg from 'pg';
import type { Db } from './db.ts';
import type { SentColumn } from './users.ts';

/** Seconds until a mail of this kind may go to the user again (locks the user); ≤ 0 or null when it may now. */
export async function secondsUntilNextMail(client: pg.PoolClient, userId: string, column: SentColumn, frequencySeconds: number): Promise<number | null | undefined> {
  const { rows } = await client.query<{ wait: number | null }>(
    `select ceil(extract(epoch from ("${column}" + make_interval(secs => $2) - now())))::int as wait from auth.users where id = $1 for update`,
    [userId, frequencySeconds],
  );
  return rows[0]?.wait;
}

/** Stamps the column now; the stamp exactly, as text. */
export async function stampMailSent(client: pg.PoolClient, userId: string, column: SentColumn): Promise<string | undefined> {
  const { rows } = await client.query<{ sent_at: string }>(
    `update auth.users set "${column}" = now() where id = $1 returning "${column}"::text as sent_at`,
    [userId],
  );
  return rows[0]?.sent_at;
}

/** Queues a job in the caller's transaction (committed together with the caller's writes). */
export async function enqueueJob(db: Db, task: string, payload: unknown, maxAttempts: number): Promise<void> {
  await db.query(`select graphile_worker.add_job($1, $2::json, max_attempts => $3)`, [task, JSON.stringify(payload), maxAttempts]);
}

/**
 * Whom a queued mail goes to now: the user's current address, and whether a newer mail of the
 * kind was stamped since `sentAt`. Undefined when the user is gone.
 */
export async function mailRecipient(db: Db, userId: string, column: SentColumn, sentAt: string | null): Promise<{ email: string | null; stale: boolean; data: Record<string, unknown> } | undefined> {
  const { rows } = await db.query<{ email: string | null; stale: boolean; data: Record<string, unknown> }>(
    `select email, coalesce("${column}" > $2::timestamptz, false) as stale, raw_user_meta_data as data from auth.users where id = $1 and deleted_at is null`,
    [userId, sentAt],
  );
  return rows[0];
}

export async function insertDevInbox(db: Db, mail: { to: string; subject: string; text: string; html: string }): Promise<void> {
  await db.query(`insert into auth.dev_inbox (recipient, subject, text_body, html_body) values ($1, $2, $3, $4)`, [mail.to, mail.subject, mail.text, mail.html]);
}

/** The dev inbox, newest first. */
export async function readInbox(db: Db, email: string | undefined, limit: number): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query(
    `select id, recipient as to, subject, text_body as text, html_body as html, created_at from auth.dev_inbox
     where $1::text is null or lower(recipient) = lower($1) order by id desc limit $2`,
    [email ?? null, limit],
  );
  return rows;
}

export async function clearInbox(db: Db): Promise<void> {
  await db.query(`delete from auth.dev_inbox`);
}
