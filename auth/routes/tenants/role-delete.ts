/** `DELETE /tenants/:id/roles/:name`: deletes a custom role no member holds (`roles.manage`). */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { TENANT_ERRORS } from '../../tenancy.ts';
import { BUILT_IN_ROLES, deleteRole, withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { roleParam } from './input.ts';

export async function deleteRoleRoute(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  const name = roleParam(req);
  if ((BUILT_IN_ROLES as readonly string[]).includes(name)) throw TENANT_ERRORS.builtInRole();
  await withTransaction(d.pool, async (c) => {
    await authorize(c, actor, id, 'roles.manage');
    const result = await deleteRole(c, id, name);
    if (result === 'missing') throw TENANT_ERRORS.unknownRole(name);
    if (result === 'in_use') throw TENANT_ERRORS.roleInUse();
  });
  return reply.code(204).send();
}
