-- SAML 2.0 single sign-on with GoTrue's tables and columns (supabase/auth migrations *saml*,
-- *sso*): SSO providers, their SAML connection (the IdP's metadata), the email domains that pick
-- a provider for signInWithSSO({domain}), and the relay states of SP-initiated sign-ins (with the
-- PKCE flow state the ACS completes). As in GoTrue, users made by an SSO provider are marked
-- is_sso_user and may share an address with a password user: the address stays unique among
-- non-SSO users only.

create table if not exists auth.sso_providers (
  id uuid primary key default extensions.gen_random_uuid(),
  resource_id text check (resource_id is null or char_length(resource_id) > 0),
  disabled boolean,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index if not exists sso_providers_resource_id_idx on auth.sso_providers (lower(resource_id));
create index if not exists sso_providers_resource_id_pattern_idx on auth.sso_providers (resource_id text_pattern_ops);

create table if not exists auth.sso_domains (
  id uuid primary key default extensions.gen_random_uuid(),
  sso_provider_id uuid not null references auth.sso_providers (id) on delete cascade,
  domain text not null check (char_length(domain) > 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists sso_domains_sso_provider_id_idx on auth.sso_domains (sso_provider_id);
create unique index if not exists sso_domains_domain_idx on auth.sso_domains (lower(domain));

create table if not exists auth.saml_providers (
  id uuid primary key default extensions.gen_random_uuid(),
  sso_provider_id uuid not null references auth.sso_providers (id) on delete cascade,
  entity_id text not null unique check (char_length(entity_id) > 0),
  metadata_xml text not null check (char_length(metadata_xml) > 0),
  metadata_url text check (metadata_url is null or char_length(metadata_url) > 0),
  attribute_mapping jsonb,
  name_id_format text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists saml_providers_sso_provider_id_idx on auth.saml_providers (sso_provider_id);

create table if not exists auth.saml_relay_states (
  id uuid primary key default extensions.gen_random_uuid(),
  sso_provider_id uuid not null references auth.sso_providers (id) on delete cascade,
  request_id text not null check (char_length(request_id) > 0),
  for_email text,
  redirect_to text,
  flow_state_id uuid references auth.flow_state (id) on delete cascade,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists saml_relay_states_sso_provider_id_idx on auth.saml_relay_states (sso_provider_id);
create index if not exists saml_relay_states_for_email_idx on auth.saml_relay_states (for_email);
create index if not exists saml_relay_states_created_at_idx on auth.saml_relay_states (created_at desc);

-- GoTrue's users_email_partial_key: an address is unique among the users that are not SSO users.
drop index if exists auth.users_email_key;
create unique index if not exists users_email_key on auth.users (lower(email)) where email is not null and deleted_at is null and not is_sso_user;

alter table auth.sso_providers enable row level security;
alter table auth.sso_domains enable row level security;
alter table auth.saml_providers enable row level security;
alter table auth.saml_relay_states enable row level security;
revoke all on auth.sso_providers, auth.sso_domains, auth.saml_providers, auth.saml_relay_states from anon, authenticated;
