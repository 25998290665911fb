/**
 * `POST /admin/generate_link` (admin generateLink): the link and code a mail of that type would
 * carry, without sending it — the user created or stamped as if it had been sent.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { AUTH_ERRORS } from '../errors.ts';
import { bodyOf, emailOf, obj, str } from '../http.ts';
import { actionLink } from '../mailer.ts';
import { EMAIL_ACTIONS, issueToken, VERIFY_TYPE, type LinkAction } from '../otp.ts';
import { hashPassword } from '../passwords.ts';
import { createUser, findUserByEmail, identitiesOf, setEmailChange, stampSent, withTransaction } from '../store/index.ts';
import { userJson } from '../tokens.ts';
import { inviteUser, redirectOf } from './mail.ts';

export async function generateLink(d: AuthDeps, req: FastifyRequest) {
  const { config } = d;
  await d.requireAdmin(req);
  const body = bodyOf(req);
  const type = str(body.type) as LinkAction | undefined;
  if (!type || !EMAIL_ACTIONS.includes(type)) throw AUTH_ERRORS.validation(`Invalid link type: ${type ?? '(missing)'}`);
  const email = emailOf(body)!;
  const redirectTo = redirectOf(d, req, body);
  const data = obj(body.data);
  const passwordHash = type === 'signup' && str(body.password) ? await hashPassword(d.checkPassword(str(body.password)), config.auth.bcryptCost) : undefined;
  return withTransaction(d.pool, async (c) => {
    let user = await findUserByEmail(c, email);
    let recipient = email;
    if (type === 'signup') {
      if (user?.email_confirmed_at) throw AUTH_ERRORS.emailExists();
      user ??= await createUser(c, { email, passwordHash, confirmed: false, userMetadata: data, appMetadata: { provider: 'email', providers: ['email'] }, isAnonymous: false, tenantId: null });
      await stampSent(c, user.id, 'confirmation_sent_at');
    } else if (type === 'invite') {
      user = await inviteUser(c, email, data, null);
    } else {
      if (!user) throw AUTH_ERRORS.userNotFound();
      if (type === 'email_change_current' || type === 'email_change_new') {
        const newEmail = emailOf({ email: body.new_email })!;
        if (await findUserByEmail(c, newEmail)) throw AUTH_ERRORS.emailExists();
        await setEmailChange(c, user.id, newEmail, { stampSent: true });
        if (type === 'email_change_new') recipient = newEmail;
      } else {
        await stampSent(c, user.id, 'recovery_sent_at');
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
