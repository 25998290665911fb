/**
 * `POST /signup` (signUp, signInAnonymously; also `POST /api/auth/signup`): a new user by email
 * and password — signed in at once with autoconfirm, else sent a confirmation — or an anonymous
 * user when neither email nor phone is given. The user joins the tenant of the API key
 * (auth/caller.ts).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { AUTH_ERRORS } from '../errors.ts';
import { challengeOf } from '../flow-state.ts';
import { bodyOf, checkEmail, obj, str } from '../http.ts';
import { hashPassword } from '../passwords.ts';
import { sendPhoneOtp, validatePhone } from '../phone.ts';
import { audit, createUser, findUserByEmail, findUserById, findUserByPhone, identitiesOf, withTransaction } from '../store/index.ts';
import { userJson } from '../tokens.ts';
import { redirectOf, sendAuthEmail } from './mail.ts';

/** What signUp answers for an address that is already confirmed (autoconfirm off). */
function obfuscatedUser(email: string): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    id: randomUUID(), aud: 'authenticated', role: '', email, phone: '', confirmation_sent_at: now,
    app_metadata: { provider: 'email', providers: ['email'] }, user_metadata: {}, identities: [],
    created_at: now, updated_at: now, is_anonymous: false,
  };
}

export async function signup(d: AuthDeps, req: FastifyRequest) {
  const { config, pool } = d;
  d.signupByIp.hit(req.ip);
  const body = bodyOf(req);
  const email = str(body.email)?.trim().toLowerCase();
  const data = obj(body.data);
  const phone = str(body.phone);
  const tenantId = await d.tenantFromApiKey(req);
  if (!email && !phone) {
    // signInAnonymously (GoTrue's order: the anonymous switch, then DISABLE_SIGNUP).
    if (!config.auth.anonymousSignins) throw AUTH_ERRORS.anonymousDisabled();
    if (config.auth.disableSignup) throw AUTH_ERRORS.signupDisabled();
    return withTransaction(pool, async (c) => {
      const user = await createUser(c, { confirmed: false, userMetadata: data, appMetadata: {}, isAnonymous: true, tenantId });
      return d.issue(c, user, 'anonymous', req);
    });
  }
  if (config.auth.disableSignup) throw AUTH_ERRORS.signupDisabled();
  const password = d.checkPassword(str(body.password));
  if (email && phone) throw AUTH_ERRORS.validation('Only an email address or phone number should be provided on signup.');
  if (!email) return phoneSignup(d, req, phone!, password, data, tenantId);
  checkEmail(email);
  const passwordHash = await hashPassword(password, config.auth.bcryptCost);
  const challenge = challengeOf(body);
  const redirectTo = redirectOf(d, req, body);
  return withTransaction(pool, async (c) => {
    const existing = await findUserByEmail(c, email);
    if (existing && config.auth.autoconfirm) throw AUTH_ERRORS.userExists();
    // Without autoconfirm the answer must not reveal who is registered (GoTrue obfuscation).
    if (existing?.email_confirmed_at) return obfuscatedUser(email);
    if (existing) {
      // Still unconfirmed: the confirmation goes out again; the password is not replaced (whoever
      // signs up again must not be able to set the password the owner then confirms).
      await sendAuthEmail(d, c, { user: existing, action: 'signup', email, redirectTo, challenge });
      const again = (await findUserById(c, existing.id))!;
      return userJson(again, await identitiesOf(c, again.id));
    }
    const user = await createUser(c, {
      email,
      passwordHash,
      confirmed: config.auth.autoconfirm,
      userMetadata: data,
      appMetadata: { provider: 'email', providers: ['email'] },
      isAnonymous: false,
      tenantId,
    });
    await audit(c, 'user_signedup', { actor_id: user.id }, req.ip);
    if (config.auth.autoconfirm) return d.issue(c, user, 'password', req);
    await sendAuthEmail(d, c, { user, action: 'signup', email, redirectTo, challenge });
    const sent = (await findUserById(c, user.id))!;
    return userJson(sent, await identitiesOf(c, user.id));
  });
}

/**
 * signUp({phone, password}): a user of that number, unconfirmed until the code it is sent by SMS
 * is verified (verifyOtp type "sms"); an unconfirmed number gets a new code, a confirmed one 422.
 */
async function phoneSignup(d: AuthDeps, req: FastifyRequest, raw: string, password: string, data: Record<string, unknown>, tenantId: string | null) {
  if (!d.sms) throw AUTH_ERRORS.phoneSignupsDisabled();
  const body = bodyOf(req);
  if (str(body.code_challenge)) throw AUTH_ERRORS.validation('PKCE not supported for phone signups');
  const phone = validatePhone(raw);
  const passwordHash = await hashPassword(password, d.config.auth.bcryptCost);
  return withTransaction(d.pool, async (c) => {
    const existing = await findUserByPhone(c, phone);
    if (existing?.phone_confirmed_at) throw AUTH_ERRORS.userExists();
    // An unconfirmed number keeps its user (and password): whoever signs up again only gets a code sent.
    const user = existing ?? (await createUser(c, { phone, passwordHash, confirmed: false, userMetadata: data, appMetadata: { provider: 'phone', providers: ['phone'] }, isAnonymous: false, tenantId }));
    if (!existing) await audit(c, 'user_signedup', { actor_id: user.id, provider: 'phone' }, req.ip);
    await sendPhoneOtp(d, c, user, phone);
    const sent = (await findUserById(c, user.id))!;
    return userJson(sent, await identitiesOf(c, user.id));
  });
}
