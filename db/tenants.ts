/**
 * Tenants (public.tenants, sql/0005_tenancy.sql and sql/0026_tenant_rbac.sql): the SQL the CLI
 * and the auth service's tenant admin API create, list, suspend and resume them with, and the
 * suspension check of services that run no transaction as the caller first (GraphQL, realtime).
 */
import type pg from 'pg';

export type TenantStatus = 'active' | 'suspended';

export interface TenantRow {
  id: string;
  name: string;
  slug: string | null;
  status: TenantStatus;
  suspended_at: Date | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  /** Members (auth.tenant_members). */
  users: number;
}

type Queryable = Pick<pg.Pool | pg.Client | pg.PoolClient, 'query'>;

const COLUMNS = `t.id, t.name, t.slug, t.status, t.suspended_at, t.metadata, t.created_at,
  (select count(*)::int from auth.tenant_members m where m.tenant_id = t.id) as users`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function createTenant(db: Queryable, name: string, slug?: string): Promise<TenantRow> {
  const { rows } = await db.query<TenantRow>(
    `insert into public.tenants as t (name, slug) values ($1, $2) returning ${COLUMNS}`,
    [name, slug ?? null],
  );
  return rows[0];
}

export async function listTenants(db: Queryable): Promise<TenantRow[]> {
  const { rows } = await db.query<TenantRow>(`select ${COLUMNS} from public.tenants t order by t.created_at, t.name`);
  return rows;
}

/** A tenant by id or slug. */
export async function findTenant(db: Queryable, idOrSlug: string): Promise<TenantRow | undefined> {
  const { rows } = UUID.test(idOrSlug)
    ? await db.query<TenantRow>(`select ${COLUMNS} from public.tenants t where t.id = $1::uuid`, [idOrSlug])
    : await db.query<TenantRow>(`select ${COLUMNS} from public.tenants t where t.slug = $1`, [idOrSlug]);
  return rows[0];
}

/** Suspends or resumes a tenant (by id or slug); undefined when there is none. */
export async function setTenantStatus(db: Queryable, idOrSlug: string, status: TenantStatus): Promise<TenantRow | undefined> {
  const tenant = await findTenant(db, idOrSlug);
  if (!tenant) return undefined;
  const { rows } = await db.query<TenantRow>(
    `update public.tenants t set status = $2,
       suspended_at = case when $2 = 'suspended' then coalesce(t.suspended_at, now()) end
     where t.id = $1 returning ${COLUMNS}`,
    [tenant.id, status],
  );
  return rows[0];
}

/** The tenant claims name (claim `tenant_id`, else `app_metadata.tenant_id`), when it is a uuid. */
export function claimedTenant(claims: Record<string, unknown> | null | undefined): string | undefined {
  const top = claims?.tenant_id;
  const meta = claims?.app_metadata;
  const id = typeof top === 'string' && top ? top : meta && typeof meta === 'object' ? (meta as Record<string, unknown>).tenant_id : undefined;
  return typeof id === 'string' && UUID.test(id) ? id.toLowerCase() : undefined;
}

/** Is the tenant these claims name suspended (a primary-key lookup; false without a tenant)? */
export async function isTenantSuspendedFor(db: Queryable, claims: Record<string, unknown> | null | undefined): Promise<boolean> {
  const tenant = claimedTenant(claims);
  if (!tenant) return false;
  const { rows } = await db.query<{ suspended: boolean }>(
    `select exists (select from public.tenants where id = $1::uuid and status = 'suspended') as suspended`,
    [tenant],
  );
  return rows[0].suspended;
}

/** Renames a tenant (name, slug, metadata as given); undefined when there is none. */
export async function updateTenant(
  db: Queryable,
  id: string,
  changes: { name?: string; slug?: string | null; metadata?: Record<string, unknown> },
): Promise<TenantRow | undefined> {
  const { rows } = await db.query<TenantRow>(
    `update public.tenants t set name = coalesce($2, t.name), slug = case when $3::boolean then $4 else t.slug end,
       metadata = coalesce($5::jsonb, t.metadata)
     where t.id = $1 returning ${COLUMNS}`,
    [id, changes.name ?? null, changes.slug !== undefined, changes.slug ?? null, changes.metadata === undefined ? null : JSON.stringify(changes.metadata)],
  );
  return rows[0];
}

/**
 * Deletes a tenant with its memberships, roles and invitations; its members whose active tenant
 * it was move to another of their tenants (the oldest membership), or to none.
 */
export async function deleteTenant(db: Queryable, id: string): Promise<boolean> {
  await db.query(
    `update auth.users u set tenant_id = (
       select m.tenant_id from auth.tenant_members m where m.user_id = u.id and m.tenant_id <> $1 order by m.created_at limit 1)
     where u.tenant_id = $1`,
    [id],
  );
  const { rowCount } = await db.query(`delete from public.tenants where id = $1`, [id]);
  return (rowCount ?? 0) > 0;
}

/** Which of these tenants are suspended (one query for a batch of subscribers; realtime's deliveries). */
export async function suspendedAmong(db: Queryable, tenantIds: Iterable<string>): Promise<Set<string>> {
  const ids = [...new Set(tenantIds)];
  if (!ids.length) return new Set();
  const { rows } = await db.query<{ id: string }>(`select id::text as id from public.tenants where status = 'suspended' and id = any($1::uuid[])`, [ids]);
  return new Set(rows.map((r) => r.id));
}
