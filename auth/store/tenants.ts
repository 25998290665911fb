/**
 * Tenancy's auth SQL (sql/0026_tenant_rbac.sql): memberships, roles and their permissions,
 * invitations, the active tenant of a user. Tenants themselves are db/tenants.ts.
 */
import type { Db } from './db.ts';

export const BUILT_IN_ROLES = ['owner', 'admin', 'member'] as const;

export interface MemberRow {
  tenant_id: string;
  user_id: string;
  role: string;
  email: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface RoleRow {
  tenant_id: string | null;
  name: string;
  permissions: string[];
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface InvitationRow {
  id: string;
  tenant_id: string;
  email: string;
  role: string;
  invited_by: string | null;
  redirect_to: string | null;
  created_at: Date;
  expires_at: Date;
  accepted_at: Date | null;
  accepted_by: string | null;
}

/** A user's membership in each of their tenants, with the tenant's name, slug and status. */
export interface MembershipRow {
  tenant_id: string;
  role: string;
  name: string;
  slug: string | null;
  status: string;
  created_at: Date;
}

export async function memberRole(db: Db, tenantId: string, userId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ role: string }>(`select role from auth.tenant_members where tenant_id = $1 and user_id = $2`, [tenantId, userId]);
  return rows[0]?.role;
}

/** The permissions of a role in a tenant (the tenant's own role first, else the built-in one). */
export async function rolePermissions(db: Db, tenantId: string, role: string): Promise<string[] | undefined> {
  const { rows } = await db.query<{ permissions: string[] }>(
    `select permissions from auth.tenant_roles where name = $2 and (tenant_id = $1 or tenant_id is null) order by tenant_id nulls last limit 1`,
    [tenantId, role],
  );
  return rows[0]?.permissions;
}

/** Does a list of granted permissions include `wanted` (`*` and `prefix.*` wildcards, as auth.permission_granted)? */
export function grants(granted: readonly string[], wanted: string): boolean {
  return granted.some((g) => g === '*' || g === wanted || (g.endsWith('.*') && wanted.startsWith(g.slice(0, -1))));
}

export async function membershipsOf(db: Db, userId: string): Promise<MembershipRow[]> {
  const { rows } = await db.query<MembershipRow>(
    `select m.tenant_id, m.role, t.name, t.slug, t.status, m.created_at
       from auth.tenant_members m join public.tenants t on t.id = m.tenant_id
      where m.user_id = $1 order by m.created_at, t.name`,
    [userId],
  );
  return rows;
}

export async function listMembers(db: Db, tenantId: string): Promise<MemberRow[]> {
  const { rows } = await db.query<MemberRow>(
    `select m.tenant_id, m.user_id, m.role, u.email, m.created_at, m.updated_at
       from auth.tenant_members m join auth.users u on u.id = m.user_id
      where m.tenant_id = $1 order by m.created_at, u.email`,
    [tenantId],
  );
  return rows;
}

/** Adds a member or changes their role; the row as it is now. */
export async function putMember(db: Db, tenantId: string, userId: string, role: string): Promise<MemberRow> {
  await db.query(
    `insert into auth.tenant_members (tenant_id, user_id, role) values ($1, $2, $3)
     on conflict (tenant_id, user_id) do update set role = excluded.role, updated_at = now()`,
    [tenantId, userId, role],
  );
  return (await listMembers(db, tenantId)).find((m) => m.user_id === userId)!;
}

/**
 * Removes a member; a user whose active tenant this was moves to another of their tenants (the
 * oldest membership), or to none.
 */
export async function removeMember(db: Db, tenantId: string, userId: string): Promise<boolean> {
  const { rowCount } = await db.query(`delete from auth.tenant_members where tenant_id = $1 and user_id = $2`, [tenantId, userId]);
  await db.query(
    `update auth.users u set tenant_id = (select m.tenant_id from auth.tenant_members m where m.user_id = u.id order by m.created_at limit 1)
      where u.id = $2 and u.tenant_id = $1`,
    [tenantId, userId],
  );
  return (rowCount ?? 0) > 0;
}

/** Locks the tenant's owner rows and counts them (a concurrent demotion waits: no tenant loses its last owner). */
export async function lockOwners(db: Db, tenantId: string): Promise<string[]> {
  const { rows } = await db.query<{ user_id: string }>(
    `select user_id from auth.tenant_members where tenant_id = $1 and role = 'owner' order by user_id for update`,
    [tenantId],
  );
  return rows.map((r) => r.user_id);
}

export async function setActiveTenant(db: Db, userId: string, tenantId: string | null): Promise<void> {
  await db.query(`update auth.users set tenant_id = $2, updated_at = now() where id = $1`, [userId, tenantId]);
}

/** Is the tenant suspended; undefined when it does not exist. */
export async function tenantStatus(db: Db, tenantId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ status: string }>(`select status from public.tenants where id = $1`, [tenantId]);
  return rows[0]?.status;
}

// Roles ----------------------------------------------------------------------------------------

