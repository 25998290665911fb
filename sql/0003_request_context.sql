-- Who is calling. Every API runs a request in a transaction that sets, with set_config(..., true):
--   role                 the JWT's role (anon, authenticated, service_role)
--   request.jwt.claims   the verified JWT claims as JSON (role forced to the effective role)
--   request.method, request.path, request.headers, request.cookies
-- These helpers read them, so one set of RLS policies governs REST, GraphQL, realtime and storage.

create or replace function auth.jwt() returns jsonb
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;

create or replace function auth.uid() returns uuid
language sql stable
set search_path = ''
as $$
  select nullif(auth.jwt() ->> 'sub', '')::uuid
$$;

create or replace function auth.role() returns text
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(auth.jwt() ->> 'role', ''), current_user)::text
$$;

create or replace function auth.email() returns text
language sql stable
set search_path = ''
as $$
  select nullif(auth.jwt() ->> 'email', '')
$$;

-- The caller's tenant: the top-level `tenant_id` claim, else `app_metadata.tenant_id`.
create or replace function auth.tenant_id() returns uuid
language sql stable
set search_path = ''
as $$
  select nullif(coalesce(auth.jwt() ->> 'tenant_id', auth.jwt() -> 'app_metadata' ->> 'tenant_id'), '')::uuid
$$;

create or replace function public.current_tenant_id() returns uuid
language sql stable
set search_path = ''
as $$
  select auth.tenant_id()
$$;

comment on function auth.jwt() is 'Claims of the verified JWT of the current request (empty object when none).';
comment on function auth.uid() is 'The current user''s id: the JWT `sub` claim.';
comment on function auth.role() is 'The current request''s role: the JWT `role` claim.';
comment on function auth.tenant_id() is 'The current tenant: JWT claim `tenant_id`, else `app_metadata.tenant_id`.';
comment on function public.current_tenant_id() is 'Alias of auth.tenant_id().';

grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email(), auth.tenant_id(), public.current_tenant_id()
  to anon, authenticated, service_role;
