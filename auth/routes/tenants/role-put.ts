/**
 * `PUT /tenants/:id/roles/:name {permissions, description?}`: creates or changes a custom role
 * (`roles.manage`). The built-in roles stay as they are, and nobody but an owner (or the
 * platform) grants a permission they do not hold themselves.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
import { TENANT_ERRORS } from '../../tenancy.ts';
import { BUILT_IN_ROLES, grants, putRole, withTransaction } from '../../store/index.ts';
import { actorOf, authorize, tenantParam } from './access.ts';
import { checkedBody, permissionsOf, roleParam } from './input.ts';
import { roleJson } from './json.ts';

export async function putRoleRoute(d: AuthDeps, req: FastifyRequest) {
  const actor = await actorOf(d, req);
  const id = tenantParam(req);
  const name = roleParam(req);
  if ((BUILT_IN_ROLES as readonly string[]).includes(name) || name === 'super_admin') throw TENANT_ERRORS.builtInRole();
  const body = checkedBody(bodyOf(req));
  const permissions = permissionsOf(body.permissions);
  const description = body.description === undefined ? null : str(body.description);
  if (description === undefined || (description && description.length > 1000)) throw AUTH_ERRORS.validation('description must be a string of at most 1000 characters');
  return withTransaction(d.pool, async (c) => {
    const entitled = await authorize(c, actor, id, 'roles.manage');
    const beyond = permissions.find((p) => !grants(entitled.permissions, p));
    if (!entitled.owner && beyond) throw TENANT_ERRORS.forbidden(beyond);
    return roleJson(await putRole(c, id, name, permissions, description));
  });
}
