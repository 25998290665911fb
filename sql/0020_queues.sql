-- Queues: pgmq's SQL API in plain SQL (pgmq.create, send, send_batch, read, read_with_poll, pop,
-- set_vt, archive, delete, purge_queue, drop_queue, list_queues, metrics, metrics_all), with
-- pgmq's tables (pgmq.q_<queue>, pgmq.a_<queue> for archived messages, pgmq.meta) and return
-- types (pgmq.message_record: msg_id, read_ct, enqueued_at, vt, message). Supabase Queues'
-- client API is the schema pgmq_public (send, send_batch, read, pop, archive, delete), callable
-- over REST once pgmq_public is in REST_SCHEMAS: `supabase.schema('pgmq_public').rpc('send', …)`.
--
-- Who may use a queue is decided by privileges and RLS on its table, as in Supabase: every
-- function runs as the caller (except creating and dropping queues, service_role only). The
-- API roles authenticated and service_role may call the functions; service_role may use every
-- queue; authenticated needs grants on the queue's tables (and policies, with RLS enabled):
--   grant select, insert, update, delete on pgmq.q_jobs to authenticated;
--   grant insert on pgmq.a_jobs to authenticated;   -- archive
create schema if not exists pgmq;
create schema if not exists pgmq_public;

do $$
begin
  if not exists (select from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace where n.nspname = 'pgmq' and t.typname = 'message_record') then
    create type pgmq.message_record as (msg_id bigint, read_ct integer, enqueued_at timestamptz, vt timestamptz, message jsonb);
    create type pgmq.metrics_result as (queue_name text, queue_length bigint, newest_msg_age_sec integer, oldest_msg_age_sec integer,
      total_messages bigint, scrape_time timestamptz);
    create type pgmq.queue_record as (queue_name varchar, is_partitioned boolean, is_unlogged boolean, created_at timestamptz);
  end if;
end
$$;

create table if not exists pgmq.meta (
  queue_name varchar not null unique,
  is_partitioned boolean not null default false,
  is_unlogged boolean not null default false,
  created_at timestamptz not null default now()
);

