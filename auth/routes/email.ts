/**
 * Flows that send mail: signInWithOtp (`POST /otp`: magic link + 6-digit code, creating the user
 * unless `create_user: false`), resetPasswordForEmail (`POST /recover`, also `POST /api/auth/reset`),
 * `POST /resend`, invites (`POST /invite`), `POST /admin/generate_link` (the link without a mail),
 * and the dev inbox (`GET|DELETE /admin/inbox`). Unknown addresses get the same `{}` as known ones.
 */
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import { AuthError, AUTH_ERRORS } from '../errors.ts';
import { challengeOf, createFlowState, type Challenge } from '../flow-state.ts';
import { bodyOf, emailOf, obj, queryOf, str, wrap, type AuthDeps } from '../http.ts';
import { actionLink, readInbox, type AuthEmailJob } from '../mailer.ts';
import { EMAIL_ACTIONS, issueToken, VERIFY_TYPE, type EmailAction } from '../otp.ts';
import { safeRedirect } from '../redirects.ts';
import { createUser, findUserByEmail, identitiesOf, withTransaction, type UserRow } from '../store.ts';
import { userJson } from '../tokens.ts';
import { hashPassword } from '../passwords.ts';

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
  await c.query(`update auth.users set email_change = $2, updated_at = now() where id = $1`, [user.id, newEmail]);
  await c.query(`delete from auth.one_time_tokens where user_id = $1 and token_type like 'email_change_token_%'`, [user.id]);
  const flowStateId = await flowFor(c, challenge, 'email_change', user.id);
  const jobs: AuthEmailJob[] = [{ action: 'email_change_new', user_id: user.id, email: newEmail, redirect_to: redirectTo, flow_state_id: flowStateId, new_email: newEmail }];
  if (user.email && user.email_confirmed_at && !user.is_anonymous) {
    jobs.push({ action: 'email_change_current', user_id: user.id, email: user.email, redirect_to: redirectTo, flow_state_id: flowStateId, new_email: newEmail });
  }
  await d.mail.send(c, jobs);
}

