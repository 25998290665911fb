/** `GET /tenants/:id/roles/:name`: one role (the tenant's own, else the built-in one) and its permissions. */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { TENANT_ERRORS } from '../../tenancy.ts';
import { listRoles, withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { roleParam } from './input.ts';
import { roleJson } from './json.ts';

export async function getRoleRoute(d: AuthDeps, req: FastifyRequest) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  const name = roleParam(req);
  return withTransaction(d.pool, async (c) => {
    await authorize(c, actor, id);
    const role = (await listRoles(c, id)).filter((r) => r.name === name).pop();
    if (!role) throw TENANT_ERRORS.unknownRole(name);
    return roleJson(role);
  });
}
