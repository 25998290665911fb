-- GraphQL subscriptions: tables opt in with `select graphql.enable_subscriptions('public.todos');`
-- (and out with graphql.disable_subscriptions). An opted-in table gets a row trigger that sends
-- NOTIFY on channel `graphql_changes:<table oid>` with only the operation and the primary key
-- (`{"op":"INSERT","pk":["42"]}`), never row data: NOTIFY bypasses RLS, so the GraphQL service
-- re-fetches each row under every subscriber's own role and claims. DELETE events also carry the
-- row's `tenant_id` (when the table has one), the key the service routes deletions by: a deleted
-- row can no longer be checked against RLS.
--
-- Opting in (rather than a trigger on every table) keeps writes to other tables free of the
-- trigger's cost, as Supabase's realtime publication does. The trigger's arguments are the
-- primary key columns at the time of enabling: call enable_subscriptions again after changing
-- the primary key.
create schema if not exists graphql;

create or replace function graphql.notify_change() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  rec jsonb := to_jsonb(case when tg_op = 'DELETE' then old else new end);
  pk jsonb := '[]';
  col text;
  payload text;
begin
  foreach col in array tg_argv loop
    pk := pk || jsonb_build_array(rec ->> col);
  end loop;
  payload := json_build_object(
    'op', tg_op,
    'pk', pk,
    'tenant', case when tg_op = 'DELETE' then rec ->> 'tenant_id' end
  )::text;
  -- NOTIFY payloads must stay under 8000 bytes; never fail the write because of a huge key.
  if octet_length(payload) < 7900 then
    perform pg_notify('graphql_changes:' || tg_relid::oid::text, payload);
  else
    raise warning 'graphql.notify_change: primary key of %.% too large to notify', tg_table_schema, tg_table_name;
  end if;
  return null;
end
$$;

create or replace function graphql.enable_subscriptions(target regclass) returns void
language plpgsql
set search_path = ''
as $$
declare
  cols text;
begin
  select string_agg(quote_literal(a.attname), ', ' order by k.ord) into cols
  from pg_index i
  cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
  join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
  where i.indrelid = target and i.indisprimary;
  if cols is null then
    raise exception 'table % has no primary key; GraphQL subscriptions need one to re-fetch rows', target
      using errcode = '42P10';
  end if;
  execute format('drop trigger if exists graphql_subscriptions on %s', target);
  execute format(
    'create trigger graphql_subscriptions after insert or update or delete on %s for each row execute function graphql.notify_change(%s)',
    target, cols);
  -- CREATE TRIGGER is not among the DDL PostGraphile's watch mode follows: ask for a rebuild.
  perform pg_notify('postgraphile_watch', json_build_object('type', 'manual')::text);
end
$$;

create or replace function graphql.disable_subscriptions(target regclass) returns void
language plpgsql
set search_path = ''
as $$
begin
  execute format('drop trigger if exists graphql_subscriptions on %s', target);
  perform pg_notify('postgraphile_watch', json_build_object('type', 'manual')::text);
end
$$;

comment on function graphql.enable_subscriptions(regclass) is
  'Exposes Subscription.<table>Changed in GraphQL: a trigger NOTIFYs the operation and primary key of each changed row.';
comment on function graphql.disable_subscriptions(regclass) is 'Removes the GraphQL subscription trigger of a table.';
revoke all on function graphql.notify_change() from public, anon, authenticated;
revoke all on function graphql.enable_subscriptions(regclass), graphql.disable_subscriptions(regclass)
  from public, anon, authenticated;
