/** `DELETE /tenants/:id`: by an owner, service_role or a super-admin; memberships, roles and invitations go with it. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { deleteTenant } from '../../../db/tenants.ts';
import type { AuthDeps } from '../../deps.ts';
import { AuthError } from '../../errors.ts';
import { TENANT_ERRORS } from '../../tenancy.ts';
import { withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';

export async function deleteTenantRoute(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  await withTransaction(d.pool, async (c) => {
    const entitled = await authorize(c, actor, id, 'tenant.manage');
    if (!entitled.owner) throw TENANT_ERRORS.forbidden('owner');
    await deleteTenant(c, id);
  }).catch((err: unknown) => {
    if ((err as { code?: unknown }).code === '23503') throw new AuthError(409, 'tenant_in_use', 'Rows of other tables still reference this tenant');
    throw err;
  });
  return reply.code(204).send();
}
