-- The OAuth 2.1 server (your project as an identity provider), with GoTrue's tables and columns
-- (supabase/auth migrations *oauth*): registered clients, authorization requests on their way
-- through consent, and the consents users gave. Differences, kept on purpose: redirect_uris and
-- grant_types are text[] (GoTrue joins them with commas), and an authorization code is kept only
-- as sha256 hex (`authorization_code_hash`), like every other secret of auth; a client secret too
-- (base64url of its sha256, as GoTrue hashes it) — the plain secret is shown once.

create table if not exists auth.oauth_clients (
  -- the public client_id
  id uuid primary key default extensions.gen_random_uuid(),
  client_secret_hash text,
  registration_type text not null check (registration_type in ('dynamic', 'manual')),
  client_type text not null default 'confidential' check (client_type in ('public', 'confidential')),
  token_endpoint_auth_method text not null check (token_endpoint_auth_method in ('client_secret_basic', 'client_secret_post', 'none')),
  redirect_uris text[] not null,
  grant_types text[] not null,
  client_name text check (char_length(client_name) <= 1024),
  client_uri text check (char_length(client_uri) <= 2048),
  logo_uri text check (char_length(logo_uri) <= 2048),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz,
  -- a confidential client has a secret, a public one none
  constraint oauth_clients_secret_by_type check ((client_type = 'confidential') = (client_secret_hash is not null))
);
create index if not exists oauth_clients_deleted_at_idx on auth.oauth_clients (deleted_at);

create table if not exists auth.oauth_authorizations (
  id uuid primary key default extensions.gen_random_uuid(),
  -- what the consent page is given (?authorization_id=), random, not guessable
  authorization_id text not null unique,
  client_id uuid not null references auth.oauth_clients (id) on delete cascade,
  -- set when a signed-in user first looks at the request
  user_id uuid references auth.users (id) on delete cascade,
  redirect_uri text not null check (char_length(redirect_uri) <= 2048),
  scope text not null check (char_length(scope) <= 4096),
  state text check (char_length(state) <= 4096),
  resource text check (char_length(resource) <= 2048),
  code_challenge text check (char_length(code_challenge) <= 128),
  code_challenge_method text check (code_challenge_method in ('s256', 'plain')),
  nonce text check (char_length(nonce) <= 255),
  response_type text not null default 'code' check (response_type = 'code'),
  status text not null default 'pending' check (status in ('pending', 'approved', 'denied', 'expired')),
  authorization_code_hash text unique,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  approved_at timestamptz,
  constraint oauth_authorizations_expires_at_future check (expires_at > created_at)
);
create index if not exists oauth_authorizations_pending_exp_idx on auth.oauth_authorizations (expires_at) where status = 'pending';
create index if not exists oauth_authorizations_client_idx on auth.oauth_authorizations (client_id);
create index if not exists oauth_authorizations_user_idx on auth.oauth_authorizations (user_id);

create table if not exists auth.oauth_consents (
  id uuid primary key default extensions.gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  client_id uuid not null references auth.oauth_clients (id) on delete cascade,
  -- space-separated, as the scope parameter
  scopes text not null check (char_length(scopes) <= 2048 and char_length(trim(scopes)) > 0),
  granted_at timestamptz not null default now(),
  revoked_at timestamptz,
  constraint oauth_consents_user_client_unique unique (user_id, client_id),
  constraint oauth_consents_revoked_after_granted check (revoked_at is null or revoked_at >= granted_at)
);
create index if not exists oauth_consents_client_idx on auth.oauth_consents (client_id) where revoked_at is null;

-- A session started through the token endpoint belongs to its client (refreshes need that
-- client's authentication; its access tokens carry `client_id` and `scope`).
alter table auth.sessions
  add column if not exists oauth_client_id uuid references auth.oauth_clients (id) on delete cascade,
  add column if not exists scopes text check (char_length(scopes) <= 4096);
create index if not exists sessions_oauth_client_id_idx on auth.sessions (oauth_client_id);

alter table auth.oauth_clients enable row level security;
alter table auth.oauth_authorizations enable row level security;
alter table auth.oauth_consents enable row level security;
revoke all on auth.oauth_clients, auth.oauth_authorizations, auth.oauth_consents from anon, authenticated;
