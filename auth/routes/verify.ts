/**
 * Following an email: `GET /verify?token=&type=&redirect_to=` (the link, a browser navigation:
 * 303 to redirect_to with the session in the fragment, or `?code=` for PKCE, or the error in the
 * fragment) and `POST /verify` (verifyOtp with email + 6-digit code, or token_hash: a session).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { AuthDeps } from '../deps.ts';
import { asAuthError, AuthError, AUTH_ERRORS, redirectErrorName } from '../errors.ts';
import { issueAuthCode } from '../flow-state.ts';
import { bodyOf, checkEmail, queryOf, str } from '../http.ts';
import { takePhoneOtp, validatePhone, type PhoneOtpKind } from '../phone.ts';
import { consumeToken, PKCE_PREFIX, tokenHash, ACCEPTED_TOKENS } from '../otp.ts';
import { errorRedirect, safeRedirect, withFragment, withQuery, withSessionFragment } from '../redirects.ts';
import {
  applyEmailChange,
  audit,
  confirmEmail,
  confirmPhone,
  confirmPhoneChange,
  deleteConfirmationTokens,
  deleteFlowState,
  findUserByEmail,
  findUserById,
  hasToken,
  pendingEmailChange,
  withTransaction,
  type UserRow,
} from '../store/index.ts';

const otpExpired = (pkceLink = false) =>
  new AuthError(403, 'otp_expired', pkceLink ? 'Email link is invalid or has expired' : 'Token has expired or is invalid');

const EMAIL_CHANGE_PARTIAL = 'Confirmation link accepted. Please proceed to confirm link sent to the other email';

/** The sign-in method (amr) each token kind stands for. */
const METHOD: Record<string, string> = {
  confirmation_token: 'otp',
  invite_token: 'invite',
  magiclink_token: 'magiclink',
  recovery_token: 'recovery',
  email_change_token_current: 'email_change',
  email_change_token_new: 'email_change',
};

type Outcome = { user: UserRow; method: string; flowStateId: string | null } | { partial: true; flowStateId: string | null };

/** Takes the token and applies what it proves (confirmation, email change …). */
async function verifyToken(c: pg.PoolClient, linkToken: string, type: string, email?: string): Promise<Outcome> {
  const token = await consumeToken(c, linkToken, type, email);
  if (!token || token.expired) throw otpExpired(linkToken.startsWith(PKCE_PREFIX));
  const user = await findUserById(c, token.user_id);
  if (!user) throw otpExpired();
  if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
  if (token.token_type.startsWith('email_change_token_')) {
    const other = token.token_type === 'email_change_token_new' ? 'email_change_token_current' : 'email_change_token_new';
    const newEmail = await pendingEmailChange(c, user.id);
    if (!newEmail) throw otpExpired();
    if (await hasToken(c, user.id, other)) return { partial: true, flowStateId: token.flow_state_id };
    const taken = await findUserByEmail(c, newEmail);
    if (taken && taken.id !== user.id) throw AUTH_ERRORS.emailExists();
    await applyEmailChange(c, user.id, newEmail);
  } else {
    if (token.token_type === 'invite_token' || token.token_type === 'confirmation_token') {
      await deleteConfirmationTokens(c, user.id);
    }
    await confirmEmail(c, user.id);
  }
  const fresh = (await findUserById(c, user.id))!;
  await audit(c, 'user_verified', { actor_id: user.id, token_type: token.token_type });
  return { user: fresh, method: METHOD[token.token_type] ?? 'otp', flowStateId: token.flow_state_id };
}

/** GoTrue's phone number check (E.164 once `+` and spaces are dropped). */
const E164 = /^[1-9][0-9]{1,14}$/;

/**
 * verifyOtp with a phone (`sms`, `phone_change`, or a phone number) answers what GoTrue answers
 * without an SMS provider: its checks of the request's shape, then "Token has expired or is
 * invalid" — no code was ever sent to a phone, so none can match.
 */
function phoneVerifyRefusal(body: Record<string, unknown>): AuthError {
  const token = str(body.token) ?? '';
  const tokenHash = str(body.token_hash) ?? '';
  const email = str(body.email) ?? '';
  const phone = str(body.phone) ?? '';
  if ((!token && !tokenHash) || (token && tokenHash)) return AUTH_ERRORS.validation('Verify requires either a token or a token hash');
  if (tokenHash) {
    if (email || phone || str(body.redirect_to)) return AUTH_ERRORS.validation('Only the token_hash and type should be provided');
    return AUTH_ERRORS.validation('Invalid email verification type');
  }
  if (phone && !email) {
    if (!E164.test(phone.replace(/^\+/, '').replaceAll(' ', ''))) return AUTH_ERRORS.validation('Invalid phone number format (E.164 required)');
    return otpExpired();
  }
  if (email && !phone) {
    try {
      checkEmail(email.trim().toLowerCase());
    } catch {
      return new AuthError(422, 'validation_failed', 'Invalid email format');
    }
    return otpExpired();
  }
  return AUTH_ERRORS.validation('Only an email address or phone number should be provided on verify');
}

