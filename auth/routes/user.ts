/**
 * `GET /user` (getUser; also `GET /api/auth/me`) and `PUT /user` (updateUser: metadata,
 * password, email — at once with autoconfirm, else confirmed by mail at both addresses — and
 * phone, confirmed by an SMS code to the new number).
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { AuthError, AUTH_ERRORS } from '../errors.ts';
import { challengeOf } from '../flow-state.ts';
import { bodyOf, checkEmail, obj, str } from '../http.ts';
import { hashPassword, verifyPassword } from '../passwords.ts';
import { sendPhoneOtp, validatePhone } from '../phone.ts';
import { audit, factorsOf, findSession, findUserByEmail, findUserById, findUserByPhone, identitiesOf, updateUser as updateUserRow, withTransaction, type UserChanges } from '../store/index.ts';
import { userJson } from '../tokens.ts';
import { redirectOf, sendEmailChange } from './mail.ts';
import { checkNonce, needsNonce } from './reauthenticate.ts';

export async function getUser(d: AuthDeps, req: FastifyRequest) {
  const { user } = await d.currentUser(req);
  return userJson(user, await identitiesOf(d.pool, user.id), await factorsOf(d.pool, user.id));
}

export async function updateUser(d: AuthDeps, req: FastifyRequest) {
  const { config, pool } = d;
  const { user, claims } = await d.currentUser(req);
  const body = bodyOf(req);
  const phone = str(body.phone) ? validatePhone(str(body.phone)!) : undefined;
  const phoneChange = phone !== undefined && phone !== (user.phone ?? '');
  if (user.is_sso_user) {
    const email = str(body.email)?.trim().toLowerCase();
    if (str(body.password) || (email && email !== user.email) || phoneChange || str(body.nonce)) {
      throw new AuthError(422, 'user_sso_managed', 'Updating email, phone, password of a SSO account only possible via SSO');
    }
  }
  if (phoneChange && (await findUserByPhone(pool, phone))) throw new AuthError(422, 'phone_exists', 'A user with this phone number has already been registered');
  const changes: UserChanges = {};
  if (body.data !== undefined) changes.mergeUserMetadata = obj(body.data);
  const password = str(body.password);
  if (password !== undefined) {
    d.checkPassword(password);
    const session = typeof claims.session_id === 'string' ? await findSession(pool, claims.session_id) : undefined;
    if (needsNonce(d, session)) await checkNonce(pool, user, str(body.nonce));
    if (await verifyPassword(password, user.encrypted_password)) throw AUTH_ERRORS.samePassword();
    changes.passwordHash = await hashPassword(password, config.auth.bcryptCost);
  }
  const email = str(body.email)?.trim().toLowerCase();
  let emailChange = false;
  if (email !== undefined && email !== user.email) {
    checkEmail(email);
    if (await findUserByEmail(pool, email)) throw AUTH_ERRORS.emailExists();
    // Autoconfirm changes the address at once; otherwise both addresses confirm by mail first.
    emailChange = !config.auth.autoconfirm;
    if (config.auth.autoconfirm) Object.assign(changes, { email, confirmEmail: true, notAnonymous: true });
  }
  const challenge = challengeOf(body);
  return withTransaction(pool, async (c) => {
    await updateUserRow(c, user.id, changes);
    // GoTrue's actions: a new password, else any other change of the user.
    await audit(c, changes.passwordHash ? 'user_updated_password' : 'user_modified', { actor_id: user.id }, req.ip);
    if (emailChange) await sendEmailChange(d, c, user, email!, redirectOf(d, req, body), challenge);
    // GoTrue's phone change: a code to the new number, confirmed by verifyOtp({type: 'phone_change'}).
    if (phoneChange) await sendPhoneOtp(d, c, user, phone, 'phone_change');
    const fresh = (await findUserById(c, user.id))!;
    return userJson(fresh, await identitiesOf(c, user.id), await factorsOf(c, user.id));
  });
}