export async function listRoles(db: Db, tenantId: string): Promise<RoleRow[]> {
  const { rows } = await db.query<RoleRow>(
    `select tenant_id, name, permissions, description, created_at, updated_at from auth.tenant_roles
      where tenant_id = $1 or tenant_id is null order by tenant_id nulls first, name`,
    [tenantId],
  );
  return rows;
}

export async function putRole(db: Db, tenantId: string, name: string, permissions: string[], description: string | null): Promise<RoleRow> {
  const { rows } = await db.query<RoleRow>(
    `insert into auth.tenant_roles (tenant_id, name, permissions, description) values ($1, $2, $3, $4)
     on conflict (tenant_id, name) do update set permissions = excluded.permissions, description = coalesce(excluded.description, auth.tenant_roles.description), updated_at = now()
     returning tenant_id, name, permissions, description, created_at, updated_at`,
    [tenantId, name, permissions, description],
  );
  return rows[0];
}

/** Deletes a custom role: 'missing', 'in_use' (members hold it) or 'deleted'. */
export async function deleteRole(db: Db, tenantId: string, name: string): Promise<'missing' | 'in_use' | 'deleted'> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from auth.tenant_members where tenant_id = $1 and role = $2`, [tenantId, name]);
  if (rows[0].n > 0) return 'in_use';
  const { rowCount } = await db.query(`delete from auth.tenant_roles where tenant_id = $1 and name = $2`, [tenantId, name]);
  return rowCount ? 'deleted' : 'missing';
}

// Invitations ----------------------------------------------------------------------------------

const INVITATION = `id, tenant_id, email, role, invited_by, redirect_to, created_at, expires_at, accepted_at, accepted_by`;

export async function createInvitation(
  db: Db,
  inv: { tenantId: string; email: string; role: string; tokenHash: string; invitedBy: string | null; redirectTo: string | null; ttlSeconds: number },
): Promise<InvitationRow> {
  const { rows } = await db.query<InvitationRow>(
    `insert into auth.tenant_invitations (tenant_id, email, role, token_hash, invited_by, redirect_to, expires_at)
     values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7)) returning ${INVITATION}`,
    [inv.tenantId, inv.email, inv.role, inv.tokenHash, inv.invitedBy, inv.redirectTo, inv.ttlSeconds],
  );
  return rows[0];
}

export async function listInvitations(db: Db, tenantId: string): Promise<InvitationRow[]> {
  const { rows } = await db.query<InvitationRow>(`select ${INVITATION} from auth.tenant_invitations where tenant_id = $1 order by created_at`, [tenantId]);
  return rows;
}

export async function findInvitation(db: Db, id: string): Promise<InvitationRow | undefined> {
  const { rows } = await db.query<InvitationRow>(`select ${INVITATION} from auth.tenant_invitations where id = $1`, [id]);
  return rows[0];
}

export async function deleteInvitation(db: Db, tenantId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`delete from auth.tenant_invitations where tenant_id = $1 and id = $2`, [tenantId, id]);
  return (rowCount ?? 0) > 0;
}

/** Replaces an open invitation's token (the mail job mints a fresh one per delivery attempt). */
export async function rekeyInvitation(db: Db, id: string, tokenHash: string): Promise<(InvitationRow & { tenant_name: string }) | undefined> {
  const { rows } = await db.query<InvitationRow & { tenant_name: string }>(
    `update auth.tenant_invitations i set token_hash = $2 from public.tenants t
      where i.id = $1 and t.id = i.tenant_id and i.accepted_at is null and i.expires_at > now()
      returning i.id, i.tenant_id, i.email, i.role, i.redirect_to, i.expires_at, t.name as tenant_name`,
    [id, tokenHash],
  );
  return rows[0];
}

/** The open invitation a token hash names, locked; undefined when unknown, taken or expired. */
export async function lockOpenInvitation(db: Db, tokenHash: string): Promise<InvitationRow | undefined> {
  const { rows } = await db.query<InvitationRow>(
    `select ${INVITATION} from auth.tenant_invitations where token_hash = $1 and accepted_at is null and expires_at > now() for update`,
    [tokenHash],
  );
  return rows[0];
}

export async function markInvitationAccepted(db: Db, id: string, userId: string): Promise<void> {
  await db.query(`update auth.tenant_invitations set accepted_at = now(), accepted_by = $2 where id = $1`, [id, userId]);
}

/**
 * Who acts, for the audit log (sql/0027 reads these transaction-local settings in its triggers on
 * the tenancy tables): the user (or none for service_role), how they are entitled, and whether a
 * super-admin acts in a tenant they are no member of.
 */
export async function recordActor(db: Db, actor: { userId: string | null; via: string; tenantId: string | null; superAdminForeign: boolean }): Promise<void> {
  await db.query(
    `select set_config('nextmavens.actor_id', $1, true), set_config('nextmavens.actor_via', $2, true),
            set_config('nextmavens.actor_tenant_id', $3, true), set_config('nextmavens.super_admin_foreign', $4, true)`,
    [actor.userId ?? '', actor.via, actor.tenantId ?? '', String(actor.superAdminForeign)],
  );
}
