/**
 * The tenant an access token names (sql/0026_tenant_rbac.sql): the user's active tenant
 * (auth.users.tenant_id) with their role in it, or the tenant a refresh asks to switch to. A
 * member of a suspended tenant gets no token; a platform super-admin may switch into any active
 * tenant (tenant_role `super_admin` where they are no member) and keeps signing in while their
 * active tenant is suspended (the token then names no tenant).
 */
import { AuthError, AUTH_ERRORS } from './errors.ts';
import { memberRole, setActiveTenant, tenantStatus, type Db, type UserRow } from './store/index.ts';
import type { TokenTenant } from './tokens.ts';

/** The tenant_role of a platform super-admin acting in a tenant they are no member of. */
export const SUPER_ADMIN_ROLE = 'super_admin';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const TENANT_ERRORS = {
  notMember: () => new AuthError(403, 'tenant_not_member', 'User is not a member of this tenant'),
  suspended: () => new AuthError(403, 'tenant_suspended', 'The tenant is suspended'),
  notFound: () => new AuthError(404, 'tenant_not_found', 'Tenant not found'),
  forbidden: (permission: string) => new AuthError(403, 'insufficient_permission', `This requires the tenant permission ${permission}`),
  lastOwner: () => new AuthError(422, 'last_owner', 'A tenant keeps at least one owner'),
  unknownRole: (role: string) => new AuthError(422, 'role_not_found', `No role ${JSON.stringify(role)} in this tenant`),
  builtInRole: () => new AuthError(422, 'role_built_in', 'The built-in roles owner, admin and member cannot be changed'),
  roleInUse: () => new AuthError(422, 'role_in_use', 'Members still hold this role'),
  invitationNotFound: () => new AuthError(404, 'invitation_not_found', 'Invitation not found or expired'),
  invitationEmailMismatch: () => new AuthError(403, 'invitation_email_mismatch', 'The invitation was sent to another email address'),
};

/** A tenant id from the client, or GoTrue's 400. */
export function tenantIdOf(value: unknown, what = 'tenant_id'): string {
  if (typeof value !== 'string' || !UUID.test(value)) throw AUTH_ERRORS.validation(`${what} must be a UUID`);
  return value.toLowerCase();
}

/**
 * What the next access token of `user` names; with `wanted` (a refresh naming a tenant) the active
 * tenant switches to it first, refused unless the user is a member (or a super-admin) and the
 * tenant is active.
 */
export async function tokenTenantFor(db: Db, user: UserRow, wanted?: string): Promise<TokenTenant> {
  const superAdmin = user.is_super_admin === true;
  const tenantId = wanted ?? user.tenant_id;
  if (!tenantId) return { tenantId: null, superAdmin };
  const [status, role] = await Promise.all([tenantStatus(db, tenantId), memberRole(db, tenantId, user.id)]);
  if (wanted !== undefined) {
    if (!status || (!role && !superAdmin)) throw TENANT_ERRORS.notMember();
    if (status === 'suspended') throw TENANT_ERRORS.suspended();
    if (user.tenant_id !== wanted) await setActiveTenant(db, user.id, wanted);
  } else if (status !== 'active') {
    if (status === 'suspended' && !superAdmin) throw TENANT_ERRORS.suspended();
    return { tenantId: null, superAdmin };
  }
  // An active tenant the user is no member of (a super-admin's, after the grant was revoked)
  // names no tenant: tenant policies must not keep letting them in.
  if (!role && !superAdmin) return { tenantId: null, superAdmin };
  return { tenantId, role: role ?? SUPER_ADMIN_ROLE, superAdmin };
}
