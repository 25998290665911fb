-- Operations (ops/alerts/): every alert the stack raised, so that several instances evaluating the
-- same rules send one message when a condition starts and one when it resolves, never one each.
--
-- A condition (kind 'condition': database unreachable, error rate, p99 latency, replication lag,
-- disk free) is open while resolved_at is null; at most one open row per (rule, key), so the
-- instance whose INSERT … ON CONFLICT DO NOTHING returns the row is the one that queues the
-- "firing" messages, and the one whose UPDATE … WHERE resolved_at IS NULL returns it queues the
-- "resolved" ones. An event (kind 'event': a job that failed its last attempt, a deployment) is
-- one message; (rule, key) names it once (the job id, the deployment id).
-- Only the owner (the stack's admin pool) touches this table; the API roles have no access.
create schema if not exists nextmavens;

create table nextmavens.alerts (
  id bigint generated always as identity primary key,
  rule text not null,
  key text not null default '',
  kind text not null check (kind in ('condition', 'event')),
  severity text not null check (severity in ('critical', 'warning', 'info')),
  summary text not null,
  details jsonb not null default '{}',
  started_at timestamptz not null default now(),
  resolved_at timestamptz
);

create unique index alerts_open_condition on nextmavens.alerts (rule, key) where kind = 'condition' and resolved_at is null;
create unique index alerts_event_once on nextmavens.alerts (rule, key) where kind = 'event';
create index alerts_recent on nextmavens.alerts (started_at desc);

revoke all on nextmavens.alerts from public;
