-- 0024: reauthentication and manual identity linking.
-- Reauthentication (GoTrue's GET /reauthenticate): when the last nonce mail was requested, for
-- the per-address send limit; the nonce itself is a one-time token (auth.one_time_tokens,
-- token_type 'reauthentication_token', sql/0010).
alter table auth.users add column if not exists reauthentication_sent_at timestamptz;

-- Manual identity linking (GoTrue's GET /user/identities/authorize): the signed-in user an OAuth
-- round trip links the provider identity to, instead of signing in whoever the identity names.
alter table auth.flow_state add column if not exists linking_target_id uuid references auth.users (id) on delete cascade;
