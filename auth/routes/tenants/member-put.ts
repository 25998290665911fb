/**
 * `PUT /tenants/:id/members/:user_id {role}`: adds a user to the tenant or changes their role
 * (`members.manage`). Only an owner (or the platform) makes or unmakes owners, and the last
 * owner stays one. A user who had no active tenant is switched into this one.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { bodyOf } from '../../http.ts';
import { TENANT_ERRORS } from '../../tenancy.ts';
import { findUserById, grants, lockOwners, memberRole, putMember, rolePermissions, setActiveTenant, withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { checkedBody, roleOf, uuidParam } from './input.ts';
import { memberJson } from './json.ts';

export async function putMemberRoute(d: AuthDeps, req: FastifyRequest) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  const userId = uuidParam(req, 'user_id');
  const role = roleOf(checkedBody(bodyOf(req)).role);
  return withTransaction(d.pool, async (c) => {
    const entitled = await authorize(c, actor, id, 'members.manage');
    const granted = await rolePermissions(c, id, role);
    if (!granted) throw TENANT_ERRORS.unknownRole(role);
    // No one hands out more than they hold (an admin giving themselves a custom `*` role).
    const beyond = granted.find((p) => !grants(entitled.permissions, p));
    if (!entitled.owner && beyond) throw TENANT_ERRORS.forbidden(beyond);
    const user = await findUserById(c, userId);
    if (!user) throw AUTH_ERRORS.userNotFound();
    const current = await memberRole(c, id, userId);
    if ((role === 'owner' || current === 'owner') && !entitled.owner) throw TENANT_ERRORS.forbidden('owner');
    if (current === 'owner' && role !== 'owner') {
      const owners = await lockOwners(c, id);
      if (owners.length <= 1) throw TENANT_ERRORS.lastOwner();
    }
    const member = await putMember(c, id, userId, role);
    if (!user.tenant_id) await setActiveTenant(c, userId, id);
    return memberJson(member);
  });
}
