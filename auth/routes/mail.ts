/**
 * What the routes that send mail share: where the mail's link leads (redirect_to), queueing one
 * auth mail (with a PKCE flow when the client asked for one), both mails of an email change, and
 * the invited user.
 */
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { AuthDeps } from '../deps.ts';
import { AUTH_ERRORS } from '../errors.ts';
import { createFlowState, type Challenge } from '../flow-state.ts';
import { obj, queryOf, str } from '../http.ts';
import type { AuthEmailJob } from '../mailer.ts';
import type { EmailAction } from '../otp.ts';
import { safeRedirect } from '../redirects.ts';
import { createUser, deleteEmailChangeTokens, findUserByEmail, setEmailChange, stampSent, type UserRow } from '../store/index.ts';

/** redirect_to from the query (auth-js) or the body (short routes, generate_link options). */
export function redirectOf(d: AuthDeps, req: FastifyRequest, body: Record<string, unknown> = {}): string {
  return safeRedirect(d.config, str(queryOf(req).redirect_to) ?? str(body.redirect_to) ?? str(obj(body.options).redirectTo));
}

/** A PKCE flow state for the mail's link when the client sent a code_challenge. */
async function flowFor(c: pg.PoolClient, challenge: Challenge | undefined, authMethod: string, userId: string): Promise<string | null> {
  return challenge ? createFlowState(c, { challenge, authMethod, userId }) : null;
}

/** Queues one auth mail (limits enforced), with a PKCE flow when asked for. */
export async function sendAuthEmail(
  d: AuthDeps,
  c: pg.PoolClient,
  m: { user: UserRow; action: EmailAction; email: string; redirectTo: string; challenge?: Challenge; enforceFrequency?: boolean },
): Promise<void> {
  const flowStateId = await flowFor(c, m.challenge, m.action === 'signup' ? 'otp' : m.action, m.user.id);
  await d.mail.send(c, [{ action: m.action, user_id: m.user.id, email: m.email, redirect_to: m.redirectTo, flow_state_id: flowStateId }], {
    enforceFrequency: m.enforceFrequency,
  });
}

/** Both mails of a secure email change (the current address, when there is one, and the new). */
export async function sendEmailChange(d: AuthDeps, c: pg.PoolClient, user: UserRow, newEmail: string, redirectTo: string, challenge?: Challenge): Promise<void> {
  await setEmailChange(c, user.id, newEmail, { stampSent: false });
  await deleteEmailChangeTokens(c, user.id);
  const flowStateId = await flowFor(c, challenge, 'email_change', user.id);
  const jobs: AuthEmailJob[] = [{ action: 'email_change_new', user_id: user.id, email: newEmail, redirect_to: redirectTo, flow_state_id: flowStateId, new_email: newEmail }];
  if (user.email && user.email_confirmed_at && !user.is_anonymous) {
    jobs.push({ action: 'email_change_current', user_id: user.id, email: user.email, redirect_to: redirectTo, flow_state_id: flowStateId, new_email: newEmail });
  }
  await d.mail.send(c, jobs);
}

/** An invited user: created unconfirmed (or re-invited while still unconfirmed). */
export async function inviteUser(c: pg.PoolClient, email: string, data: Record<string, unknown>, tenantId: string | null): Promise<UserRow> {
  const existing = await findUserByEmail(c, email);
  if (existing?.email_confirmed_at) throw AUTH_ERRORS.emailExists();
  const user = existing ?? (await createUser(c, { email, confirmed: false, userMetadata: data, appMetadata: { provider: 'email', providers: ['email'] }, isAnonymous: false, tenantId }));
  await stampSent(c, user.id, 'invited_at');
  return user;
}
