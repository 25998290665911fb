-- Schemas of the stack and the extensions it relies on.
create schema if not exists extensions;
create schema if not exists auth;
create schema if not exists storage;
create schema if not exists realtime;

create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;

-- Present in the compose Postgres image, absent from the embedded one: create them only where
-- the server has them, never fail without them.
do $$
declare
  ext text;
begin
  foreach ext in array array['postgis', 'pg_net', 'pgjwt'] loop
    if exists (select from pg_available_extensions where name = ext)
       and not exists (select from pg_extension where extname = ext) then
      begin
        execute format('create extension %I with schema extensions cascade', ext);
      exception when others then
        -- e.g. pg_net needs shared_preload_libraries; the stack works without it.
        raise warning 'extension % is available but could not be created: %', ext, sqlerrm;
      end;
    end if;
  end loop;
end
$$;

grant usage on schema public, extensions, auth, storage, realtime to anon, authenticated, service_role;
