-- Drop-in details that Supabase projects rely on.
--
-- 1. Unqualified names in your migrations and seed land in `public`, as under the Supabase CLI.
--    The embedded cluster's superuser is called like the stack's own schema (`nextmavens`, which
--    keeps the migration history), so Postgres's default search_path ("$user", public) would put
--    `create table todos (…)` into that schema, where no API sees it.
do $$
begin
  if exists (select from pg_namespace where nspname = current_user) then
    execute format('alter role %I in database %I set search_path = public, extensions', current_user, current_database());
  end if;
end
$$;

-- 2. GoTrue's auth.users columns that seed files (and tools written for Supabase) insert into.
--    The stack keeps its tokens elsewhere (auth.one_time_tokens); these are accepted and kept.
alter table auth.users
  add column if not exists instance_id uuid,
  add column if not exists confirmation_token varchar(255) default '',
  add column if not exists recovery_token varchar(255) default '',
  add column if not exists email_change_token_new varchar(255) default '',
  add column if not exists email_change_token_current varchar(255) default '',
  add column if not exists email_change_confirm_status smallint default 0,
  add column if not exists phone_change text default '',
  add column if not exists phone_change_token varchar(255) default '',
  add column if not exists phone_change_sent_at timestamptz,
  add column if not exists reauthentication_token varchar(255) default '',
  add column if not exists reauthentication_sent_at timestamptz,
  add column if not exists is_sso_user boolean not null default false,
  add column if not exists confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored;
