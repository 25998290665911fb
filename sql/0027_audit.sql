-- The tamper-evident audit log (docs/audit.md): one append-only, hash-chained table of entries.
--
--   audit.entries   id (1, 2, 3, … in chain order), at, tenant_id, actor_id, actor_role, action,
--                   target, detail, ip, prev_hash, hash = sha256 over prev_hash and the entry
--   audit.anchor    after retention removed a prefix: the id and hash of the last removed entry
--
-- Every writer goes through audit.append(), which takes a transaction-level advisory lock before
-- it reads the chain's head: appends chain in commit order, the lock is held until the writing
-- transaction ends, and a rolled-back append leaves no gap (the next writer reuses its id).
-- Entries come from auth's audit_log_entries (a trigger below), DDL (event triggers),
-- storage.buckets and the tenancy tables (audit.capture()) and audit.record() for anything else.
create schema if not exists audit;
comment on schema audit is 'The tamper-evident audit log: append-only, hash-chained (docs/audit.md).';
revoke all on schema audit from public;
grant usage on schema audit to anon, authenticated, service_role;

create table if not exists audit.entries (
  id bigint primary key,
  at timestamptz not null,
  tenant_id uuid,
  actor_id text,
  actor_role text,
  action text not null,
  target text,
  detail jsonb not null default '{}',
  ip text,
  prev_hash text not null,
  hash text not null
);
create index if not exists entries_tenant_idx on audit.entries (tenant_id, id);
create index if not exists entries_at_idx on audit.entries (at);
comment on table audit.entries is 'The audit log: one hash-chained entry per audited event, in commit order (docs/audit.md). Append-only.';

create table if not exists audit.anchor (
  singleton boolean primary key default true check (singleton),
  last_id bigint not null,
  last_hash text not null,
  last_at timestamptz not null,
  pruned_at timestamptz not null default now()
);
comment on table audit.anchor is 'Where the chain starts after retention: the id and hash of the last removed entry.';

-- The entry's canonical encoding (version 1; docs/audit.md): every field in this order as
-- `<UTF-8 byte length>:<text>,`, a NULL as `-,`.
create or replace function audit.field(v text) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select coalesce(octet_length(v)::text || ':' || v || ',', '-,')
$$;

create or replace function audit.canonical(e audit.entries) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select audit.field(e.id::text)
    || audit.field(to_char(e.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    || audit.field(e.tenant_id::text)
    || audit.field(e.actor_id)
    || audit.field(e.actor_role)
    || audit.field(e.action)
    || audit.field(e.target)
    || audit.field(e.detail::text)
    || audit.field(e.ip)
$$;

-- hash = lowercase hex sha256 of the UTF-8 bytes of 'nextmavens-audit-v1' \n prev_hash \n canonical
create or replace function audit.hash_of(e audit.entries) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select encode(sha256(convert_to('nextmavens-audit-v1' || chr(10) || e.prev_hash || chr(10) || audit.canonical(e), 'UTF8')), 'hex')
$$;

-- Who is acting: the role the session switched to (SET ROLE, as every API request does), else
-- the login. A security-definer function sees its owner as current_user; the `role` setting
-- still names the caller's role.
create or replace function audit.invoker_role() returns text
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(auth.jwt() ->> 'role', ''), nullif(nullif(current_setting('role', true), ''), 'none'), session_user::text)
$$;

-- The acting user: the request's `sub`, else the tenant admin API's transaction-local
-- nextmavens.actor_id (auth/store/tenants.ts recordActor; it runs without claims).
create or replace function audit.actor_id() returns text
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(auth.jwt() ->> 'sub', ''), nullif(current_setting('nextmavens.actor_id', true), ''))
$$;

-- How the actor is entitled: the tenant admin API's nextmavens.actor_via (service_role,
-- super_admin, the member's role), else the role of the request or session.
create or replace function audit.actor_role() returns text
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(current_setting('nextmavens.actor_via', true), ''), audit.invoker_role())
$$;

