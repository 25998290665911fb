/**
 * Tenants (public.tenants, sql/0005_tenancy.sql): the SQL the CLI (and an admin API) creates and
 * lists them with. A tenant's users are the auth.users rows that carry its id.
 */
import type pg from 'pg';

export interface TenantRow {
  id: string;
  name: string;
  slug: string | null;
  created_at: Date;
  users: number;
}

type Queryable = Pick<pg.Pool | pg.Client, 'query'>;

export async function createTenant(db: Queryable, name: string, slug?: string): Promise<TenantRow> {
  const { rows } = await db.query<TenantRow>(
    'insert into public.tenants (name, slug) values ($1, $2) returning id, name, slug, created_at, 0 as users',
    [name, slug ?? null],
  );
  return rows[0];
}

export async function listTenants(db: Queryable): Promise<TenantRow[]> {
  const { rows } = await db.query<TenantRow>(
    `select t.id, t.name, t.slug, t.created_at, (select count(*)::int from auth.users u where u.tenant_id = t.id) as users
       from public.tenants t order by t.created_at, t.name`,
  );
  return rows;
}

export async function findTenant(db: Queryable, idOrSlug: string): Promise<TenantRow | undefined> {
  const { rows } = await db.query<TenantRow>(
    `select t.id, t.name, t.slug, t.created_at, (select count(*)::int from auth.users u where u.tenant_id = t.id) as users
       from public.tenants t where t.id::text = $1 or t.slug = $1`,
    [idOrSlug],
  );
  return rows[0];
}
