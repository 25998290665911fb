-- 0024: reauthentication, manual identity linking and passkeys.
-- Reauthentication (GoTrue's GET /reauthenticate): when the last nonce mail was requested, for
-- the per-address send limit; the nonce itself is a one-time token (auth.one_time_tokens,
-- token_type 'reauthentication_token', sql/0010).
alter table auth.users add column if not exists reauthentication_sent_at timestamptz;

-- Manual identity linking (GoTrue's GET /user/identities/authorize): the signed-in user an OAuth
-- round trip links the provider identity to, instead of signing in whoever the identity names.
alter table auth.flow_state add column if not exists linking_target_id uuid references auth.users (id) on delete cascade;

-- Passkeys (GoTrue's /passkeys): WebAuthn credentials that sign a user in, and the challenges of
-- their ceremonies (a sign-in's has no user until the assertion names one). Columns follow
-- GoTrue's webauthn_credentials / webauthn_challenges.
create table if not exists auth.webauthn_credentials (
  id uuid primary key default extensions.gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  credential_id bytea not null,
  public_key bytea not null,
  attestation_type text not null default '',
  aaguid uuid,
  sign_count bigint not null default 0,
  transports jsonb not null default '[]',
  backup_eligible boolean not null default false,
  backed_up boolean not null default false,
  friendly_name text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_used_at timestamptz
);
create unique index if not exists webauthn_credentials_credential_id_key on auth.webauthn_credentials (credential_id);
create index if not exists webauthn_credentials_user_id_idx on auth.webauthn_credentials (user_id);

create table if not exists auth.webauthn_challenges (
  id uuid primary key default extensions.gen_random_uuid(),
  user_id uuid references auth.users (id) on delete cascade,
  challenge_type text not null check (challenge_type in ('signup', 'registration', 'authentication')),
  session_data jsonb not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index if not exists webauthn_challenges_user_id_idx on auth.webauthn_challenges (user_id);
create index if not exists webauthn_challenges_expires_at_idx on auth.webauthn_challenges (expires_at);

alter table auth.webauthn_credentials enable row level security;
alter table auth.webauthn_challenges enable row level security;
revoke all on auth.webauthn_credentials, auth.webauthn_challenges from anon, authenticated;
grant all on auth.webauthn_credentials, auth.webauthn_challenges to service_role;