-- The table of a queue ('q') or of its archive ('a'); a bad name is a 22023 error.
create or replace function pgmq._table(queue_name text, kind text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if queue_name is null or queue_name !~ '^[A-Za-z0-9_]{1,47}$' then
    raise exception 'invalid queue name: % (letters, digits and _, at most 47)', coalesce(queue_name, 'null') using errcode = '22023';
  end if;
  return kind || '_' || lower(queue_name);
end
$$;

create or replace function pgmq._create(queue_name text, unlogged boolean)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  q text := pgmq._table(queue_name, 'q');
  a text := pgmq._table(queue_name, 'a');
  kind text := case when unlogged then 'unlogged' else '' end;
begin
  execute format('create %s table if not exists pgmq.%I (msg_id bigint primary key generated always as identity, read_ct integer not null default 0,
    enqueued_at timestamptz not null default now(), vt timestamptz not null, message jsonb)', kind, q);
  execute format('create table if not exists pgmq.%I (msg_id bigint primary key, read_ct integer not null default 0,
    enqueued_at timestamptz not null default now(), archived_at timestamptz not null default now(), vt timestamptz not null, message jsonb)', a);
  execute format('create index if not exists %I on pgmq.%I (vt asc)', q || '_vt_idx', q);
  execute format('create index if not exists %I on pgmq.%I (archived_at)', 'archived_at_idx_' || lower(queue_name), a);
  execute format('grant all on pgmq.%I, pgmq.%I to service_role', q, a);
  execute format('grant select on sequence %s to service_role', pg_catalog.pg_get_serial_sequence(format('pgmq.%I', q), 'msg_id'));
  insert into pgmq.meta (queue_name, is_unlogged) values (lower(queue_name), unlogged) on conflict do nothing;
end
$$;

create or replace function pgmq.create(queue_name text)
returns void language sql set search_path = '' as $$ select pgmq._create(queue_name, false) $$;

create or replace function pgmq.create_unlogged(queue_name text)
returns void language sql set search_path = '' as $$ select pgmq._create(queue_name, true) $$;

create or replace function pgmq.drop_queue(queue_name text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  q text := pgmq._table(queue_name, 'q');
begin
  if not exists (select from pgmq.meta m where m.queue_name = lower(drop_queue.queue_name)) then
    return false;
  end if;
  execute format('drop table if exists pgmq.%I, pgmq.%I', q, pgmq._table(queue_name, 'a'));
  delete from pgmq.meta m where m.queue_name = lower(drop_queue.queue_name);
  return true;
end
$$;

create or replace function pgmq.send(queue_name text, msg jsonb, delay integer default 0)
returns setof bigint
language plpgsql
set search_path = ''
as $$
begin
  return query execute format('insert into pgmq.%I (vt, message) values (clock_timestamp() + make_interval(secs => $1), $2) returning msg_id',
    pgmq._table(queue_name, 'q')) using greatest(coalesce(delay, 0), 0), msg;
end
$$;

create or replace function pgmq.send_batch(queue_name text, msgs jsonb[], delay integer default 0)
returns setof bigint
language plpgsql
set search_path = ''
as $$
begin
  return query execute format('insert into pgmq.%I (vt, message) select clock_timestamp() + make_interval(secs => $1), m from unnest($2) with ordinality u(m, n) order by n returning msg_id',
    pgmq._table(queue_name, 'q')) using greatest(coalesce(delay, 0), 0), msgs;
end
$$;

-- Up to qty visible messages, each hidden for vt seconds (read_ct counts the reads).
create or replace function pgmq.read(queue_name text, vt integer, qty integer)
returns setof pgmq.message_record
language plpgsql
set search_path = ''
as $$
begin
  return query execute format(
    'with cte as (select msg_id from pgmq.%1$I where vt <= clock_timestamp() order by msg_id limit $1 for update skip locked)
     update pgmq.%1$I m set vt = clock_timestamp() + make_interval(secs => $2), read_ct = m.read_ct + 1 from cte where m.msg_id = cte.msg_id
     returning m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message', pgmq._table(queue_name, 'q')) using qty, vt;
end
$$;

create or replace function pgmq.read_with_poll(queue_name text, vt integer, qty integer, max_poll_seconds integer default 5, poll_interval_ms integer default 100)
returns setof pgmq.message_record
language plpgsql
set search_path = ''
as $$
declare
  deadline timestamptz := clock_timestamp() + make_interval(secs => max_poll_seconds);
  got int;
begin
  loop
    return query select * from pgmq.read(queue_name, vt, qty);
    get diagnostics got = row_count;
    if got > 0 or clock_timestamp() >= deadline then
      return;
    end if;
    perform pg_catalog.pg_sleep(poll_interval_ms / 1000.0);
  end loop;
end
$$;

-- The oldest visible message, removed from the queue.
create or replace function pgmq.pop(queue_name text)
returns setof pgmq.message_record
language plpgsql
set search_path = ''
as $$
begin
  return query execute format(
    'with cte as (select msg_id from pgmq.%1$I where vt <= clock_timestamp() order by msg_id limit 1 for update skip locked)
     delete from pgmq.%1$I m using cte where m.msg_id = cte.msg_id
     returning m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message', pgmq._table(queue_name, 'q'));
end
$$;

create or replace function pgmq.set_vt(queue_name text, msg_id bigint, vt integer)
returns setof pgmq.message_record
language plpgsql
set search_path = ''
as $$
begin
  return query execute format(
    'update pgmq.%I m set vt = clock_timestamp() + make_interval(secs => $2) where m.msg_id = $1
     returning m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message', pgmq._table(queue_name, 'q')) using msg_id, vt;
end
$$;

create or replace function pgmq.delete(queue_name text, msg_ids bigint[])
returns setof bigint
language plpgsql
set search_path = ''
as $$
begin
  return query execute format('delete from pgmq.%I where msg_id = any($1) returning msg_id', pgmq._table(queue_name, 'q')) using msg_ids;
end
$$;

create or replace function pgmq.delete(queue_name text, msg_id bigint)
returns boolean
language sql
set search_path = ''
as $$ select exists (select from pgmq.delete(queue_name, array[msg_id])) $$;

-- Moves messages to the queue's archive table.
create or replace function pgmq.archive(queue_name text, msg_ids bigint[])
returns setof bigint
language plpgsql
set search_path = ''
as $$
begin
  return query execute format(
    'with archived as (delete from pgmq.%I where msg_id = any($1) returning msg_id, vt, read_ct, enqueued_at, message)
     insert into pgmq.%I (msg_id, vt, read_ct, enqueued_at, message) select msg_id, vt, read_ct, enqueued_at, message from archived returning msg_id',
    pgmq._table(queue_name, 'q'), pgmq._table(queue_name, 'a')) using msg_ids;
end
$$;

create or replace function pgmq.archive(queue_name text, msg_id bigint)
returns boolean
language sql
set search_path = ''
as $$ select exists (select from pgmq.archive(queue_name, array[msg_id])) $$;

create or replace function pgmq.purge_queue(queue_name text)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  n bigint;
begin
  execute format('with d as (delete from pgmq.%I returning 1) select count(*) from d', pgmq._table(queue_name, 'q')) into n;
  return n;
end
$$;

create or replace function pgmq.list_queues()
returns setof pgmq.queue_record
language sql
set search_path = ''
as $$ select m.queue_name, m.is_partitioned, m.is_unlogged, m.created_at from pgmq.meta m order by m.queue_name $$;

create or replace function pgmq.metrics(queue_name text)
returns pgmq.metrics_result
language plpgsql
set search_path = ''
as $$
declare
  q text := pgmq._table(queue_name, 'q');
  result pgmq.metrics_result;
begin
  execute format(
    'select $1, count(*)::bigint, extract(epoch from (clock_timestamp() - max(enqueued_at)))::int,
            extract(epoch from (clock_timestamp() - min(enqueued_at)))::int,
            coalesce(pg_catalog.pg_sequence_last_value(%L::regclass), 0), clock_timestamp() from pgmq.%I',
    pg_catalog.pg_get_serial_sequence(format('pgmq.%I', q), 'msg_id'), q)
    into result using lower(queue_name);
  return result;
end
$$;

create or replace function pgmq.metrics_all()
returns setof pgmq.metrics_result
language sql
set search_path = ''
as $$ select (pgmq.metrics(m.queue_name)).* from pgmq.meta m order by m.queue_name $$;

-- Supabase Queues' client API (the wrappers of supabase/supabase's pgmq_public migration).
create or replace function pgmq_public.send(queue_name text, message jsonb, sleep_seconds integer default 0)
returns setof bigint language sql set search_path = ''
as $$ select * from pgmq.send(queue_name := queue_name, msg := message, delay := sleep_seconds) $$;
comment on function pgmq_public.send(text, jsonb, integer) is 'Sends a message to the specified queue, optionally delaying its availability by a number of seconds.';

create or replace function pgmq_public.send_batch(queue_name text, messages jsonb[], sleep_seconds integer default 0)
returns setof bigint language sql set search_path = ''
as $$ select * from pgmq.send_batch(queue_name := queue_name, msgs := messages, delay := sleep_seconds) $$;
comment on function pgmq_public.send_batch(text, jsonb[], integer) is 'Sends a batch of messages to the specified queue, optionally delaying their availability by a number of seconds.';

create or replace function pgmq_public.read(queue_name text, sleep_seconds integer, n integer)
returns setof pgmq.message_record language sql set search_path = ''
as $$ select * from pgmq.read(queue_name := queue_name, vt := sleep_seconds, qty := n) $$;
comment on function pgmq_public.read(text, integer, integer) is 'Reads up to "n" messages from the specified queue with an optional "sleep_seconds" (visibility timeout).';

create or replace function pgmq_public.pop(queue_name text)
returns setof pgmq.message_record language sql set search_path = ''
as $$ select * from pgmq.pop(queue_name := queue_name) $$;
comment on function pgmq_public.pop(text) is 'Retrieves and locks the next message from the specified queue.';

create or replace function pgmq_public.archive(queue_name text, message_id bigint)
returns boolean language sql set search_path = ''
as $$ select pgmq.archive(queue_name := queue_name, msg_id := message_id) $$;
comment on function pgmq_public.archive(text, bigint) is 'Archives a message by moving it from the queue to a permanent archive.';

create or replace function pgmq_public.delete(queue_name text, message_id bigint)
returns boolean language sql set search_path = ''
as $$ select pgmq.delete(queue_name := queue_name, msg_id := message_id) $$;
comment on function pgmq_public.delete(text, bigint) is 'Permanently deletes a message from the specified queue.';

revoke all on all functions in schema pgmq, pgmq_public from public;
revoke all on all tables in schema pgmq from public;
grant usage on schema pgmq, pgmq_public to authenticated, service_role;
grant execute on all functions in schema pgmq_public to authenticated, service_role;
grant execute on function pgmq._table(text, text), pgmq.send(text, jsonb, integer), pgmq.send_batch(text, jsonb[], integer),
  pgmq.read(text, integer, integer), pgmq.read_with_poll(text, integer, integer, integer, integer), pgmq.pop(text),
  pgmq.set_vt(text, bigint, integer), pgmq.delete(text, bigint[]), pgmq.delete(text, bigint), pgmq.archive(text, bigint[]),
  pgmq.archive(text, bigint), pgmq.purge_queue(text), pgmq.list_queues(), pgmq.metrics(text), pgmq.metrics_all()
  to authenticated, service_role;
grant execute on function pgmq._create(text, boolean), pgmq.create(text), pgmq.create_unlogged(text), pgmq.drop_queue(text) to service_role;
grant select on pgmq.meta to authenticated, service_role;