-- {"super_admin_foreign": true} when a platform super-admin acts in a tenant they are no member
-- of (the tenant admin API's setting, or a request whose claims say is_super_admin), else {}.
create or replace function audit.actor_flags() returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
begin
  -- Only a super-admin's claims cost the membership lookup (and only a uuid `sub` is looked up).
  if current_setting('nextmavens.super_admin_foreign', true) = 'true' then
    return '{"super_admin_foreign": true}';
  end if;
  if (auth.jwt() ->> 'is_super_admin') = 'true' and audit.uuid_or_null(auth.jwt() ->> 'sub') is not null then
    if auth.acting_as_super_admin() then
      return '{"super_admin_foreign": true}';
    end if;
  end if;
  return '{}';
end
$$;

-- A uuid from text, or NULL when it is not one (a claim or payload value never breaks a write).
create or replace function audit.uuid_or_null(v text) returns uuid
language sql immutable parallel safe
set search_path = ''
as $$
  select case when v ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then v::uuid end
$$;

-- The one writer. The advisory lock (held to the end of the transaction) orders appends: the head
-- read after it is the last committed entry (READ COMMITTED takes a fresh snapshot per statement).
-- Under REPEATABLE READ/SERIALIZABLE a head committed after the snapshot is invisible; the primary
-- key then refuses the duplicate id, so the chain never forks (the transaction fails instead).
create or replace function audit.append(
  p_action text,
  p_target text default null,
  p_detail jsonb default '{}',
  p_tenant_id uuid default null,
  p_actor_id text default null,
  p_actor_role text default null,
  p_ip text default null
) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  e audit.entries;
  head_id bigint;
  head_hash text;
begin
  if p_action is null or p_action = '' then
    raise exception 'audit.append: action is required' using errcode = '22023';
  end if;
  perform pg_advisory_xact_lock(7270614027);
  select id, hash into head_id, head_hash from audit.entries order by id desc limit 1;
  if head_id is null then
    select last_id, last_hash into head_id, head_hash from audit.anchor;
  end if;
  e.id := coalesce(head_id, 0) + 1;
  e.prev_hash := coalesce(head_hash, repeat('0', 64));
  e.at := clock_timestamp();
  e.tenant_id := p_tenant_id;
  e.actor_id := p_actor_id;
  e.actor_role := p_actor_role;
  e.action := p_action;
  e.target := p_target;
  e.detail := coalesce(p_detail, '{}');
  e.ip := p_ip;
  e.hash := audit.hash_of(e);
  insert into audit.entries select e.*;
  return e.id;
end
$$;

-- For application code and triggers: an entry whose actor and tenant come from the request's JWT
-- (request.jwt.claims: sub, role, tenant_id) when there is one.
create or replace function audit.record(action text, target text default null, detail jsonb default '{}') returns bigint
language sql
security definer
set search_path = ''
as $$
  select audit.append(action, target, coalesce(detail, '{}') || audit.actor_flags(), audit.uuid_or_null(auth.jwt() ->> 'tenant_id'),
    audit.actor_id(), audit.actor_role(), null)
$$;
comment on function audit.record(text, text, jsonb) is
  'Appends an audit entry; actor, role and tenant come from request.jwt.claims when present.';

-- Row changes of any table: `create trigger … after insert or update or delete on t for each row
-- execute function audit.capture()`. Action `<schema>.<table>.<insert|update|delete>`, target the
-- primary key (its value, or a JSON object of a composite key), detail {"new": row} / {"old": row}
-- / for an update only the changed columns {"old": {...}, "new": {...}}. Arguments:
-- 'tenant=<column>' (default tenant_id; else the caller's tenant claim) and 'exclude=<column>' (e.g.
-- secrets), each repeatable.
create or replace function audit.capture() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  o jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
  n jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
  r jsonb := coalesce(n, o);
  tenant_col text := 'tenant_id';
  arg text;
  k text;
  pk jsonb;
  detail jsonb;
begin
  foreach arg in array coalesce(tg_argv, '{}') loop
    if arg like 'tenant=%' then tenant_col := substr(arg, 8);
    elsif arg like 'exclude=%' then o := o - substr(arg, 9); n := n - substr(arg, 9);
    end if;
  end loop;
  select jsonb_object_agg(a.attname, r -> a.attname) into pk
  from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
  where i.indrelid = tg_relid and i.indisprimary;
  if tg_op = 'UPDATE' then
    detail := jsonb_build_object('old', '{}'::jsonb, 'new', '{}'::jsonb);
    for k in select jsonb_object_keys(n) loop
      if (o -> k) is distinct from (n -> k) then
        detail := jsonb_set(jsonb_set(detail, array['old', k], coalesce(o -> k, 'null')), array['new', k], n -> k);
      end if;
    end loop;
    if detail = '{"old": {}, "new": {}}'::jsonb then return null; end if;
  elsif tg_op = 'INSERT' then detail := jsonb_build_object('new', n);
  else detail := jsonb_build_object('old', o);
  end if;
  perform audit.append(
    tg_table_schema || '.' || tg_table_name || '.' || lower(tg_op),
    case when pk is null then null when (select count(*) from jsonb_object_keys(pk)) = 1 then (select v #>> '{}' from jsonb_each(pk) as x(key, v)) else pk::text end,
    detail || audit.actor_flags(),
    coalesce(audit.uuid_or_null(r ->> tenant_col), audit.uuid_or_null(auth.jwt() ->> 'tenant_id')),
    audit.actor_id(),
    audit.actor_role(),
    null);
  return null;
end
$$;
comment on function audit.capture() is
  'Row trigger: appends <schema>.<table>.<op> entries (args: tenant=<column>, exclude=<column>).';

-- Auth's events (auth.audit_log_entries, GoTrue's table, written in the event's own transaction)
-- go into the chain as `auth.<action>`; the tenant is the payload's tenant_id, else the user's.
-- Like the bucket trigger below, a deferred constraint trigger: the append (and so the chain's
-- lock) comes at commit, never before row locks the transaction takes later.
create or replace function audit.from_auth_log() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  p jsonb := new.payload;
  subject text := coalesce(p ->> 'user_id', p ->> 'actor_id');
  tenant uuid;
begin
  tenant := audit.uuid_or_null(p ->> 'tenant_id');
  if tenant is null and audit.uuid_or_null(subject) is not null then
    select u.tenant_id into tenant from auth.users u where u.id = subject::uuid;
  end if;
  perform audit.append(
    'auth.' || coalesce(p ->> 'action', 'unknown'),
    subject,
    p - 'action',
    tenant,
    p ->> 'actor_id',
    coalesce(p ->> 'actor_role', case when p ? 'actor_id' then 'authenticated' else 'anon' end),
    new.ip_address);
  return null;
end
$$;
drop trigger if exists audit_chain on auth.audit_log_entries;
create constraint trigger audit_chain after insert on auth.audit_log_entries
  deferrable initially deferred
  for each row execute function audit.from_auth_log();

drop trigger if exists audit_capture on storage.buckets;
create constraint trigger audit_capture after insert or update or delete on storage.buckets
  deferrable initially deferred
  for each row execute function audit.capture();

-- Tenancy (sql/0026): tenants, memberships, roles and invitations, whoever changes them (the
-- tenant admin API records its actor in nextmavens.actor_*). An invitation's token hash is left out.
drop trigger if exists audit_capture on public.tenants;
create constraint trigger audit_capture after insert or update or delete on public.tenants
  deferrable initially deferred
  for each row execute function audit.capture('tenant=id');
drop trigger if exists audit_capture on auth.tenant_members;
create constraint trigger audit_capture after insert or update or delete on auth.tenant_members
  deferrable initially deferred
  for each row execute function audit.capture();
drop trigger if exists audit_capture on auth.tenant_roles;
create constraint trigger audit_capture after insert or update or delete on auth.tenant_roles
  deferrable initially deferred
  for each row execute function audit.capture();
drop trigger if exists audit_capture on auth.tenant_invitations;
create constraint trigger audit_capture after insert or update or delete on auth.tenant_invitations
  deferrable initially deferred
  for each row execute function audit.capture('exclude=token_hash');

-- DDL: one entry per command (`ddl.<command tag>`, target the object's identity) and per dropped
-- object (`ddl.drop`). Temporary objects are left out.
create or replace function audit.ddl_end() returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  c record;
begin
  for c in select * from pg_event_trigger_ddl_commands() loop
    continue when c.in_extension or c.schema_name like 'pg_temp%' or c.schema_name like 'pg_toast_temp%';
    perform audit.append('ddl.' || lower(replace(c.command_tag, ' ', '_')), c.object_identity,
      jsonb_build_object('command_tag', c.command_tag, 'object_type', c.object_type, 'schema', c.schema_name, 'in_extension', c.in_extension),
      audit.uuid_or_null(auth.jwt() ->> 'tenant_id'), nullif(auth.jwt() ->> 'sub', ''), audit.invoker_role(), null);
  end loop;
end
$$;

create or replace function audit.ddl_drop() returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  d record;
begin
  for d in select * from pg_event_trigger_dropped_objects() loop
    continue when d.is_temporary or not d.original;
    perform audit.append('ddl.drop', d.object_identity,
      jsonb_build_object('command_tag', tg_tag, 'object_type', d.object_type, 'schema', d.schema_name),
      audit.uuid_or_null(auth.jwt() ->> 'tenant_id'), nullif(auth.jwt() ->> 'sub', ''), audit.invoker_role(), null);
  end loop;
end
$$;

drop event trigger if exists audit_ddl_end;
create event trigger audit_ddl_end on ddl_command_end execute function audit.ddl_end();
drop event trigger if exists audit_ddl_drop;
create event trigger audit_ddl_drop on sql_drop execute function audit.ddl_drop();

-- Append-only: no role may change or remove an entry; only audit.prune() removes a prefix (it
-- sets audit.pruning for its own transaction).
create or replace function audit.refuse_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_setting('audit.pruning', true) = 'on' and (tg_op = 'DELETE' or tg_table_name = 'anchor') then
    return case when tg_op = 'DELETE' then old else new end;
  end if;
  raise exception 'the audit log is append-only: % on %.% is not allowed', tg_op, tg_table_schema, tg_table_name
    using errcode = '42501';
end
$$;
drop trigger if exists append_only on audit.entries;
create trigger append_only before update or delete on audit.entries
  for each row execute function audit.refuse_change();
drop trigger if exists append_only_truncate on audit.entries;
create trigger append_only_truncate before truncate on audit.entries
  for each statement execute function audit.refuse_change();
drop trigger if exists append_only on audit.anchor;
create trigger append_only before update or delete on audit.anchor
  for each row execute function audit.refuse_change();
drop trigger if exists append_only_truncate on audit.anchor;
create trigger append_only_truncate before truncate on audit.anchor
  for each statement execute function audit.refuse_change();

-- Retention: removes the entries up to `through_id` (a prefix of the chain) and moves the anchor
-- to the last of them. Returns how many were removed. Callers export the prefix first.
create or replace function audit.prune(through_id bigint) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  last audit.entries;
  removed bigint;
begin
  perform pg_advisory_xact_lock(7270614027);
  select * into last from audit.entries where id = through_id;
  if last.id is null then
    raise exception 'audit.prune: no entry %', through_id using errcode = '22023';
  end if;
  perform set_config('audit.pruning', 'on', true);
  delete from audit.entries where id <= through_id;
  get diagnostics removed = row_count;
  insert into audit.anchor (singleton, last_id, last_hash, last_at, pruned_at)
  values (true, last.id, last.hash, last.at, now())
  on conflict (singleton) do update set last_id = excluded.last_id, last_hash = excluded.last_hash,
    last_at = excluded.last_at, pruned_at = excluded.pruned_at;
  perform set_config('audit.pruning', 'off', true);
  return removed;
end
$$;

-- Privileges: nobody but the owner writes; a tenant owner reads their tenant's entries (RLS);
-- service_role (BYPASSRLS) reads all.
revoke all on all tables in schema audit from public, anon, authenticated, service_role;
revoke all on all functions in schema audit from public, anon, authenticated, service_role;
grant select on audit.entries to authenticated, service_role;
grant select on audit.anchor to service_role;
grant execute on function audit.record(text, text, jsonb) to service_role;

alter table audit.entries enable row level security;
alter table audit.anchor enable row level security;
drop policy if exists tenant_owner_reads on audit.entries;
create policy tenant_owner_reads on audit.entries for select to authenticated
  using ((auth.jwt() ->> 'tenant_role') = 'owner' and tenant_id = auth.tenant_id());
