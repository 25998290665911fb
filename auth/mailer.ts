/**
 * Auth mail: requests queue a `send_email` job (graphile-worker) in their own transaction
 * (auth/store/mail.ts); the worker jobs/ runs (jobs/tasks/send-email.ts) hands each job to
 * deliverAuthEmail, which issues the one-time token, renders the template and delivers it over
 * SMTP (nodemailer) — or, without an SMTP server (SMTP_HOST or the dashboard's), into the dev inbox table read at
 * `GET /auth/v1/admin/inbox`. Tokens are minted by the job, so no live secret sits in the queue.
 * Auth only enqueues: it does not import jobs/.
 *
 * Send limits: one mail of a kind per address per AUTH_EMAIL_MAX_FREQUENCY seconds (tracked in
 * the user's `*_sent_at` columns, as GoTrue does) and AUTH_RATE_LIMIT_EMAIL_SENT mails per hour
 * for the whole instance; both answer 429 `over_email_send_rate_limit`.
 */
import type { Transporter } from 'nodemailer';
import type pg from 'pg';
import type { Config } from '../config/load.ts';
import { effectiveAuthConfig } from '../core/auth-settings.ts';
import { AuthError } from './errors.ts';
import { issueToken, VERIFY_TYPE, type EmailAction } from './otp.ts';
import { RateLimiter } from './rate-limit.ts';
import { enqueueJob, insertDevInbox, mailRecipient, secondsUntilNextMail, stampMailSent, type SentColumn } from './store/index.ts';
import { renderEmail, type MailContent } from './templates.ts';
import { counters } from '../core/metrics.ts';

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

/**
 * SMTP when configured, else the dev inbox — decided per mail from the settings in effect then
 * (SMTP_* from the environment, else the dashboard's, core/auth-settings.ts), so a change made
 * in the dashboard applies to the next mail without a restart. One nodemailer transporter per
 * SMTP configuration, replaced when the configuration changes.
 */
export function createTransport(config: Config, pool: pg.Pool): MailTransport {
  let current: { key: string; transporter: Transporter } | undefined;
  const transporterFor = async (smtp: NonNullable<Config['auth']['smtp']>): Promise<Transporter> => {
    const key = JSON.stringify([smtp.host, smtp.port, smtp.user, smtp.pass]);
    if (current?.key === key) return current.transporter;
    // nodemailer (~40 modules) loads with the first SMTP mail; the dev inbox never needs it.
    const { default: nodemailer } = await import('nodemailer');
    if (current?.key === key) return current.transporter;
    current?.transporter.close();
    const transporter = nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.port === 465,
      auth: smtp.user ? { user: smtp.user, pass: smtp.pass ?? '' } : undefined,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
    current = { key, transporter };
    return transporter;
  };
  return {
    async deliver(mail) {
      const { auth } = await effectiveAuthConfig(config, pool);
      if (!auth.smtp) return void (await insertDevInbox(pool, mail));
      await (await transporterFor(auth.smtp)).sendMail({ from: { name: auth.mailFrom.name, address: auth.mailFrom.address }, ...mail });
    },
    close() {
      current?.transporter.close();
      current = undefined;
    },
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
export const SENT_COLUMN: Record<EmailAction, SentColumn> = {
  signup: 'confirmation_sent_at',
  invite: 'invited_at',
  magiclink: 'recovery_sent_at',
  recovery: 'recovery_sent_at',
  email_change_current: 'email_change_sent_at',
  email_change_new: 'email_change_sent_at',
  reauthentication: 'reauthentication_sent_at',
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
        const wait = await secondsUntilNextMail(client, jobs[0].user_id, column, freq);
        if (wait !== null && wait !== undefined && wait > 0) {
          throw new AuthError(429, 'over_email_send_rate_limit', `For security purposes, you can only request this after ${wait} seconds.`);
        }
      }
      for (let i = 0; i < jobs.length; i++) perHour.hit('instance');
      const sentAt = await stampMailSent(client, jobs[0].user_id, column);
      for (const job of jobs) await enqueueJob(client, SEND_EMAIL_TASK, { ...job, sent_at: sentAt }, MAIL_MAX_ATTEMPTS);
    },
  };
}

/**
 * Sends one queued mail (the `send_email` job): mints its one-time token, renders the template
 * and delivers it. A failed delivery throws, so graphile-worker retries it with back-off; each
 * attempt mints a fresh token, which replaces the previous one.
 */
export async function deliverAuthEmail(deps: { pool: pg.Pool; config: Config; transport: MailTransport }, job: AuthEmailJob): Promise<void> {
  const column = SENT_COLUMN[job.action];
  if (!column) return; // not a mail this version knows how to send
  const recipient = await mailRecipient(deps.pool, job.user_id, column, job.sent_at ?? null);
  if (!recipient) return; // the user is gone: nothing to send
  // A newer mail of this kind was requested since (this is a retry after a failed delivery):
  // sending this one would replace the newer mail's token with this one's.
  if (recipient.stale) return;
  const token = await issueToken(deps.pool, {
    userId: job.user_id,
    action: job.action,
    email: job.email,
    flowStateId: job.flow_state_id,
    ttlSeconds: deps.config.auth.otpExp,
  });
  const content = renderEmail(job.action, {
    actionLink: actionLink(deps.config, token.hashedToken, job.action, job.redirect_to),
    code: token.code,
    email: recipient.email ?? job.email,
    newEmail: job.new_email,
    siteUrl: deps.config.auth.siteUrl,
    tokenHash: token.hashedToken,
    redirectTo: job.redirect_to ?? deps.config.auth.siteUrl,
    data: recipient.data,
  }, deps.config.auth.mailTemplates);
  await deps.transport.deliver({ to: job.email, ...content });
  counters.authEmailsSent.inc();
}
