/**
 * Auth mail: requests queue a `send_email` job (graphile-worker) in their own transaction; the
 * job (jobs/tasks/send-email.ts) issues the one-time token, renders the template and delivers it
 * over SMTP (nodemailer) — or, without SMTP_HOST, into the dev inbox table read at
 * `GET /auth/v1/admin/inbox`. Tokens are minted by the job, so no live secret sits in the queue.
 *
 * Send limits: one mail of a kind per address per AUTH_EMAIL_MAX_FREQUENCY seconds (tracked in
 * the user's `*_sent_at` columns, as GoTrue does) and AUTH_RATE_LIMIT_EMAIL_SENT mails per hour
 * for the whole instance; both answer 429 `over_email_send_rate_limit`.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import type pg from 'pg';
import type { Config } from '../config/load.ts';
import { addJob } from '../jobs/worker.ts';
import { AuthError } from './errors.ts';
import { VERIFY_TYPE, type EmailAction } from './otp.ts';
import { RateLimiter } from './rate-limit.ts';
import type { MailContent } from './templates.ts';

type Db = pg.Pool | pg.PoolClient;

export const SEND_EMAIL_TASK = 'send_email';

/** The payload of a send_email job: no secrets, the job mints the token. */
export interface AuthEmailJob {
  action: EmailAction;
  user_id: string;
  /** Recipient (for email_change_new: the new address). */
  email: string;
  redirect_to: string;
  flow_state_id?: string | null;
  new_email?: string;
  /**
   * The `*_sent_at` stamp of the request that queued the mail (exact, as text). A retry finding a
   * newer stamp drops the mail: minting its token would void the newer mail's token.
   */
  sent_at?: string;
}

export interface OutgoingMail extends MailContent {
  to: string;
}

export interface MailTransport {
  deliver(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/** SMTP when configured, else the dev inbox. */
export function createTransport(config: Config, pool: pg.Pool): MailTransport {
  const smtp = config.auth.smtp;
  if (!smtp) {
    return {
      async deliver(mail) {
        await pool.query(`insert into auth.dev_inbox (recipient, subject, text_body, html_body) values ($1, $2, $3, $4)`, [mail.to, mail.subject, mail.text, mail.html]);
      },
      close() {},
    };
  }
  const transporter: Transporter = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.port === 465,
    auth: smtp.user ? { user: smtp.user, pass: smtp.pass ?? '' } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    async deliver(mail) {
      await transporter.sendMail({ from: { name: config.auth.mailFrom.name, address: config.auth.mailFrom.address }, ...mail });
    },
    close: () => transporter.close(),
  };
}

/** The link in a mail: GET /verify on the public URL, GoTrue-shaped. */
export function actionLink(config: Config, hashedToken: string, action: EmailAction, redirectTo: string): string {
  const q = new URLSearchParams({ token: hashedToken, type: VERIFY_TYPE[action], redirect_to: redirectTo });
  return `${config.publicUrl}/auth/v1/verify?${q}`;
}

/**
 * Delivery attempts of one mail: graphile-worker waits e^attempt seconds between them, so 10
 * attempts ride out an SMTP outage of about 3.5 hours. Each attempt mints a fresh token.
 */
export const MAIL_MAX_ATTEMPTS = 10;

/** The column stamped when a mail of each kind is requested (GoTrue's `*_sent_at`). */
export const SENT_COLUMN: Record<EmailAction, string> = {
  signup: 'confirmation_sent_at',
  invite: 'invited_at',
  magiclink: 'recovery_sent_at',
  recovery: 'recovery_sent_at',
  email_change_current: 'email_change_sent_at',
  email_change_new: 'email_change_sent_at',
};

export interface AuthMail {
  /**
   * Checks the send limits for this user and kind, stamps `*_sent_at` and queues the jobs, all in
   * the caller's transaction. `enforceFrequency: false` for admin-triggered mail (invites).
   */
  send(client: pg.PoolClient, jobs: AuthEmailJob[], opts?: { enforceFrequency?: boolean }): Promise<void>;
}

export function createAuthMail(config: Config): AuthMail {
  const perHour = new RateLimiter(config.auth.rateLimits.emailSent, 3600, () => new AuthError(429, 'over_email_send_rate_limit', 'Email rate limit exceeded'));
  return {
    async send(client, jobs, opts = {}) {
      if (!jobs.length) return;
      const column = SENT_COLUMN[jobs[0].action];
      const freq = config.auth.emailMaxFrequency;
      if (opts.enforceFrequency !== false && freq > 0) {
        const { rows } = await client.query<{ wait: number | null }>(
          `select ceil(extract(epoch from ("${column}" + make_interval(secs => $2) - now())))::int as wait from auth.users where id = $1 for update`,
          [jobs[0].user_id, freq],
        );
        const wait = rows[0]?.wait;
        if (wait !== null && wait !== undefined && wait > 0) {
          throw new AuthError(429, 'over_email_send_rate_limit', `For security purposes, you can only request this after ${wait} seconds.`);
        }
      }
      for (let i = 0; i < jobs.length; i++) perHour.hit('instance');
      const stamped = await client.query<{ sent_at: string }>(
        `update auth.users set "${column}" = now() where id = $1 returning "${column}"::text as sent_at`,
        [jobs[0].user_id],
      );
      const sentAt = stamped.rows[0]?.sent_at;
      for (const job of jobs) await addJob(client, SEND_EMAIL_TASK, { ...job, sent_at: sentAt }, MAIL_MAX_ATTEMPTS);
    },
  };
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
