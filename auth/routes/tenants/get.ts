/** `GET /tenants/:id`: the tenant, for its members (with their role) and the platform. */
import type { FastifyRequest } from 'fastify';
import { findTenant } from '../../../db/tenants.ts';
import type { AuthDeps } from '../../deps.ts';
import { withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { tenantJson } from './json.ts';

export async function getTenantRoute(d: AuthDeps, req: FastifyRequest) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  return withTransaction(d.pool, async (c) => {
    const { role } = await authorize(c, actor, id);
    return tenantJson((await findTenant(c, id))!, role);
  });
}
