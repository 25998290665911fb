-- Least-privileged login roles for the services (docker compose runs each container as one):
--   nextmavens_auth      auth: the auth schema, public.tenants (its tenant admin API), queueing its mails (graphile_worker.add_job)
--   nextmavens_storage   storage: the storage schema
--   nextmavens_realtime  realtime: the realtime schema, REPLICATION for its logical slot
-- REST and GraphQL connect as `authenticator` (sql/0001_roles.sql) for their introspection too.
-- Migrations keep running as the owner (superuser), who creates and owns every object; these
-- roles get privileges on their own schema only, and on new objects there through default
-- privileges of that owner. They are NOINHERIT and members of anon/authenticated/service_role
-- like authenticator: evaluating a caller's RLS (realtime.check_rows, requests as the caller)
-- switches to the caller's role, while the API roles' grants (e.g. service_role on auth.users)
-- are not theirs outside that switch. Passwords: set by `migrate` from POSTGRESQL_AUTH_PASSWORD,
-- POSTGRESQL_STORAGE_PASSWORD, POSTGRESQL_REALTIME_PASSWORD (db/migrate.ts); without one the
-- role has none and cannot log in with a password.
-- Role attributes (BYPASSRLS, REPLICATION) and memberships need a superuser, which compose's
-- `migrate` is. Migrating as a mere owner (a managed Postgres) leaves the roles out, with a notice:
-- the services then keep logging in as that owner.
-- BYPASSRLS: their schemas' tables have RLS on for the API roles (auth.users has no policy at
-- all); the service's own bookkeeping must see every row, as the owner did. It reaches no further
-- than their grants: nothing outside their schema. After a switch to the caller's role, RLS applies.
do $$
declare
  r text;
begin
  if not (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
    raise notice 'sql/0028: not a superuser, so the services'' login roles are not created';
    return;
  end if;
  foreach r in array array['nextmavens_auth', 'nextmavens_storage', 'nextmavens_realtime'] loop
    if not exists (select from pg_catalog.pg_roles where rolname = r) then
      execute format('create role %I login noinherit', r);
    end if;
    execute format('alter role %I with bypassrls', r);
    execute format('grant anon, authenticated, service_role to %I', r);
  end loop;
  alter role nextmavens_realtime with replication;
end
$$;

-- The grants, as a function: schemas created later by the owner (graphile-worker's, installed by
-- `migrate` after these files) are covered by calling it again. Idempotent.
create or replace function nextmavens.grant_service_roles() returns void
language plpgsql
set search_path = ''
as $$
declare
  s record;
begin
  if to_regrole('nextmavens_auth') is null then
    return; -- not created (sql/0028 ran without a superuser)
  end if;
  for s in
    select * from (values
      ('auth', 'nextmavens_auth'),
      ('storage', 'nextmavens_storage'),
      ('realtime', 'nextmavens_realtime'),
      ('graphile_worker', 'nextmavens_auth')
    ) as t(schema_name, role_name)
    where to_regnamespace(t.schema_name) is not null
  loop
    execute format('grant usage on schema %I to %I', s.schema_name, s.role_name);
    execute format('grant all on all tables in schema %I to %I', s.schema_name, s.role_name);
    execute format('grant all on all sequences in schema %I to %I', s.schema_name, s.role_name);
    execute format('grant execute on all routines in schema %I to %I', s.schema_name, s.role_name);
    execute format('alter default privileges in schema %I grant all on tables to %I', s.schema_name, s.role_name);
    execute format('alter default privileges in schema %I grant all on sequences to %I', s.schema_name, s.role_name);
    execute format('alter default privileges in schema %I grant execute on routines to %I', s.schema_name, s.role_name);
  end loop;
  -- Functions every service calls (gen_random_uuid, crypt, digest, ...).
  grant usage on schema extensions to nextmavens_auth, nextmavens_storage, nextmavens_realtime;
  grant execute on all routines in schema extensions to nextmavens_auth, nextmavens_storage, nextmavens_realtime;
  -- Tenants: auth's tenant admin API (and a sign-up with a tenant key) writes and reads them;
  -- realtime and GraphQL check whether a caller's tenant is suspended (db/tenants.ts).
  if to_regclass('public.tenants') is not null then
    grant usage on schema public to nextmavens_auth, nextmavens_realtime, authenticator;
    grant select, insert, update, delete on public.tenants to nextmavens_auth;
    grant select (id, status) on public.tenants to nextmavens_realtime, authenticator;
    -- RLS on tenants admits members only (sql/0026); authenticator (GraphQL's check, before any
    -- switch to the caller) reads every tenant's status. The API roles do not inherit this.
    if not exists (select from pg_catalog.pg_policies where schemaname = 'public' and tablename = 'tenants' and policyname = 'tenants_status_for_services') then
      create policy tenants_status_for_services on public.tenants for select to authenticator using (true);
    end if;
  end if;
  -- GraphQL (as authenticator) evaluates RLS over committed rows (sql/0016) as realtime does; the
  -- owner keeps that function from the API roles.
  -- It also reads back the rows too large for NOTIFY that the trigger parked (sql/0017).
  grant usage on schema realtime, graphql to authenticator;
  grant execute on function realtime.check_rows(regclass, jsonb, jsonb[], text) to authenticator;
  grant select on graphql.change_rows to authenticator;
end
$$;
revoke all on function nextmavens.grant_service_roles() from public;

select nextmavens.grant_service_roles();

-- GraphQL's watch mode (PostGraphile re-introspects on NOTIFY postgraphile_watch) without
-- PostGraphile's own watch fixtures, whose event triggers only a superuser may install — and the
-- GraphQL service no longer logs in as one. The stack's DDL trigger (sql/0006) tells it too.
create or replace function nextmavens.notify_ddl() returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_notify('nextmavens_ddl', tg_tag);
  perform pg_notify('pgrst', 'reload schema');
  perform pg_notify('postgraphile_watch', json_build_object('type', 'manual')::text);
exception when others then
  raise warning 'nextmavens.notify_ddl: %', sqlerrm;
end
$$;
