/** `GET /tenants/:id/roles`: the built-in roles and the tenant's own, with their permissions, for any member. */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { listRoles, withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { roleJson } from './json.ts';

export async function listRolesRoute(d: AuthDeps, req: FastifyRequest) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  return withTransaction(d.pool, async (c) => {
    await authorize(c, actor, id);
    return (await listRoles(c, id)).map(roleJson);
  });
}
