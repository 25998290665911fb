/**
 * The `send_email` task: each job auth queued (auth/mailer.ts, in the request's transaction) is
 * handed to auth's deliverAuthEmail. A failed delivery throws, so graphile-worker retries it.
 */
import type { Task } from 'graphile-worker';
import type pg from 'pg';
import type { Config } from '../../config/load.ts';
import { deliverAuthEmail, type AuthEmailJob, type MailTransport } from '../../auth/mailer.ts';

export function sendEmailTask(deps: { pool: pg.Pool; config: Config; transport: MailTransport }): Task {
  return async (payload) => deliverAuthEmail(deps, payload as AuthEmailJob);
}
