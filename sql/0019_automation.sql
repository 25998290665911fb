-- Database automation without extensions (docs/automation.md): pg_net-style HTTP calls
-- (`net`), database webhooks (`webhooks`), pg_cron-style schedules (`cron`) and broadcast from
-- the database (`realtime.send`, `realtime.broadcast_changes`). The work is done by the stack's
-- graphile-worker (automation/, registered in jobs/index.ts): these functions only record what
-- to do and add a job in the caller's transaction, so a rolled-back transaction does nothing.
-- graphile-worker installs its own schema when it first starts, which may be after this
-- migration: every function that calls graphile_worker.add_job is plpgsql, whose body is only
-- resolved when it runs.

-- ---------------------------------------------------------------------------------------------
-- net: pg_net's SQL API (net.http_get / http_post / http_delete → request id; the answer lands
-- in net._http_response with pg_net's columns). Where the real pg_net extension is installed
-- (the compose Postgres image) it keeps serving net.* and this section is skipped.
do $net$
begin
  if exists (select from pg_catalog.pg_extension where extname = 'pg_net') then
    raise notice 'pg_net is installed: net.* stays the extension''s';
    return;
  end if;
  execute $ddl$
    create schema if not exists net;

    create table if not exists net.http_request_queue (
      id bigserial primary key,
      method text not null check (method in ('GET', 'POST', 'DELETE')),
      url text not null,
      -- query parameters, appended (URL-encoded) to url when the request is made
      params jsonb not null default '{}',
      headers jsonb not null default '{}',
      body bytea,
      timeout_milliseconds integer not null
    );

    create table if not exists net._http_response (
      id bigint primary key,
      status_code integer,
      content_type text,
      headers jsonb,
      content text,
      timed_out boolean,
      error_msg text,
      created timestamptz not null default now()
    );
    create index if not exists _http_response_created_idx on net._http_response (created);

    create or replace function net._enqueue(method text, url text, params jsonb, headers jsonb, body bytea, timeout_milliseconds integer)
    returns bigint
    language plpgsql
    security definer
    set search_path = ''
    as $fn$
    declare
      request_id bigint;
    begin
      if url is null or url !~* '^https?://[^/]' then
        raise exception 'url must be an absolute http(s) URL' using errcode = '22023';
      end if;
      if timeout_milliseconds is null or timeout_milliseconds < 1 or timeout_milliseconds > 300000 then
        raise exception 'timeout_milliseconds must be between 1 and 300000' using errcode = '22023';
      end if;
      if jsonb_typeof(coalesce(params, '{}')) <> 'object' or jsonb_typeof(coalesce(headers, '{}')) <> 'object' then
        raise exception 'params and headers must be JSON objects' using errcode = '22023';
      end if;
      insert into net.http_request_queue (method, url, params, headers, body, timeout_milliseconds)
      values (method, url, coalesce(params, '{}'), coalesce(headers, '{}'), body, timeout_milliseconds)
      returning id into request_id;
      perform graphile_worker.add_job('net_http', json_build_object('id', request_id), max_attempts => 3);
      return request_id;
    end
    $fn$;

    create or replace function net.http_get(url text, params jsonb default '{}', headers jsonb default '{}', timeout_milliseconds integer default 5000)
    returns bigint language sql volatile security definer set search_path = ''
    as $fn$ select net._enqueue('GET', url, params, headers, null, timeout_milliseconds) $fn$;

    create or replace function net.http_post(url text, body jsonb default '{}', params jsonb default '{}',
      headers jsonb default '{"Content-Type": "application/json"}', timeout_milliseconds integer default 5000)
    returns bigint language sql volatile security definer set search_path = ''
    as $fn$ select net._enqueue('POST', url, params, headers, convert_to(body::text, 'UTF8'), timeout_milliseconds) $fn$;

    create or replace function net.http_delete(url text, params jsonb default '{}', headers jsonb default '{}',
      timeout_milliseconds integer default 5000, body jsonb default null)
    returns bigint language sql volatile security definer set search_path = ''
    as $fn$ select net._enqueue('DELETE', url, params, headers, convert_to(body::text, 'UTF8'), timeout_milliseconds) $fn$;

    revoke all on all functions in schema net from public, anon, authenticated;
    revoke all on all tables in schema net from public, anon, authenticated;
    grant usage on schema net to service_role;
    grant execute on function net.http_get(text, jsonb, jsonb, integer), net.http_post(text, jsonb, jsonb, jsonb, integer),
      net.http_delete(text, jsonb, jsonb, integer, jsonb) to service_role;
    grant select on net._http_response to service_role;
  $ddl$;