export function registerEmailRoutes(d: AuthDeps): void {
  const { app, config, pool } = d;

  async function otp(req: FastifyRequest) {
    d.otpByIp.hit(req.ip);
    const body = bodyOf(req);
    if (body.phone !== undefined && body.email === undefined) throw AUTH_ERRORS.phoneProviderUnsupported();
    const email = emailOf(body)!;
    const challenge = challengeOf(body);
    const redirectTo = redirectOf(d, req, body);
    const tenantId = await d.tenantFromApiKey(req);
    await withTransaction(pool, async (c) => {
      let user = await findUserByEmail(c, email);
      if (!user) {
        if (body.create_user === false) throw new AuthError(422, 'otp_disabled', 'Signups not allowed for otp');
        if (config.auth.disableSignup) throw AUTH_ERRORS.signupDisabled();
        d.signupByIp.hit(req.ip);
        user = await createUser(c, {
          email,
          confirmed: false,
          userMetadata: obj(body.data),
          appMetadata: { provider: 'email', providers: ['email'] },
          isAnonymous: false,
          tenantId,
        });
      }
      // An unconfirmed address gets the sign-up confirmation; its code works with type "email" too.
      const action: EmailAction = user.email_confirmed_at ? 'magiclink' : 'signup';
      await sendAuthEmail(d, c, { user, action, email, redirectTo, challenge });
    });
    return {};
  }

  async function recover(req: FastifyRequest) {
    d.otpByIp.hit(req.ip);
    const body = bodyOf(req);
    const email = emailOf(body)!;
    const challenge = challengeOf(body);
    const redirectTo = redirectOf(d, req, body);
    await withTransaction(pool, async (c) => {
      const user = await findUserByEmail(c, email);
      if (user) await sendAuthEmail(d, c, { user, action: 'recovery', email, redirectTo, challenge });
    });
    return {};
  }

  async function resend(req: FastifyRequest) {
    d.otpByIp.hit(req.ip);
    const body = bodyOf(req);
    const type = str(body.type);
    if (type === 'sms' || type === 'phone_change') {
      // GoTrue without an SMS provider: its shape checks, then phone logins are off; by email there
      // is never a pending phone change to resend.
      const phone = str(body.phone);
      if (type === 'sms' && !phone) throw AUTH_ERRORS.validation('Type provided requires a phone number');
      if (phone && str(body.email)) throw AUTH_ERRORS.validation('Only an email address or phone number should be provided.');
      if (phone) throw AUTH_ERRORS.phoneLoginsDisabled();
      if (!str(body.email)) throw AUTH_ERRORS.validation('Missing email address or phone number');
      emailOf(body);
      return {};
    }
    if (type !== 'signup' && type !== 'email_change') throw AUTH_ERRORS.validation('Missing one of these types: signup, email_change, sms, phone_change');
    const email = emailOf(body)!;
    const challenge = challengeOf(body);
    const redirectTo = redirectOf(d, req, body);
    await withTransaction(pool, async (c) => {
      if (type === 'signup') {
        const user = await findUserByEmail(c, email);
        if (user && !user.email_confirmed_at) await sendAuthEmail(d, c, { user, action: 'signup', email, redirectTo, challenge });
        return;
      }
      const { rows } = await c.query<UserRow & { email_change: string }>(
        `select * from auth.users where deleted_at is null and email_change is not null and (lower(email) = $1 or lower(email_change) = $1) limit 1`,
        [email],
      );
      if (rows[0]) await sendEmailChange(d, c, rows[0], rows[0].email_change, redirectTo, challenge);
    });
    return {};
  }

  /** An invited user: created unconfirmed (or re-invited while still unconfirmed). */
  async function inviteUser(c: pg.PoolClient, email: string, data: Record<string, unknown>, tenantId: string | null): Promise<UserRow> {
    const existing = await findUserByEmail(c, email);
    if (existing?.email_confirmed_at) throw AUTH_ERRORS.emailExists();
    const user = existing ?? (await createUser(c, { email, confirmed: false, userMetadata: data, appMetadata: { provider: 'email', providers: ['email'] }, isAnonymous: false, tenantId }));
    await c.query(`update auth.users set invited_at = now() where id = $1`, [user.id]);
    return user;
  }

  async function invite(req: FastifyRequest) {
    await d.requireAdmin(req);
    const body = bodyOf(req);
    const email = emailOf(body)!;
    const redirectTo = redirectOf(d, req, body);
    return withTransaction(pool, async (c) => {
      const user = await inviteUser(c, email, obj(body.data), str(body.tenant_id) ?? null);
      await sendAuthEmail(d, c, { user, action: 'invite', email, redirectTo, enforceFrequency: false });
      const fresh = (await findUserByEmail(c, email))!;
      return userJson(fresh, await identitiesOf(c, fresh.id));
    });
  }

  async function generateLink(req: FastifyRequest) {
    await d.requireAdmin(req);
    const body = bodyOf(req);
    const type = str(body.type) as EmailAction | undefined;
    if (!type || !EMAIL_ACTIONS.includes(type)) throw AUTH_ERRORS.validation(`Invalid link type: ${type ?? '(missing)'}`);
    const email = emailOf(body)!;
    const redirectTo = redirectOf(d, req, body);
    const data = obj(body.data);
    const passwordHash = type === 'signup' && str(body.password) ? await hashPassword(d.checkPassword(str(body.password)), config.auth.bcryptCost) : undefined;
    return withTransaction(pool, async (c) => {
      let user = await findUserByEmail(c, email);
      let recipient = email;
      if (type === 'signup') {
        if (user?.email_confirmed_at) throw AUTH_ERRORS.emailExists();
        user ??= await createUser(c, { email, passwordHash, confirmed: false, userMetadata: data, appMetadata: { provider: 'email', providers: ['email'] }, isAnonymous: false, tenantId: null });
        await c.query(`update auth.users set confirmation_sent_at = now() where id = $1`, [user.id]);
      } else if (type === 'invite') {
        user = await inviteUser(c, email, data, null);
      } else {
        if (!user) throw AUTH_ERRORS.userNotFound();
        if (type === 'email_change_current' || type === 'email_change_new') {
          const newEmail = emailOf({ email: body.new_email })!;
          if (await findUserByEmail(c, newEmail)) throw AUTH_ERRORS.emailExists();
          await c.query(`update auth.users set email_change = $2, email_change_sent_at = now() where id = $1`, [user.id, newEmail]);
          if (type === 'email_change_new') recipient = newEmail;
        } else {
          await c.query(`update auth.users set recovery_sent_at = now() where id = $1`, [user.id]);
        }
      }
      const token = await issueToken(c, { userId: user.id, action: type, email: recipient, ttlSeconds: config.auth.otpExp });
      const fresh = (await findUserByEmail(c, user.email ?? email)) ?? user;
      return {
        ...userJson(fresh, await identitiesOf(c, fresh.id)),
        action_link: actionLink(config, token.hashedToken, type, redirectTo),
        email_otp: token.code,
        hashed_token: token.hashedToken,
        verification_type: VERIFY_TYPE[type],
        redirect_to: redirectTo,
      };
    });
  }

  async function inbox(req: FastifyRequest) {
    await d.requireAdmin(req);
    const q = queryOf(req);
    const limit = Math.min(Math.max(Number(q.limit) || 50, 1), 500);
    return { messages: await readInbox(pool, str(q.email)?.trim() || undefined, limit) };
  }

  async function clearInbox(req: FastifyRequest) {
    await d.requireAdmin(req);
    await pool.query(`delete from auth.dev_inbox`);
    return {};
  }

  app.post('/otp', wrap(otp));
  app.post('/magiclink', wrap(otp));
  app.post('/recover', wrap(recover));
  app.post('/resend', wrap(resend));
  app.post('/invite', wrap(invite));
  app.post('/admin/generate_link', wrap(generateLink));
  app.get('/admin/inbox', wrap(inbox));
  app.delete('/admin/inbox', wrap(clearInbox));
  app.post('/api/auth/reset', wrap(recover));
}
