-- The admin dashboard (admin/): its accounts, their server-side sessions, the SQL editor's saved
-- snippets and history, the login attempts its rate limit counts. Only the owner (the stack's
-- admin pool, which the admin server runs on) touches these tables; the API roles have no access
-- (no grants, RLS on without policies), so no REST, GraphQL or realtime caller ever sees them.
create schema if not exists nextmavens;

create table nextmavens.admin_users (
  id uuid primary key default gen_random_uuid(),
  email text not null,
  -- bcrypt (admin/passwords.ts, @node-rs/bcrypt)
  password_hash text not null,
  role text not null default 'developer' check (role in ('owner', 'developer', 'read_only')),
  -- base32 TOTP secret (otpauth); enabled once confirmed with a first code
  totp_secret text,
  totp_enabled boolean not null default false,
  created_at timestamptz not null default now(),
  last_sign_in_at timestamptz
);
create unique index admin_users_email on nextmavens.admin_users (lower(email));

-- A session is a random token: the cookie holds it, the row holds its SHA-256 (a stolen table
-- dump opens nothing) and the CSRF token the page echoes on every mutating request.
create table nextmavens.admin_sessions (
  token_hash text primary key,
  admin_id uuid not null references nextmavens.admin_users (id) on delete cascade,
  csrf_token text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  ip text,
  user_agent text
);
create index admin_sessions_admin on nextmavens.admin_sessions (admin_id);
create index admin_sessions_expiry on nextmavens.admin_sessions (expires_at);

-- Failed sign-ins per address and per email in a sliding window (admin/login.ts).
create table nextmavens.admin_login_attempts (
  id bigint generated always as identity primary key,
  email text not null,
  ip text not null,
  at timestamptz not null default now()
);
create index admin_login_attempts_recent on nextmavens.admin_login_attempts (at);

create table nextmavens.admin_snippets (
  id uuid primary key default gen_random_uuid(),
  admin_id uuid references nextmavens.admin_users (id) on delete set null,
  name text not null check (length(name) between 1 and 200),
  sql text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table nextmavens.admin_query_history (
  id bigint generated always as identity primary key,
  admin_id uuid references nextmavens.admin_users (id) on delete set null,
  sql text not null,
  ok boolean not null,
  row_count integer,
  duration_ms double precision,
  error text,
  at timestamptz not null default now()
);
create index admin_query_history_recent on nextmavens.admin_query_history (admin_id, at desc);

do $$
declare
  t text;
begin
  foreach t in array array['admin_users', 'admin_sessions', 'admin_login_attempts', 'admin_snippets', 'admin_query_history'] loop
    execute format('revoke all on nextmavens.%I from public', t);
    execute format('alter table nextmavens.%I enable row level security', t);
  end loop;
end
$$;

-- The role a read_only admin's SQL runs as (set local role, inside a READ ONLY transaction):
-- reads every table (pg_read_all_data, inherited; RLS still applies), writes nothing, owns nothing. NOLOGIN. Creating it and
-- granting pg_read_all_data needs a superuser, as sql/0028 does; without one the admin server
-- keeps the READ ONLY transaction alone.
do $$
begin
  if not (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
    raise notice 'sql/0035: not a superuser, so the read-only admin role is not created';
    return;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'nextmavens_admin_read') then
    create role nextmavens_admin_read nologin;
  end if;
  grant pg_read_all_data to nextmavens_admin_read;
  execute format('grant nextmavens_admin_read to %I', current_user);
end
$$;
