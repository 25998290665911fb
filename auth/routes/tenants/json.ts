/** The JSON of the tenant admin API: tenants, members, roles and invitations (no token hashes). */
import type { TenantRow } from '../../../db/tenants.ts';
import type { InvitationRow, MemberRow, MembershipRow, RoleRow } from '../../store/index.ts';

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function tenantJson(t: TenantRow, role?: string): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: t.id,
    name: t.name,
    slug: t.slug,
    status: t.status,
    suspended_at: iso(t.suspended_at),
    metadata: t.metadata,
    created_at: iso(t.created_at),
    member_count: t.users,
  };
  if (role) json.role = role;
  return json;
}

export const membershipJson = (m: MembershipRow) => ({
  id: m.tenant_id,
  name: m.name,
  slug: m.slug,
  status: m.status,
  role: m.role,
  joined_at: iso(m.created_at),
});

export const memberJson = (m: MemberRow) => ({
  tenant_id: m.tenant_id,
  user_id: m.user_id,
  email: m.email ?? '',
  role: m.role,
  created_at: iso(m.created_at),
  updated_at: iso(m.updated_at),
});

export const roleJson = (r: RoleRow) => ({
  name: r.name,
  permissions: r.permissions,
  description: r.description,
  built_in: r.tenant_id === null,
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});

export const invitationJson = (i: InvitationRow) => ({
  id: i.id,
  tenant_id: i.tenant_id,
  email: i.email,
  role: i.role,
  invited_by: i.invited_by,
  created_at: iso(i.created_at),
  expires_at: iso(i.expires_at),
  accepted_at: iso(i.accepted_at),
  accepted_by: i.accepted_by,
});
