/**
 * Two tenants and a tenant-isolated table of titles (sql/0005_tenancy.sql's template), the
 * fixture of the scale-out tests (test/instances.test.ts, test/read-replica.test.ts): each
 * tenant's users see and write only their tenant's rows.
 */
export const TENANT_A = '00000000-0000-4000-8000-0000000000a1';
export const TENANT_B = '00000000-0000-4000-8000-0000000000b2';

/** The tenants, and `public.<table>` (id, tenant_id from the caller's claim, title) under tenant isolation. */
export function twoTenantsSql(table: string): string {
  return `
    insert into public.tenants (id, name, slug) values ('${TENANT_A}', 'A', 'tenant-a'), ('${TENANT_B}', 'B', 'tenant-b');
    create table public.${table} (
      id bigint generated always as identity primary key,
      tenant_id uuid not null default auth.tenant_id() references public.tenants (id),
      title text not null
    );
    select public.enable_tenant_isolation('public.${table}');
    grant select, insert on public.${table} to authenticated;
  `;
}
