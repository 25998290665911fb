-- Private realtime channels (`supabase.channel('room', { config: { private: true } })`) are
-- authorized by RLS policies on realtime.messages, as in Supabase Realtime. When a client joins
-- a private channel the realtime service, inside a transaction it always rolls back:
--   * inserts one row per extension ('broadcast', 'presence') for the channel topic as owner,
--     then SELECTs them as the joining user: a row that comes back grants read (receive);
--   * INSERTs a row per extension as the user: success grants write (send / track).
-- realtime.topic() is the channel topic (without the `realtime:` prefix) during those checks.
-- Example: members of a tenant may use the channels named '<tenant id>:…':
--   create policy tenant_channels_read on realtime.messages for select to authenticated
--     using (realtime.topic() like auth.tenant_id()::text || ':%');
--   create policy tenant_channels_write on realtime.messages for insert to authenticated
--     with check (realtime.topic() like auth.tenant_id()::text || ':%' and extension = 'broadcast');
-- Without any policy, nobody but service_role may use a private channel.
create table if not exists realtime.messages (
  id uuid not null default extensions.gen_random_uuid(),
  topic text not null,
  extension text not null check (extension in ('broadcast', 'presence')),
  payload jsonb,
  event text,
  private boolean default false,
  binary_payload bytea,
  updated_at timestamp without time zone not null default now(),
  inserted_at timestamp without time zone not null default now(),
  primary key (id, inserted_at)
);
comment on table realtime.messages is 'RLS policies here authorize private realtime channels (select = receive, insert = send/track); realtime.topic() is the channel topic.';

create or replace function realtime.topic() returns text
language sql stable
set search_path = ''
as $$
  select nullif(current_setting('realtime.topic', true), '')::text
$$;
comment on function realtime.topic() is 'The realtime channel topic being authorized (for policies on realtime.messages).';
grant execute on function realtime.topic() to anon, authenticated, service_role;

alter table realtime.messages enable row level security;
grant select, insert, update, delete on realtime.messages to anon, authenticated, service_role;

-- Which of a batch of changed rows each group of subscribers may SELECT, in one round trip:
-- for each claims object, switch to its role and claims (transaction-local, as a request would)
-- and select the rows' keys through RLS; then switch back. Called by the realtime service on
-- its owner connection only, inside a read-only transaction; a group whose check fails (bad
-- role, failing policy) sees nothing.
create or replace function realtime.visible_keys(entity regclass, key_columns text[], keys json, claims jsonb[])
returns table (claims_index int, key text)
language plpgsql
set search_path = ''
as $$
declare
  check_sql text;
  i int;
  role_name text;
begin
  -- A single-column key is looked up with = any(array) so the primary key index drives the
  -- scan (and RLS policies run only on the changed rows), however large the table.
  check_sql := format(
    case when array_length(key_columns, 1) = 1
      then 'select json_build_array(%s)::text from %s t where %s = any(array(select %s from json_populate_recordset(null::%s, $1) r))'
      else 'select json_build_array(%s)::text from %s t where (%s) in (select %s from json_populate_recordset(null::%s, $1) r)'
    end,
    (select string_agg(format('t.%I::text', c), ', ') from unnest(key_columns) c),
    entity,
    (select string_agg(format('t.%I', c), ', ') from unnest(key_columns) c),
    (select string_agg(format('r.%I', c), ', ') from unnest(key_columns) c),
    entity);
  for i in 1 .. coalesce(array_length(claims, 1), 0) loop
    role_name := coalesce(nullif(claims[i] ->> 'role', ''), 'anon');
    begin
      if not pg_has_role('authenticator', role_name, 'MEMBER') then
        continue;
      end if;
      perform set_config('role', role_name, true);
      perform set_config('request.jwt.claims', (claims[i] || jsonb_build_object('role', role_name))::text, true);
      perform set_config('request.headers', '{}', true);
      return query execute format('select %s, v.k from (%s) v(k)', i, check_sql) using keys;
      perform set_config('role', 'none', true);
    exception when others then
      -- the subtransaction is rolled back, settings included
    end;
  end loop;
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;
revoke all on function realtime.visible_keys(regclass, text[], json, jsonb[]) from public, anon, authenticated, service_role;
