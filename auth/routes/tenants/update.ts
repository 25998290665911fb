/**
 * `PATCH /tenants/:id {name?, slug?, metadata?, status?}`: renaming needs `tenant.manage`;
 * `status` ("suspended" | "active") only service_role or a super-admin may change.
 */
import type { FastifyRequest } from 'fastify';
import { findTenant, setTenantStatus, updateTenant } from '../../../db/tenants.ts';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, obj } from '../../http.ts';
import { withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { checkedBody, nameOf, slugOf } from './input.ts';
import { tenantJson } from './json.ts';

export async function updateTenantRoute(d: AuthDeps, req: FastifyRequest) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  const body = checkedBody(bodyOf(req));
  const status = body.status;
  if (status !== undefined && status !== 'active' && status !== 'suspended') throw AUTH_ERRORS.validation('status must be "active" or "suspended"');
  const changes = {
    name: body.name === undefined ? undefined : nameOf(body.name),
    slug: body.slug === undefined ? undefined : slugOf(body.slug),
    metadata: body.metadata === undefined ? undefined : obj(body.metadata),
  };
  return withTransaction(d.pool, async (c) => {
    const entitled = await authorize(c, actor, id, 'tenant.manage');
    if (status !== undefined) {
      if (!entitled.platform) throw AUTH_ERRORS.notAdmin();
      await setTenantStatus(c, id, status);
    }
    await updateTenant(c, id, changes);
    return tenantJson((await findTenant(c, id))!, entitled.role);
  });
}
