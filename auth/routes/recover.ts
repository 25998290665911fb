/** `POST /recover` (resetPasswordForEmail; also `POST /api/auth/reset`): a recovery mail, `{}` whether or not the address is known. */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { challengeOf } from '../flow-state.ts';
import { bodyOf, emailOf } from '../http.ts';
import { findUserByEmail, withTransaction } from '../store/index.ts';
import { redirectOf, sendAuthEmail } from './mail.ts';

export async function recover(d: AuthDeps, req: FastifyRequest) {
  d.otpByIp.hit(req.ip);
  const body = bodyOf(req);
  const email = emailOf(body)!;
  const challenge = challengeOf(body);
  const redirectTo = redirectOf(d, req, body);
  await withTransaction(d.pool, async (c) => {
    const user = await findUserByEmail(c, email);
    if (user) await sendAuthEmail(d, c, { user, action: 'recovery', email, redirectTo, challenge });
  });
  return {};
}
