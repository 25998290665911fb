/** `GET /tenants`: every tenant for service_role and super-admins; a user's own tenants (with their role) otherwise. */
import type { FastifyRequest } from 'fastify';
import { listTenants } from '../../../db/tenants.ts';
import type { AuthDeps } from '../../deps.ts';
import { membershipsOf } from '../../store/index.ts';
import { actorOf } from './access.ts';
import { membershipJson, tenantJson } from './json.ts';

export async function listTenantsRoute(d: AuthDeps, req: FastifyRequest) {
  const actor = await actorOf(d, req);
  if (actor.platform) return (await listTenants(d.pool)).map((t) => tenantJson(t));
  return (await membershipsOf(d.pool, actor.user!.id)).map(membershipJson);
}
