-- Settings edited in the admin dashboard (admin/routes/settings.ts) and read by the services at
-- use time (core/auth-settings.ts): auth's SMTP server, mail sender and external providers. One
-- row per group, its value a JSON object; an environment variable, when set, wins over the row.
-- Only the owner (the stack's admin pool, which auth and the admin server run on) touches it: no
-- grants, RLS on without policies, so no API role and not the dashboard's read-only login (RLS
-- applies to pg_read_all_data) ever reads a secret from it.
create schema if not exists nextmavens;

create table nextmavens.settings (
  key text primary key check (key ~ '^[a-z][a-z0-9_.]{0,62}$'),
  value jsonb not null check (jsonb_typeof(value) = 'object'),
  updated_at timestamptz not null default now(),
  -- admin:<id> of the last writer
  updated_by text
);
alter table nextmavens.settings enable row level security;
revoke all on nextmavens.settings from public;

-- Auth reads the rows where it runs as its own login (compose: nextmavens_auth, sql/0028; BYPASSRLS):
-- SELECT only, on this table only. The dashboard writes as the owner.
do $$
begin
  if to_regrole('nextmavens_auth') is not null then
    grant usage on schema nextmavens to nextmavens_auth;
    grant select on nextmavens.settings to nextmavens_auth;
  end if;
end
$$;
