-- Multi-tenancy: the tenant comes from the JWT (auth.tenant_id()) and Row Level Security
-- enforces it. Template for a tenant-owned table:
--
--   create table public.todos (
--     id bigint generated always as identity primary key,
--     tenant_id uuid not null default auth.tenant_id() references public.tenants (id),
--     title text not null
--   );
--   select public.enable_tenant_isolation('public.todos');
--
-- which is the same as:
--
--   alter table public.todos enable row level security;
--   create policy tenant_isolation on public.todos
--     using (tenant_id = auth.tenant_id()) with check (tenant_id = auth.tenant_id());

create table if not exists public.tenants (
  id uuid primary key default extensions.gen_random_uuid(),
  name text not null,
  slug text unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now()
);
comment on table public.tenants is 'Tenants. A user''s tenant is carried in the JWT (claim tenant_id or app_metadata.tenant_id).';

alter table public.tenants enable row level security;
revoke all on public.tenants from anon, authenticated;
grant select on public.tenants to authenticated;
grant all on public.tenants to service_role;

drop policy if exists tenants_read_own on public.tenants;
create policy tenants_read_own on public.tenants for select to authenticated
  using (id = auth.tenant_id());

-- Applies the tenant policy template to a table with a `tenant_id uuid` column.
create or replace function public.enable_tenant_isolation(target regclass) returns void
language plpgsql
set search_path = ''
as $$
begin
  if not exists (
    select from pg_attribute
    where attrelid = target and attname = 'tenant_id' and not attisdropped
  ) then
    raise exception 'table % has no tenant_id column', target using errcode = '42703';
  end if;
  execute format('alter table %s enable row level security', target);
  execute format('drop policy if exists tenant_isolation on %s', target);
  execute format(
    'create policy tenant_isolation on %s using (tenant_id = auth.tenant_id()) with check (tenant_id = auth.tenant_id())',
    target);
end
$$;
comment on function public.enable_tenant_isolation(regclass) is
  'Enables RLS on a table with a tenant_id column and adds the policy tenant_id = auth.tenant_id().';
revoke all on function public.enable_tenant_isolation(regclass) from public, anon, authenticated;
