-- Tenancy, first class: tenant status (suspension), memberships, roles with named permissions,
-- invitations, a platform super-admin, and the per-request check that refuses a suspended
-- tenant's callers. auth.users.tenant_id stays the user's *active* tenant (the one its access
-- token names); auth.tenant_members says which tenants a user belongs to and with which role.
--
-- Policy templates (the caller's tenant and permissions come from the JWT and these tables):
--
--   -- rows of the caller's tenant, readable by every member, writable with a permission:
--   create policy projects_read on public.projects for select
--     using (tenant_id = auth.tenant_id());
--   create policy projects_write on public.projects for all
--     using (tenant_id = auth.tenant_id() and auth.has_permission('projects.write'))
--     with check (tenant_id = auth.tenant_id() and auth.has_permission('projects.write'));
--
--   -- by role name (the token's claim, no lookup):
--   create policy admins_only on public.settings for all using (auth.tenant_role() in ('owner', 'admin'));
--
--   -- storage: uploads into a tenant's bucket need a permission:
--   create policy tenant_uploads on storage.objects for insert to authenticated
--     with check (bucket_id = 'tenant-files' and auth.has_permission('files.write'));
--
-- Wrap the calls as `(select auth.has_permission('x'))` in policies over large tables, so the
-- planner evaluates them once per statement rather than once per row.

-- Tenant status --------------------------------------------------------------------------------
alter table public.tenants
  add column if not exists status text not null default 'active' check (status in ('active', 'suspended')),
  add column if not exists suspended_at timestamptz;
comment on column public.tenants.status is 'active, or suspended: a suspended tenant''s users and keys are refused by every API (auth.check_request()).';

-- Roles ----------------------------------------------------------------------------------------
create table if not exists auth.tenant_roles (
  id uuid primary key default extensions.gen_random_uuid(),
  -- null: a built-in role, the same in every tenant (owner, admin, member)
  tenant_id uuid references public.tenants (id) on delete cascade,
  name text not null check (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
  permissions text[] not null default '{}' check (array_position(permissions, null) is null),
  description text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique nulls not distinct (tenant_id, name)
);
comment on table auth.tenant_roles is 'Roles with named permissions: built-in (tenant_id null) owner, admin, member, and custom roles per tenant. A permission `*` grants all, `projects.*` every `projects.` permission.';

insert into auth.tenant_roles (tenant_id, name, permissions, description) values
  (null, 'owner', '{*}', 'Everything, including deleting the tenant and managing owners'),
  (null, 'admin', '{tenant.manage,members.manage,roles.manage,projects.read,projects.write}', 'Manages the tenant, its members, roles and invitations'),
  (null, 'member', '{projects.read}', 'A member of the tenant')
on conflict (tenant_id, name) do nothing;

-- Memberships ----------------------------------------------------------------------------------
create table if not exists auth.tenant_members (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null check (role ~ '^[a-z][a-z0-9_.-]{0,62}$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, user_id)
);
create index if not exists tenant_members_user_idx on auth.tenant_members (user_id);
comment on table auth.tenant_members is 'Which tenants a user belongs to, with which role (a name in auth.tenant_roles: built-in or the tenant''s own).';

-- Existing users of a tenant become its members.
insert into auth.tenant_members (tenant_id, user_id, role)
  select tenant_id, id, 'member' from auth.users where tenant_id is not null
on conflict do nothing;

-- A user put into a tenant by any path (sign-up with a tenant's API key, the admin API) is a
-- member of it. A super-admin switching into a foreign tenant does not become one.
create or replace function auth.tenant_membership_of_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.tenant_id is not null and not coalesce(new.is_super_admin, false) then
    insert into auth.tenant_members (tenant_id, user_id, role) values (new.tenant_id, new.id, 'member')
    on conflict do nothing;
  end if;
  return new;
end
$$;
drop trigger if exists tenant_membership on auth.users;
create trigger tenant_membership after insert or update of tenant_id on auth.users
  for each row execute function auth.tenant_membership_of_user();

-- Invitations ----------------------------------------------------------------------------------
create table if not exists auth.tenant_invitations (
  id uuid primary key default extensions.gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  email text not null,
  role text not null,
  -- sha256 (hex) of the token the mail carries; the token itself is stored nowhere
  token_hash text not null unique,
  invited_by uuid references auth.users (id) on delete set null,
  redirect_to text,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  accepted_at timestamptz,
  accepted_by uuid references auth.users (id) on delete set null
);
create index if not exists tenant_invitations_tenant_idx on auth.tenant_invitations (tenant_id);
comment on table auth.tenant_invitations is 'Invitations into a tenant by email; accepting one (POST /auth/v1/invitations/accept) creates the membership.';

-- Functions for policies -----------------------------------------------------------------------
create or replace function auth.tenant_role() returns text
language sql stable
set search_path = ''
as $$
  select nullif(auth.jwt() ->> 'tenant_role', '')
$$;
comment on function auth.tenant_role() is 'The caller''s role in its active tenant: the JWT claim `tenant_role` (owner, admin, member, a custom role, or super_admin).';

create or replace function auth.is_super_admin() returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select coalesce((select u.is_super_admin from auth.users u where u.id = auth.uid()), false)
$$;
comment on function auth.is_super_admin() is 'Is the caller a platform super-admin (auth.users.is_super_admin, looked up live: revoking it takes effect at once)?';

-- The tenants the caller is a member of (for policies on the membership tables themselves,
-- which cannot query those tables under their own RLS).
create or replace function auth.member_tenant_ids() returns setof uuid
language sql stable
security definer
set search_path = ''
as $$
  select m.tenant_id from auth.tenant_members m where m.user_id = auth.uid()
$$;

create or replace function auth.permission_granted(granted text[], wanted text) returns boolean
language sql immutable
set search_path = ''
as $$
  select exists (
    select from unnest(granted) g
    where g = '*' or g = wanted or (g like '%.*' and starts_with(wanted, left(g, -1)))
  )
$$;

create or replace function auth.has_permission(permission text) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select case
    when auth.jwt() ->> 'role' = 'service_role' then true
    when auth.uid() is null then false
    when auth.is_super_admin() then true
    else exists (
      select from auth.tenant_members m
      join auth.tenant_roles r on r.name = m.role and (r.tenant_id = m.tenant_id or r.tenant_id is null)
      where m.tenant_id = auth.tenant_id() and m.user_id = auth.uid()
        and auth.permission_granted(r.permissions, permission)
    )
  end
$$;
comment on function auth.has_permission(text) is 'Does the caller''s role in its active tenant (live membership) grant the permission? True for a super-admin and for service_role.';

-- A super-admin acting in a tenant they are no member of: what the audit log records as such.
create or replace function auth.acting_as_super_admin() returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select auth.is_super_admin() and auth.tenant_id() is not null and not exists (
    select from auth.tenant_members m where m.tenant_id = auth.tenant_id() and m.user_id = auth.uid()
  )
$$;
comment on function auth.acting_as_super_admin() is 'True when the caller is a super-admin acting in a tenant they are not a member of (every such action is audited).';

-- The per-request check: every API runs it at the start of the caller's transaction, as the
-- last call of the statement that sets the request context (db/request-context.ts passes the
-- claims' tenant, so the check depends on no evaluation order); compose's PostgREST runs
-- auth.check_request() as its db-pre-request. A primary-key probe.
create or replace function auth.raise_tenant_suspended() returns boolean
language plpgsql
set search_path = ''
as $$
begin
  raise sqlstate 'PT403' using message = 'Tenant is suspended', detail = 'tenant_suspended',
    hint = 'The tenant''s requests are refused until a platform administrator resumes it';
end
$$;

create or replace function auth.check_tenant(tenant uuid) returns boolean
language plpgsql stable
security definer
set search_path = ''
as $$
begin
  -- plpgsql: the lookup's plan is cached per connection (a SQL function's would be planned per call).
  if tenant is not null and exists (select from public.tenants t where t.id = tenant and t.status = 'suspended') then
    return auth.raise_tenant_suspended();
  end if;
  return null;
end
$$;
comment on function auth.check_tenant(uuid) is 'Raises 403 (SQLSTATE PT403, detail tenant_suspended) when the tenant is suspended; null otherwise.';

create or replace function auth.check_request() returns void
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  claimed text := coalesce(auth.jwt() ->> 'tenant_id', auth.jwt() -> 'app_metadata' ->> 'tenant_id');
begin
  -- A malformed tenant claim names no tenant (tenant policies then match nothing).
  if claimed ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    perform auth.check_tenant(claimed::uuid);
  end if;
end
$$;
comment on function auth.check_request() is 'Raises 403 (SQLSTATE PT403, detail tenant_suspended) when the caller''s tenant is suspended: PostgREST''s db-pre-request (the embedded engine calls auth.check_tenant() with the claims'' tenant).';

revoke all on function auth.tenant_membership_of_user() from public;
-- Every role a request may run as evaluates these (custom roles too): they only tell the caller
-- about itself.
grant execute on function auth.member_tenant_ids(), auth.is_super_admin(), auth.has_permission(text), auth.acting_as_super_admin(),
  auth.check_request(), auth.check_tenant(uuid), auth.raise_tenant_suspended(), auth.tenant_role(), auth.permission_granted(text[], text) to public;
-- The context statement names auth.check_tenant() while the login role is still current: it must
-- see the schema (it gains nothing it could not reach by switching to anon, which sees it too).
grant usage on schema auth to authenticator;
grant usage on schema auth to authenticated, service_role;

-- RLS: members read their tenants' memberships and roles; writes go through the auth API ------
alter table auth.tenant_members enable row level security;
alter table auth.tenant_roles enable row level security;
alter table auth.tenant_invitations enable row level security;
revoke all on auth.tenant_members, auth.tenant_roles, auth.tenant_invitations from anon, authenticated;
grant select on auth.tenant_members, auth.tenant_roles to authenticated;
grant select (id, tenant_id, email, role, invited_by, redirect_to, created_at, expires_at, accepted_at, accepted_by)
  on auth.tenant_invitations to authenticated; -- not the token's hash
grant all on auth.tenant_members, auth.tenant_roles, auth.tenant_invitations to service_role;

drop policy if exists tenant_members_read on auth.tenant_members;
create policy tenant_members_read on auth.tenant_members for select to authenticated
  using (user_id = (select auth.uid()) or tenant_id in (select auth.member_tenant_ids()) or (select auth.is_super_admin()));

drop policy if exists tenant_roles_read on auth.tenant_roles;
create policy tenant_roles_read on auth.tenant_roles for select to authenticated
  using (tenant_id is null or tenant_id in (select auth.member_tenant_ids()) or (select auth.is_super_admin()));

drop policy if exists tenant_invitations_read on auth.tenant_invitations;
create policy tenant_invitations_read on auth.tenant_invitations for select to authenticated
  using (tenant_id = (select auth.tenant_id()) and (select auth.has_permission('members.manage')));

drop policy if exists tenants_read_member on public.tenants;
create policy tenants_read_member on public.tenants for select to authenticated
  using (id in (select auth.member_tenant_ids()) or (select auth.is_super_admin()));
