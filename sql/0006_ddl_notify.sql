-- Tell the APIs when the schema changed, so they reload their schema caches without a restart:
-- after every DDL command, NOTIFY nextmavens_ddl (our services) and pgrst 'reload schema' (a real
-- PostgREST in compose). Never lets a notification failure break the DDL itself.
create schema if not exists nextmavens;

create or replace function nextmavens.notify_ddl() returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_notify('nextmavens_ddl', tg_tag);
  perform pg_notify('pgrst', 'reload schema');
exception when others then
  raise warning 'nextmavens.notify_ddl: %', sqlerrm;
end
$$;

drop event trigger if exists nextmavens_ddl_end;
create event trigger nextmavens_ddl_end on ddl_command_end execute function nextmavens.notify_ddl();
drop event trigger if exists nextmavens_ddl_drop;
create event trigger nextmavens_ddl_drop on sql_drop execute function nextmavens.notify_ddl();
