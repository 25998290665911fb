-- Roles as PostgREST and Supabase expect them. Roles are cluster-wide, so every statement is
-- idempotent: a second database in the same cluster finds them already there.
--   authenticator  logs in, NOINHERIT: holds no privileges itself, only switches (SET ROLE) to
--                  the role named by the caller's JWT. Services connect as this role.
--   anon           requests without a user token.
--   authenticated  requests with a signed-in user's token.
--   service_role   the secret API key: bypasses RLS, for trusted servers only.
do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;

-- Statement timeouts per role, like Supabase: a runaway anonymous query cannot hold a connection.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
