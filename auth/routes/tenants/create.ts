/**
 * `POST /tenants {name, slug?}`: a signed-in user creating a tenant becomes its owner (and, having
 * no active tenant yet, is switched into it); service_role may name the owner with `owner_id`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createTenant, findTenant } from '../../../db/tenants.ts';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { bodyOf } from '../../http.ts';
import { tenantIdOf } from '../../tenancy.ts';
import { findUserById, putMember, recordActor, setActiveTenant, withTransaction } from '../../store/index.ts';
import { actorOf } from './access.ts';
import { checkedBody, nameOf, slugOf } from './input.ts';
import { tenantJson } from './json.ts';

export async function createTenantRoute(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const actor = await actorOf(d, req);
  const body = checkedBody(bodyOf(req));
  const name = nameOf(body.name);
  const slug = body.slug === undefined ? undefined : (slugOf(body.slug) ?? undefined);
  if (body.owner_id !== undefined && !actor.service) throw AUTH_ERRORS.notAdmin();
  const ownerId = body.owner_id !== undefined ? tenantIdOf(body.owner_id, 'owner_id') : actor.user?.id;
  const created = await withTransaction(d.pool, async (c) => {
    const owner = ownerId ? await findUserById(c, ownerId) : undefined;
    if (ownerId && !owner) throw AUTH_ERRORS.userNotFound();
    const tenant = await createTenant(c, name, slug);
    await recordActor(c, { userId: actor.user?.id ?? null, via: actor.service ? 'service_role' : 'user', tenantId: tenant.id, superAdminForeign: false });
    if (owner) {
      await putMember(c, tenant.id, owner.id, 'owner');
      if (!owner.tenant_id) await setActiveTenant(c, owner.id, tenant.id);
    }
    return (await findTenant(c, tenant.id))!;
  });
  reply.code(201);
  return tenantJson(created, ownerId ? 'owner' : undefined);
}