end
$net$;

-- ---------------------------------------------------------------------------------------------
-- webhooks: a row trigger per hook records a delivery (Supabase's payload shape) in the writing
-- transaction, and a statement trigger queues one `webhook_deliver` job for the hook per
-- transaction; the job POSTs every due delivery of the hook, signed, in batches, and retries
-- failures with exponential back-off until max_attempts, then marks them dead
-- (automation/webhooks.ts). Declared with webhooks.create (service_role or the owner), readable
-- by service_role.
create schema if not exists webhooks;

create table if not exists webhooks.hooks (
  id bigint generated always as identity primary key,
  name text not null unique check (name ~ '^[A-Za-z0-9_-]{1,48}$'),
  schema_name text not null,
  table_name text not null,
  events text[] not null check (events <@ array['INSERT', 'UPDATE', 'DELETE'] and cardinality(events) > 0),
  url text not null check (url ~* '^https?://[^/]'),
  headers jsonb not null default '{}' check (jsonb_typeof(headers) = 'object'),
  timeout_ms integer not null default 5000 check (timeout_ms between 1 and 300000),
  max_attempts integer not null default 8 check (max_attempts between 1 and 50),
  -- HMAC-SHA256 key of the X-Webhook-Signature header
  secret text not null default encode(extensions.gen_random_bytes(32), 'hex') check (length(secret) >= 16),
  enabled boolean not null default true,
  created_at timestamptz not null default now()
);

create table if not exists webhooks.deliveries (
  id bigint generated always as identity primary key,
  hook_id bigint not null references webhooks.hooks (id) on delete cascade,
  payload jsonb not null,
  -- pending (queued, first try not done) | retrying | delivered | dead (gave up after max_attempts)
  status text not null default 'pending' check (status in ('pending', 'retrying', 'delivered', 'dead')),
  attempts integer not null default 0,
  -- attempts made before the last webhooks.retry (max_attempts counts from there)
  retried_after integer not null default 0,
  -- the last attempt's answer
  status_code integer,
  latency_ms integer,
  response_excerpt text,
  error text,
  -- due from then on (pending, retrying)
  next_attempt_at timestamptz not null default now(),
  -- while a worker is delivering it: not claimed again before then
  leased_until timestamptz,
  created_at timestamptz not null default now(),
  delivered_at timestamptz
);
create index if not exists deliveries_hook_idx on webhooks.deliveries (hook_id, id);
create index if not exists deliveries_due_idx on webhooks.deliveries (hook_id, next_attempt_at) where status in ('pending', 'retrying');
create index if not exists deliveries_dead_idx on webhooks.deliveries (hook_id) where status = 'dead';

-- One row per attempt (the delivery log).
create table if not exists webhooks.attempts (
  delivery_id bigint not null references webhooks.deliveries (id) on delete cascade,
  attempt integer not null,
  status_code integer,
  latency_ms integer not null,
  response_excerpt text,
  error text,
  attempted_at timestamptz not null default now(),
  primary key (delivery_id, attempt)
);

create or replace function webhooks.on_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into webhooks.deliveries (hook_id, payload)
  select h.id, jsonb_build_object(
      'type', TG_OP,
      'table', TG_TABLE_NAME,
      'schema', TG_TABLE_SCHEMA,
      'record', case when TG_OP = 'DELETE' then null else to_jsonb(NEW) end,
      'old_record', case when TG_OP = 'INSERT' then null else to_jsonb(OLD) end)
    from webhooks.hooks h
   where h.id = TG_ARGV[0]::bigint and h.enabled and TG_OP = any(h.events);
  return null;
end
$$;

-- One job per transaction and hook (not per row): it delivers whatever is due for the hook once
-- the transaction commits. (A transaction-local setting remembers that this transaction queued it.)
create or replace function webhooks.on_statement()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  queued text := 'webhooks.queued_' || TG_ARGV[0];
begin
  if current_setting(queued, true) is distinct from 'on' then
    perform webhooks._dispatch(TG_ARGV[0]::bigint, null);
    perform set_config(queued, 'on', true);
  end if;
  return null;
end
$$;

-- Before graphile-worker first started (its schema missing) a write must not fail: the delivery
-- stays pending, and the worker's hourly cleanup queues it (automation/store.ts cleanup).
create or replace function webhooks._dispatch(hook_id bigint, run_at timestamptz)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if to_regnamespace('graphile_worker') is null then
    return;
  end if;
  perform graphile_worker.add_job('webhook_deliver', json_build_object('hook', hook_id), run_at => coalesce(run_at, now()), max_attempts => 5);
end
$$;
revoke all on function webhooks.on_change(), webhooks.on_statement(), webhooks._dispatch(bigint, timestamptz) from public;

-- webhooks.create('orders_paid', 'public.orders', array['INSERT','UPDATE'], 'https://…',
--   headers => '{"Authorization": "Bearer …"}', timeout_ms => 3000): the hook (secret generated
-- unless given). Re-creating a hook of the same name replaces it (same secret unless given).
create or replace function webhooks.create(name text, table_name regclass, events text[], url text,
  headers jsonb default '{}', timeout_ms integer default 5000, max_attempts integer default 8, secret text default null)
returns webhooks.hooks
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- (parameters copied to variables: their names are also the table's column names)
  hook_name text := name;
  hook_url text := url;
  hook_headers jsonb := coalesce(headers, '{}');
  hook_timeout integer := timeout_ms;
  hook_attempts integer := max_attempts;
  hook_secret text := secret;
  upper_events text[] := (select array_agg(distinct upper(e) order by upper(e)) from unnest(events) e);
  rel record;
  hook webhooks.hooks;
begin
  select n.nspname, c.relname, c.relkind into rel from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = table_name;
  if rel.relkind not in ('r', 'p') then
    raise exception 'webhooks can only watch tables' using errcode = '22023';
  end if;
  if upper_events is null or not upper_events <@ array['INSERT', 'UPDATE', 'DELETE'] then
    raise exception 'events must be a non-empty subset of INSERT, UPDATE, DELETE' using errcode = '22023';
  end if;
  if hook_url is null or hook_url !~* '^https?://[^/]' then
    raise exception 'url must be an absolute http(s) URL' using errcode = '22023';
  end if;
  insert into webhooks.hooks as h (name, schema_name, table_name, events, url, headers, timeout_ms, max_attempts, secret)
  values (hook_name, rel.nspname, rel.relname, upper_events, hook_url, hook_headers, hook_timeout, hook_attempts,
          coalesce(hook_secret, encode(extensions.gen_random_bytes(32), 'hex')))
  on conflict on constraint hooks_name_key do update
    set schema_name = excluded.schema_name, table_name = excluded.table_name, events = excluded.events, url = excluded.url,
        headers = excluded.headers, timeout_ms = excluded.timeout_ms, max_attempts = excluded.max_attempts,
        secret = coalesce(hook_secret, h.secret), enabled = true
  returning h.* into hook;
  perform webhooks._drop_triggers(hook.name);
  execute format('create trigger %I after %s on %I.%I for each row execute function webhooks.on_change(%L)',
    'webhook_' || hook.name, array_to_string(hook.events, ' or '), rel.nspname, rel.relname, hook.id);
  execute format('create trigger %I after %s on %I.%I for each statement execute function webhooks.on_statement(%L)',
    'webhook_' || hook.name || '_queue', array_to_string(hook.events, ' or '), rel.nspname, rel.relname, hook.id);
  return hook;
end
$$;

-- The trigger of a hook, wherever it is (the hook may have moved to another table).
create or replace function webhooks._drop_triggers(hook_name text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  t record;
begin
  for t in select n.nspname, c.relname, tg.tgname from pg_catalog.pg_trigger tg
             join pg_catalog.pg_class c on c.oid = tg.tgrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
            where tg.tgname in ('webhook_' || hook_name, 'webhook_' || hook_name || '_queue')
              and tg.tgfoid in ('webhooks.on_change()'::regprocedure, 'webhooks.on_statement()'::regprocedure) loop
    execute format('drop trigger %I on %I.%I', t.tgname, t.nspname, t.relname);
  end loop;
end
$$;

-- Removes a hook, its trigger and its delivery log; false when there was none.
create or replace function webhooks.drop(name text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  hook_name text := name;
begin
  perform webhooks._drop_triggers(hook_name);
  delete from webhooks.hooks h where h.name = hook_name;
  return found;
end
$$;

-- Queues a dead (or any undelivered) delivery again, with a fresh set of attempts.
create or replace function webhooks.retry(delivery_id bigint)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  queued bigint := delivery_id;
  hook bigint;
begin
  update webhooks.deliveries d set status = 'pending', retried_after = d.attempts, next_attempt_at = now(), leased_until = null
   where d.id = queued and d.status <> 'delivered'
  returning d.hook_id into hook;
  if not found then
    return false;
  end if;
  perform webhooks._dispatch(hook, null);
  return true;
end
$$;

revoke all on all functions in schema webhooks from public;
grant usage on schema webhooks to service_role;
grant execute on function webhooks.create(text, regclass, text[], text, jsonb, integer, integer, text), webhooks.drop(text),
  webhooks.retry(bigint) to service_role;
grant select on webhooks.hooks, webhooks.deliveries, webhooks.attempts to service_role;

-- Supabase's own database-webhook trigger function, for migrations written against Supabase
-- (`create trigger … execute function supabase_functions.http_request('https://…', 'POST',
-- '{"Content-Type":"application/json"}', '{}', '5000')`): the same payload through net.http_post
-- (or net.http_get), one attempt as in Supabase, logged in supabase_functions.hooks.
create schema if not exists supabase_functions;

create table if not exists supabase_functions.hooks (
  id bigserial primary key,
  hook_table_id integer not null,
  hook_name text not null,
  created_at timestamptz not null default now(),
  request_id bigint
);
create index if not exists supabase_functions_hooks_request_id_idx on supabase_functions.hooks (request_id);
create index if not exists supabase_functions_hooks_h_table_id_h_name_idx on supabase_functions.hooks (hook_table_id, hook_name);

create or replace function supabase_functions.http_request()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  request_id bigint;
  url text := TG_ARGV[0];
  method text := TG_ARGV[1];
  headers jsonb := case when TG_ARGV[2] is null or TG_ARGV[2] = 'null' then '{"Content-Type": "application/json"}' else TG_ARGV[2]::jsonb end;
  params jsonb := case when TG_ARGV[3] is null or TG_ARGV[3] = 'null' then '{}' else TG_ARGV[3]::jsonb end;
  timeout_ms integer := case when TG_ARGV[4] is null or TG_ARGV[4] = 'null' then 1000 else TG_ARGV[4]::integer end;
begin
  if url is null or url = 'null' then
    raise exception 'url argument is missing';
  end if;
  if method is null or method = 'null' then
    raise exception 'method argument is missing';
  end if;
  case method
    when 'GET' then
      request_id := net.http_get(url, params, headers, timeout_ms);
    when 'POST' then
      request_id := net.http_post(url,
        jsonb_build_object('old_record', OLD, 'record', NEW, 'type', TG_OP, 'table', TG_TABLE_NAME, 'schema', TG_TABLE_SCHEMA),
        params, headers, timeout_ms);
    else
      raise exception 'method argument % is invalid', method;
  end case;
  insert into supabase_functions.hooks (hook_table_id, hook_name, request_id) values (TG_RELID, TG_NAME, request_id);
  return new;
end
$$;
revoke all on all functions in schema supabase_functions from public;
grant usage on schema supabase_functions to service_role;
grant select on supabase_functions.hooks to service_role;

-- ---------------------------------------------------------------------------------------------
-- cron: pg_cron's tables and functions. A graphile-worker crontab task (`cron_tick`, once a
-- minute across every instance, automation/cron.ts) claims each due job for that minute in
-- cron.job_claims (one row per job and minute: exactly once however many instances tick) and
-- queues its run; the run is logged in cron.job_run_details. Schedules are five cron fields (UTC)
-- or @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly. A job runs as the role that
-- scheduled it; each role sees and changes only its own jobs (RLS, as pg_cron).
create schema if not exists cron;

create table if not exists cron.job (
  jobid bigserial primary key,
  schedule text not null,
  command text not null,
  nodename text not null default 'localhost',
  nodeport integer not null default 5432,
  database text not null default current_database(),
  username text not null default current_user,
  active boolean not null default true,
  jobname text,
  constraint jobname_username_uniq unique (jobname, username)
);

create table if not exists cron.job_run_details (
  jobid bigint,
  runid bigserial primary key,
  job_pid integer,
  database text,
  username text,
  command text,
  status text,
  return_message text,
  start_time timestamptz,
  end_time timestamptz
);
create index if not exists job_run_details_jobid_idx on cron.job_run_details (jobid, runid);

-- Which (job, minute) has been claimed by a tick: the exactly-once guarantee.
create table if not exists cron.job_claims (
  jobid bigint not null,
  scheduled_at timestamptz not null,
  primary key (jobid, scheduled_at)
);

-- Is `schedule` something the scheduler understands? (Five fields of numbers, ranges, lists,
-- * and */step, within each field's bounds, or a macro.)
create or replace function cron.valid_schedule(schedule text)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
declare
  fields text[] := regexp_split_to_array(btrim(schedule), '\s+');
  lo int[] := array[0, 0, 1, 1, 0];
  hi int[] := array[59, 23, 31, 12, 7]; -- day of week 7 is Sunday too
  part text;
  m text[];
  i int;
begin
  if lower(btrim(schedule)) in ('@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly') then
    return true;
  end if;
  if cardinality(fields) <> 5 then
    return false;
  end if;
  for i in 1 .. 5 loop
    foreach part in array string_to_array(fields[i], ',') loop
      -- n, a-b, * or */step (graphile-worker's cron grammar, automation/cron.ts matches with it)
      m := regexp_match(part, '^(?:\*(?:/(\d+))?|(\d+)(?:-(\d+))?)$');
      if m is null then
        return false;
      end if;
      if m[1] is not null and (m[1]::int < 1 or m[1]::int > hi[i]) then return false; end if;
      if m[2] is not null and (m[2]::int < lo[i] or m[2]::int > hi[i]) then return false; end if;
      if m[3] is not null and (m[3]::int < m[2]::int or m[3]::int > hi[i]) then return false; end if;
    end loop;
  end loop;
  return true;
end
$$;

-- Only a superuser may schedule a job as another role (jobs run as their username).
create or replace function cron.job_owner_check()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.username is distinct from current_user
     and not coalesce((select rolsuper from pg_catalog.pg_roles where rolname = current_user), false) then
    raise exception 'a job runs as the role that schedules it (%), not %', current_user, new.username using errcode = '42501';
  end if;
  if not cron.valid_schedule(new.schedule) then
    raise exception 'invalid schedule: %', new.schedule using errcode = '22023',
      hint = 'five cron fields (minute hour day-of-month month day-of-week, UTC) or @hourly, @daily, @weekly, @monthly, @yearly';
  end if;
  return new;
end
$$;
drop trigger if exists job_owner_check on cron.job;
create trigger job_owner_check before insert or update on cron.job for each row execute function cron.job_owner_check();

alter table cron.job enable row level security;
alter table cron.job_run_details enable row level security;
drop policy if exists cron_job_policy on cron.job;
create policy cron_job_policy on cron.job using (username = current_user);
drop policy if exists cron_job_run_details_policy on cron.job_run_details;
create policy cron_job_run_details_policy on cron.job_run_details using (username = current_user);

-- cron.schedule(name, schedule, command): a named job (replaces the caller's job of that name).
create or replace function cron.schedule(job_name text, schedule text, command text)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  id bigint;
begin
  insert into cron.job as j (jobname, schedule, command) values (job_name, schedule, command)
  on conflict on constraint jobname_username_uniq do update set schedule = excluded.schedule, command = excluded.command, active = true
  returning j.jobid into id;
  return id;
end
$$;

create or replace function cron.schedule(schedule text, command text)
returns bigint
language sql
set search_path = ''
as $$ insert into cron.job (schedule, command) values (schedule, command) returning jobid $$;

create or replace function cron.unschedule(job_id bigint)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  delete from cron.job where jobid = job_id;
  if not found then
    raise exception 'could not find valid entry for job %', job_id using errcode = '22023';
  end if;
  return true;
end
$$;

create or replace function cron.unschedule(job_name text)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  delete from cron.job where jobname = job_name and username = current_user;
  if not found then
    raise exception 'could not find valid entry for job ''%''', job_name using errcode = '22023';
  end if;
  return true;
end
$$;

create or replace function cron.alter_job(job_id bigint, schedule text default null, command text default null,
  database text default null, username text default null, active boolean default null)
returns void
language plpgsql
set search_path = ''
as $$
begin
  update cron.job j set schedule = coalesce(alter_job.schedule, j.schedule), command = coalesce(alter_job.command, j.command),
    database = coalesce(alter_job.database, j.database), username = coalesce(alter_job.username, j.username),
    active = coalesce(alter_job.active, j.active)
   where j.jobid = job_id;
  if not found then
    raise exception 'could not find valid entry for job %', job_id using errcode = '22023';
  end if;
end
$$;

revoke all on all functions in schema cron from public;
revoke all on all tables in schema cron from public;
grant usage on schema cron to service_role;
grant execute on function cron.schedule(text, text, text), cron.schedule(text, text), cron.unschedule(bigint),
  cron.unschedule(text), cron.alter_job(bigint, text, text, text, text, boolean), cron.valid_schedule(text) to service_role;
grant execute on function cron.job_owner_check() to service_role;
grant select, insert, update, delete on cron.job to service_role;
grant usage on sequence cron.job_jobid_seq to service_role;
grant select, delete on cron.job_run_details to service_role;

-- ---------------------------------------------------------------------------------------------
-- Broadcast from the database, as Supabase: realtime.send inserts a message into
-- realtime.messages, which is in the realtime publication; the instance consuming the slot
-- hands it to every instance (realtime/db-broadcast.ts), and each delivers it to its
-- subscribers of the topic (private topics: only channels whose join passed the SELECT policies
-- of realtime.messages, as for client broadcasts). The insert runs as the caller, so RLS on
-- realtime.messages decides who may send (service_role and SECURITY DEFINER triggers may);
-- like Supabase's, a refused send is a warning, not an error.
create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql
set search_path = ''
as $$
begin
  begin
    perform pg_catalog.set_config('realtime.topic', topic, true);
    insert into realtime.messages (payload, event, topic, private, extension) values (payload, event, topic, private, 'broadcast');
  exception when others then
    raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
  end;
end
$$;

-- Supabase's trigger helper: `perform realtime.broadcast_changes('room:' || new.room_id, TG_OP,
-- TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, new, old)` in a row trigger.
create or replace function realtime.broadcast_changes(topic_name text, event_name text, operation text, table_name text,
  table_schema text, new record, old record, level text default 'ROW')
returns void
language plpgsql
set search_path = ''
as $$
declare
  row_data jsonb;
begin
  if level = 'STATEMENT' then
    raise exception 'function can only be triggered for each row, not for each statement';
  end if;
  if operation in ('INSERT', 'UPDATE', 'DELETE') then
    row_data := jsonb_build_object('old_record', old, 'record', new, 'operation', operation, 'table', table_name, 'schema', table_schema);
    perform realtime.send(row_data, event_name, topic_name);
  else
    raise exception 'Unexpected operation type: %', operation;
  end if;
end
$$;
grant execute on function realtime.send(jsonb, text, text, boolean), realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  to anon, authenticated, service_role;

create index if not exists messages_inserted_at_idx on realtime.messages (inserted_at);

do $$
begin
  if not exists (select from pg_catalog.pg_publication_tables where pubname = 'nextmavens_realtime' and schemaname = 'realtime' and tablename = 'messages')
     and not (select puballtables from pg_catalog.pg_publication where pubname = 'nextmavens_realtime') then
    alter publication nextmavens_realtime add table realtime.messages;
  end if;
end
$$;
