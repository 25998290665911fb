/** `GET /tenants/:id/members`: the tenant's members and their roles, for any member and the platform. */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { listMembers, withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { memberJson } from './json.ts';

export async function listMembersRoute(d: AuthDeps, req: FastifyRequest) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  return withTransaction(d.pool, async (c) => {
    await authorize(c, actor, id);
    return (await listMembers(c, id)).map(memberJson);
  });
}
