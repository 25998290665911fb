-- MFA (GoTrue-compatible): a user's factors and their challenges, and the factor a session was
-- raised to aal2 with. Column names follow GoTrue's mfa_factors / mfa_challenges so data
-- migrates from Supabase. A session's aal and amr stay on auth.sessions (0007): amr is the list
-- of {method, timestamp} the access token carries, one entry per method.
create table if not exists auth.mfa_factors (
  id uuid primary key default extensions.gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  friendly_name text,
  factor_type text not null check (factor_type in ('totp', 'webauthn', 'phone')),
  status text not null default 'unverified' check (status in ('unverified', 'verified')),
  -- the TOTP secret (base32); the auth schema is readable by the auth service only
  secret text,
  phone text,
  last_challenged_at timestamptz,
  web_authn_credential jsonb,
  web_authn_aaguid uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists mfa_factors_user_idx on auth.mfa_factors (user_id, created_at);
create unique index if not exists mfa_factors_user_friendly_name_unique on auth.mfa_factors (friendly_name, user_id) where trim(friendly_name) <> '';

create table if not exists auth.mfa_challenges (
  id uuid primary key default extensions.gen_random_uuid(),
  factor_id uuid not null references auth.mfa_factors (id) on delete cascade,
  created_at timestamptz not null default now(),
  verified_at timestamptz,
  ip_address text not null,
  otp_code text,
  web_authn_session_data jsonb
);
create index if not exists mfa_challenges_factor_idx on auth.mfa_challenges (factor_id, created_at);

alter table auth.sessions add column if not exists factor_id uuid;
create index if not exists sessions_factor_idx on auth.sessions (factor_id);

alter table auth.mfa_factors enable row level security;
alter table auth.mfa_challenges enable row level security;
revoke all on auth.mfa_factors, auth.mfa_challenges from anon, authenticated;
grant all on auth.mfa_factors, auth.mfa_challenges to service_role;