/** GET /verify: a browser following a mail's link; every outcome, errors included, is a 303. */
export async function verifyLink(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const { config, pool } = d;
  const q = queryOf(req);
  const token = str(q.token) ?? '';
  const type = str(q.type) ?? '';
  const target = safeRedirect(config, str(q.redirect_to));
  const pkceLink = token.startsWith(PKCE_PREFIX);
  try {
    d.verifyByIp.hit(req.ip);
    if (!token || !ACCEPTED_TOKENS[type] || type === 'email') throw otpExpired(true);
    const location = await withTransaction(pool, async (c) => {
      const outcome = await verifyToken(c, token, type);
      if ('partial' in outcome) return withFragment(target, { message: EMAIL_CHANGE_PARTIAL, sb: '' });
      if (outcome.flowStateId) {
        const code = await issueAuthCode(c, outcome.flowStateId, outcome.user.id);
        return withQuery(target, { code });
      }
      const s = await d.issue(c, outcome.user, outcome.method, req);
      return withSessionFragment(target, s, { type, sb: '' });
    });
    return reply.code(303).header('location', location).header('cache-control', 'no-store').send();
  } catch (err) {
    const e = asAuthError(err);
    if (!(err instanceof AuthError)) req.log[e.status === 503 ? 'warn' : 'error']({ err }, 'auth: verify failed');
    const error = e.code === 'otp_expired'
      ? { error: 'access_denied', code: 'otp_expired', description: 'Email link is invalid or has expired' }
      : { error: redirectErrorName(e), code: e.code, description: e.message };
    return reply.code(303).header('location', errorRedirect(target, error, pkceLink)).header('cache-control', 'no-store').send();
  }
}

/** POST /verify (verifyOtp): a session, or the message of half an email change. */
export async function verifyPost(d: AuthDeps, req: FastifyRequest) {
  d.verifyByIp.hit(req.ip);
  const body = bodyOf(req);
  const type = str(body.type) ?? '';
  const phoneType = type === 'sms' || type === 'phone_change';
  if (!ACCEPTED_TOKENS[type] && !phoneType) throw AUTH_ERRORS.validation(`Verify requires a verification type (got "${type}")`);
  if (type === 'sms' && d.sms && str(body.phone) && str(body.token) && !str(body.email)) return verifyPhoneCode(d, req, str(body.phone)!, str(body.token)!);
  if (type === 'phone_change' && str(body.phone) && str(body.token) && !str(body.email)) return verifyPhoneCode(d, req, str(body.phone)!, str(body.token)!, 'phone_change');
  if (phoneType || str(body.phone)) throw phoneVerifyRefusal(body);
  let linkToken: string;
  let email: string | undefined;
  const tokenHashParam = str(body.token_hash);
  if (tokenHashParam) {
    if (body.email !== undefined) throw AUTH_ERRORS.validation('Only the token_hash and type should be provided');
    linkToken = tokenHashParam;
  } else {
    email = str(body.email)?.trim().toLowerCase();
    const code = str(body.token)?.trim();
    if (!email || !code) throw AUTH_ERRORS.validation('Verify requires either a token or a token hash');
    linkToken = tokenHash(email, code);
  }
  const result = await withTransaction(d.pool, async (c) => {
    const outcome = await verifyToken(c, linkToken, type, email);
    if ('partial' in outcome) return { msg: EMAIL_CHANGE_PARTIAL, code: '200' };
    if (outcome.flowStateId) await deleteFlowState(c, outcome.flowStateId);
    return d.issue(c, outcome.user, outcome.method, req);
  });
  return result;
}

/**
 * verifyOtp({phone, token, type}) with an SMS code, which signs in (amr otp): `sms` confirms the
 * user's number; `phone_change` makes the pending new number the user's, confirmed.
 */
async function verifyPhoneCode(d: AuthDeps, req: FastifyRequest, rawPhone: string, code: string, kind: PhoneOtpKind = 'sms') {
  const phone = validatePhone(rawPhone);
  return withTransaction(d.pool, async (c) => {
    const token = await takePhoneOtp(c, phone, code.trim(), kind);
    if (!token) throw otpExpired();
    const user = await findUserById(c, token.user_id);
    if (!user || (kind === 'sms' ? user.phone : user.phone_change) !== phone) throw otpExpired();
    if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
    if (kind === 'sms') await confirmPhone(c, user.id);
    else await confirmPhoneChange(c, user.id);
    await audit(c, kind === 'sms' ? 'user_verified' : 'user_modified', { actor_id: user.id, token_type: kind === 'sms' ? 'confirmation_token' : 'phone_change_token', provider: 'phone' });
    return d.issue(c, (await findUserById(c, user.id))!, 'otp', req);
  });
}
