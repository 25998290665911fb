-- Auth flows: one-time tokens (email links and 6-digit codes), PKCE / OAuth flow state and the
-- dev inbox. Only hashes of secrets are stored: a link token is hex(sha224(email || code))
-- (GoTrue's token_hash, `pkce_`-prefixed in PKCE links) and the row keeps sha256 of it; auth
-- codes and OAuth states are kept as sha256 too. The graphile_worker schema (mail queue) is
-- installed by graphile-worker itself when the auth service starts.

-- One live token per user and kind: issuing a new one replaces the previous (as GoTrue does).
create table if not exists auth.one_time_tokens (
  id uuid primary key default extensions.gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  token_type text not null check (token_type in (
    'confirmation_token', 'recovery_token', 'invite_token', 'magiclink_token',
    'email_change_token_new', 'email_change_token_current', 'reauthentication_token')),
  -- hex(sha256(link token without the pkce_ prefix))
  token_hash text not null,
  -- the address the token was sent to
  relates_to text not null,
  flow_state_id uuid,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  unique (user_id, token_type)
);
create index if not exists one_time_tokens_hash_idx on auth.one_time_tokens (token_hash);
create index if not exists one_time_tokens_relates_idx on auth.one_time_tokens (lower(relates_to));

-- PKCE: a client's code_challenge waiting for its auth code to be exchanged (email links and
-- OAuth), and the state of an OAuth round trip to a provider (implicit flows have no challenge).
create table if not exists auth.flow_state (
  id uuid primary key default extensions.gen_random_uuid(),
  user_id uuid references auth.users (id) on delete cascade,
  auth_code_hash text unique,
  code_challenge text,
  code_challenge_method text check (code_challenge_method in ('s256', 'plain')),
  authentication_method text not null,
  provider_type text not null default 'email',
  provider_access_token text,
  provider_refresh_token text,
  -- OAuth round trip: sha256 of the state sent to the provider, our PKCE verifier towards it,
  -- and where the browser goes afterwards.
  oauth_state_hash text unique,
  provider_code_verifier text,
  redirect_to text,
  auth_code_issued_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists flow_state_created_idx on auth.flow_state (created_at);

alter table auth.one_time_tokens
  add constraint one_time_tokens_flow_state_fkey foreign key (flow_state_id) references auth.flow_state (id) on delete set null;

-- Mails sent while no SMTP server is configured (read at GET /auth/v1/admin/inbox).
create table if not exists auth.dev_inbox (
  id bigserial primary key,
  recipient text not null,
  subject text not null,
  text_body text not null,
  html_body text not null,
  created_at timestamptz not null default now()
);
create index if not exists dev_inbox_recipient_idx on auth.dev_inbox (lower(recipient), id);

alter table auth.one_time_tokens enable row level security;
alter table auth.flow_state enable row level security;
alter table auth.dev_inbox enable row level security;
revoke all on auth.one_time_tokens, auth.flow_state, auth.dev_inbox from anon, authenticated;
grant all on auth.one_time_tokens, auth.flow_state, auth.dev_inbox to service_role;
grant usage on sequence auth.dev_inbox_id_seq to service_role;
