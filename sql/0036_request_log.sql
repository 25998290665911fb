-- Recent requests of the embedded gateway (gateway/request-log.ts's fields), for the admin
-- dashboard's Logs page. UNLOGGED: no WAL for this churn, emptied by a crash, never replicated
-- or in a base backup — it is a window on recent traffic, not a record (the audit log is that).
-- Written in batches off the request path (gateway/request-log-sink.ts), bounded by
-- REQUEST_LOG_RETENTION_HOURS and REQUEST_LOG_MAX_ROWS. Only the owner touches it: no grants,
-- RLS on without policies, so no API caller ever reads who called what.
create schema if not exists nextmavens;

create unlogged table nextmavens.request_log (
  id bigint generated always as identity primary key,
  at timestamptz not null,
  request_id text not null,
  method text not null,
  -- the URL with the values of secret query parameters replaced (gateway/request-log.ts redactUrl)
  path text not null,
  -- the route table's entry (gateway/routes.ts): its service, name and rate-limit group
  service text,
  route text not null,
  route_group text,
  status smallint not null,
  duration_ms real not null,
  role text,
  tenant_id text,
  user_id text,
  ip text
);
create index request_log_at on nextmavens.request_log (at);

alter table nextmavens.request_log enable row level security;
revoke all on nextmavens.request_log from public;
