/**
 * Who may do what in the tenant admin API: service_role (the admin API key) and a platform
 * super-admin may do everything; a member may do what their role's permissions grant
 * (`tenant.manage`, `members.manage`, `roles.manage`); a non-member nothing. Every authorised
 * request records its actor transaction-locally for the audit log (auth/store/tenants.ts
 * recordActor), a super-admin outside their own tenants marked as such.
 */
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { TENANT_ERRORS, tenantIdOf } from '../../tenancy.ts';
import { grants, memberRole, recordActor, rolePermissions, tenantStatus, type UserRow } from '../../store/index.ts';

export interface TenantActor {
  /** The signed-in user; undefined for service_role. */
  user?: UserRow;
  /** service_role or a platform super-admin: no membership needed. */
  platform: boolean;
  service: boolean;
}

export interface Entitlement {
  /** The actor's role in the tenant (undefined for service_role, or a super-admin who is no member). */
  role?: string;
  /** May act as an owner: an owner, service_role or a super-admin. */
  owner: boolean;
  platform: boolean;
  /** The actor's own permissions in the tenant (['*'] for the platform). */
  permissions: string[];
}

export async function actorOf(d: AuthDeps, req: FastifyRequest): Promise<TenantActor> {
  const claims = await d.claimsOf(req);
  if ((claims.role === 'service_role' || claims.role === 'supabase_admin') && claims.sub === undefined) return { platform: true, service: true };
  const { user } = await d.currentUser(req);
  if (user.is_anonymous) throw AUTH_ERRORS.anonymousNotAllowed();
  return { user, platform: user.is_super_admin === true, service: false };
}

/** The `:id` of the route, checked. */
export const tenantParam = (req: FastifyRequest): string => tenantIdOf((req.params as { id?: string }).id, 'tenant id');

/**
 * Entitles `actor` to act in `tenantId` (with `permission` when given; any member otherwise), or
 * throws GoTrue-shaped 404/403s. A suspended tenant's members are refused (the platform is not).
 */
export async function authorize(c: pg.PoolClient, actor: TenantActor, tenantId: string, permission?: string): Promise<Entitlement> {
  const status = await tenantStatus(c, tenantId);
  if (!status) throw TENANT_ERRORS.notFound();
  const role = actor.user ? await memberRole(c, tenantId, actor.user.id) : undefined;
  const record = (via: string, superAdminForeign = false) =>
    recordActor(c, { userId: actor.user?.id ?? null, via, tenantId, superAdminForeign });
  if (actor.platform) {
    await record(actor.service ? 'service_role' : 'super_admin', !actor.service && !role);
    return { role, owner: true, platform: true, permissions: ['*'] };
  }
  if (!role) throw TENANT_ERRORS.notMember();
  if (status === 'suspended') throw TENANT_ERRORS.suspended();
  const permissions = (await rolePermissions(c, tenantId, role)) ?? [];
  if (permission && !grants(permissions, permission)) throw TENANT_ERRORS.forbidden(permission);
  await record(role);
  return { role, owner: role === 'owner', platform: false, permissions };
}
