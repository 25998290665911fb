/**
 * `POST /tenants/:id/invitations {email, role, redirect_to?}`: invites an address into the tenant
 * (`members.manage`; an owner invitation only by an owner). The mail goes out through the job
 * queue (auth/tenant-invitations.ts) with a link to `redirect_to` (an allowed redirect, else the
 * site URL) carrying `invitation_token`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AuthError } from '../../errors.ts';
import { RateLimiter } from '../../rate-limit.ts';
import { bodyOf, emailOf } from '../../http.ts';
import { TENANT_ERRORS } from '../../tenancy.ts';
import { INVITATION_TTL_SECONDS, placeholderHash, queueInvitationMail } from '../../tenant-invitations.ts';
import { createInvitation, grants, rolePermissions, withTransaction } from '../../store/index.ts';
import { redirectOf } from '../mail.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { checkedBody, roleOf } from './input.ts';
import { invitationJson } from './json.ts';

/**
 * Invitation mails per tenant per hour (AUTH_RATE_LIMIT_EMAIL_SENT, as auth's own mails): a
 * member with members.manage cannot turn the stack into a mail cannon. One limiter per service.
 */
const perTenant = new WeakMap<AuthDeps, RateLimiter>();
const limiterOf = (d: AuthDeps) => {
  let limiter = perTenant.get(d);
  if (!limiter) perTenant.set(d, (limiter = new RateLimiter(d.config.auth.rateLimits.emailSent, 3600, () => new AuthError(429, 'over_email_send_rate_limit', 'Email rate limit exceeded'))));
  return limiter;
};

export async function createInvitationRoute(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  const body = checkedBody(bodyOf(req));
  const email = emailOf(body)!;
  const role = roleOf(body.role ?? 'member');
  const redirectTo = redirectOf(d, req, body);
  const invitation = await withTransaction(d.pool, async (c) => {
    const entitled = await authorize(c, actor, id, 'members.manage');
    if (!entitled.platform) limiterOf(d).hit(id);
    const granted = await rolePermissions(c, id, role);
    if (!granted) throw TENANT_ERRORS.unknownRole(role);
    const beyond = granted.find((p) => !grants(entitled.permissions, p));
    if (!entitled.owner && (role === 'owner' || beyond)) throw TENANT_ERRORS.forbidden(beyond ?? 'owner');
    const created = await createInvitation(c, {
      tenantId: id,
      email,
      role,
      tokenHash: placeholderHash(),
      invitedBy: actor.user?.id ?? null,
      redirectTo,
      ttlSeconds: INVITATION_TTL_SECONDS,
    });
    await queueInvitationMail(c, created.id);
    return created;
  });
  reply.code(201);
  return invitationJson(invitation);
}
