-- GraphQL row-change subscriptions deliver the row AS COMMITTED (docs/realtime-changes.md):
-- the trigger now sends the row itself (its composite literal, `new::text`, or `old::text` for a
-- DELETE), and the GraphQL service checks each subscriber's SELECT policies over those values
-- (realtime.check_rows, row_format 'record') and serves the payload's row from them. Before, it
-- sent only the key and re-read the row, so an INSERT followed at once by a DELETE reached
-- subscribers with the row null, and DELETEs were routed by the row's tenant_id alone.
--
-- NOTIFY bypasses RLS, so the payload never goes to clients as is: only the service reads it.
-- NOTIFY payloads must stay under 8000 bytes: a larger row is parked in graphql.change_rows
-- (readable by the owner only) and the notification names its id; parked rows older than ten
-- minutes are removed as new ones arrive. Like NOTIFY itself, both happen only on commit.
create table if not exists graphql.change_rows (
  id bigint generated always as identity primary key,
  row_text text not null,
  parked_at timestamptz not null default now()
);
create index if not exists change_rows_parked_at on graphql.change_rows (parked_at);
revoke all on graphql.change_rows from public, anon, authenticated, service_role;

-- security definer: the writer (any role) parks large rows in a table only the owner can touch.
create or replace function graphql.notify_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  rec jsonb := to_jsonb(case when tg_op = 'DELETE' then old else new end);
  row_text text := case when tg_op = 'DELETE' then old::text else new::text end;
  pk jsonb := '[]';
  col text;
  payload text;
  parked bigint;
  seq bigint;
begin
  foreach col in array tg_argv loop
    pk := pk || jsonb_build_array(rec ->> col);
  end loop;
  -- Postgres delivers identical payloads of one transaction only once (two identical UPDATEs
  -- of a row would be one event): a transaction-local sequence number makes each one distinct.
  seq := coalesce(nullif(current_setting('graphql.notify_seq', true), ''), '0')::bigint + 1;
  perform set_config('graphql.notify_seq', seq::text, true);
  payload := json_build_object('op', tg_op, 'pk', pk, 'seq', seq, 'row', row_text)::text;
  if octet_length(payload) >= 7900 then
    delete from graphql.change_rows where parked_at < now() - interval '10 minutes';
    insert into graphql.change_rows (row_text) values (row_text) returning id into parked;
    payload := json_build_object('op', tg_op, 'pk', pk, 'seq', seq, 'parked', parked)::text;
  end if;
  -- Never fail the write because of a huge key: the change is then not announced.
  if octet_length(payload) < 7900 then
    perform pg_notify('graphql_changes:' || tg_relid::oid::text, payload);
  else
    raise warning 'graphql.notify_change: primary key of %.% too large to notify', tg_table_schema, tg_table_name;
  end if;
  return null;
end
$$;
revoke all on function graphql.notify_change() from public, anon, authenticated;

comment on function graphql.enable_subscriptions(regclass) is
  'Exposes Subscription.<table>Changed in GraphQL: a trigger NOTIFYs the operation, key and committed row of each change (read only by the GraphQL service, which checks RLS per subscriber).';
