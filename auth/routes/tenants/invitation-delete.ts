/** `DELETE /tenants/:id/invitations/:invitation_id`: withdraws an invitation (`members.manage`); its link stops working. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { TENANT_ERRORS } from '../../tenancy.ts';
import { deleteInvitation, withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { uuidParam } from './input.ts';

export async function deleteInvitationRoute(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  const invitationId = uuidParam(req, 'invitation_id');
  await withTransaction(d.pool, async (c) => {
    await authorize(c, actor, id, 'members.manage');
    if (!(await deleteInvitation(c, id, invitationId))) throw TENANT_ERRORS.invitationNotFound();
  });
  return reply.code(204).send();
}
