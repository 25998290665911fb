/**
 * The `send_email` task: mints the one-time token of an auth mail, renders the template and
 * delivers it (SMTP or dev inbox). A failed delivery throws, so graphile-worker retries it with
 * back-off; each attempt mints a fresh token, which replaces the previous one.
 */
import type { Task } from 'graphile-worker';
import type pg from 'pg';
import type { Config } from '../../config/load.ts';
import { actionLink, SENT_COLUMN, type AuthEmailJob, type MailTransport } from '../../auth/mailer.ts';
import { issueToken } from '../../auth/otp.ts';
import { renderEmail } from '../../auth/templates.ts';

export function sendEmailTask(deps: { pool: pg.Pool; config: Config; transport: MailTransport }): Task {
  return async (payload) => {
    const job = payload as AuthEmailJob;
    const column = SENT_COLUMN[job.action];
    if (!column) return; // not a mail this version knows how to send
    const { rows } = await deps.pool.query<{ email: string | null; stale: boolean }>(
      `select email, coalesce("${column}" > $2::timestamptz, false) as stale from auth.users where id = $1 and deleted_at is null`,
      [job.user_id, job.sent_at ?? null],
    );
    if (!rows[0]) return; // the user is gone: nothing to send
    // A newer mail of this kind was requested since (this is a retry after a failed delivery):
    // sending this one would replace the newer mail's token with this one's.
    if (rows[0].stale) return;
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
      email: rows[0].email ?? job.email,
      newEmail: job.new_email,
      siteUrl: deps.config.auth.siteUrl,
    });
    await deps.transport.deliver({ to: job.email, ...content });
  };
}
