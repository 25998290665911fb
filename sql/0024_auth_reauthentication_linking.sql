-- Reauthentication (GoTrue's GET /reauthenticate): when the last nonce mail was requested, for
-- the per-address send limit; the nonce itself is a one-time token (auth.one_time_tokens,
-- token_type 'reauthentication_token', sql/0010).
alter table auth.users add column if not exists reauthentication_sent_at timestamptz;
