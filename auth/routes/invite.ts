/** `POST /invite` (admin inviteUserByEmail): an unconfirmed user and an invite mail, no send-frequency limit. */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { bodyOf, emailOf, obj, str } from '../http.ts';
import { findUserByEmail, identitiesOf, withTransaction } from '../store/index.ts';
import { userJson } from '../tokens.ts';
import { inviteUser, redirectOf, sendAuthEmail } from './mail.ts';

export async function invite(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  const body = bodyOf(req);
  const email = emailOf(body)!;
  const redirectTo = redirectOf(d, req, body);
  return withTransaction(d.pool, async (c) => {
    const user = await inviteUser(c, email, obj(body.data), str(body.tenant_id) ?? null);
    await sendAuthEmail(d, c, { user, action: 'invite', email, redirectTo, enforceFrequency: false });
    const fresh = (await findUserByEmail(c, email))!;
    return userJson(fresh, await identitiesOf(c, fresh.id));
  });
}
