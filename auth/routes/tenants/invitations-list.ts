/** `GET /tenants/:id/invitations`: the tenant's invitations, open and accepted (`members.manage`). */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { listInvitations, withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { invitationJson } from './json.ts';

export async function listInvitationsRoute(d: AuthDeps, req: FastifyRequest) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  return withTransaction(d.pool, async (c) => {
    await authorize(c, actor, id, 'members.manage');
    return (await listInvitations(c, id)).map(invitationJson);
  });
}
