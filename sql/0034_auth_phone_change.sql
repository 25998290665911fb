-- Phone change (updateUser({phone}) → verifyOtp({type: 'phone_change'})): its SMS code is a
-- one-time token of GoTrue's kind `phone_change_token`, beside the kinds of 0010_auth_flows.sql.
alter table auth.one_time_tokens drop constraint if exists one_time_tokens_token_type_check;
alter table auth.one_time_tokens add constraint one_time_tokens_token_type_check check (token_type in (
  'confirmation_token', 'recovery_token', 'invite_token', 'magiclink_token',
  'email_change_token_new', 'email_change_token_current', 'reauthentication_token', 'phone_change_token'));
