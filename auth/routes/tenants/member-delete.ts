/**
 * `DELETE /tenants/:id/members/:user_id`: removes a member (`members.manage`, or a member leaving
 * on their own). Only an owner (or the platform) removes an owner, and never the last one.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { TENANT_ERRORS } from '../../tenancy.ts';
import { grants, lockOwners, memberRole, removeMember, withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { uuidParam } from './input.ts';

export async function deleteMemberRoute(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  const userId = uuidParam(req, 'user_id');
  await withTransaction(d.pool, async (c) => {
    const entitled = await authorize(c, actor, id);
    const self = actor.user?.id === userId;
    if (!self && !grants(entitled.permissions, 'members.manage')) throw TENANT_ERRORS.forbidden('members.manage');
    const current = await memberRole(c, id, userId);
    if (!current) throw TENANT_ERRORS.notMember();
    if (current === 'owner') {
      if (!entitled.owner) throw TENANT_ERRORS.forbidden('owner');
      const owners = await lockOwners(c, id);
      if (owners.length <= 1) throw TENANT_ERRORS.lastOwner();
    }
    await removeMember(c, id, userId);
  });
  return reply.code(204).send();
}
