-- Realtime's check of a batch of changes of one table in ONE statement (realtime/change-delivery.ts,
-- db/committed-rows.ts checkCommittedChanges). It used to take seven or more: the suspended-tenant
-- lookup, the visibility wait (one per poll), then BEGIN READ ONLY and two SET LOCALs, the
-- realtime.check_rows call and ROLLBACK. realtime.check_changes does all of it inside the call:
--   1. waits (up to 500 ms, polling every 5 ms) until the transactions `xids` (32-bit, from the
--      WAL's begin messages) are visible to new snapshots: logical decoding can hand over a commit
--      an instant before it is, and policies may read other tables the same transaction wrote;
--      each poll is its own statement inside this volatile function, so it takes a new snapshot;
--   2. names the groups whose tenant (`tenants`, parallel to `claims`: the tenant claim of each
--      group, null for none) is suspended (sql/0026_tenant_rbac.sql): rows (claims_index i,
--      row_index 0, null, null); realtime delivers nothing to them;
--   3. calls realtime.check_rows (sql/0016_realtime_committed_rows.sql) over `rows` and `claims`
--      and returns its rows unchanged.
-- All three run in a block that is rolled back before the function returns (it raises a private
-- SQLSTATE and catches it), with transaction_read_only on and the time zone UTC: whatever the
-- check or a policy sets or writes (role, claims, settings, even session-level ones) is undone,
-- as the ROLLBACK used to undo it. Only the collected results leave the block. The statement's
-- time limit is the connection's (realtime opens its check connections with
-- statement_timeout = 10s: realtime/service.ts).
create or replace function realtime.check_changes(entity regclass, rows jsonb, claims jsonb[], xids bigint[], tenants text[])
returns table (claims_index int, row_index int, record jsonb, key jsonb)
language plpgsql
set search_path = ''
set timezone = 'UTC'
as $$
declare
  deadline timestamptz := pg_catalog.clock_timestamp() + interval '500 milliseconds';
  visible boolean;
  suspended int[];
  indexes int[];
  row_indexes int[];
  records jsonb[];
  keys jsonb[];
begin
  begin
    perform pg_catalog.set_config('transaction_read_only', 'on', true);
    loop
      -- The 32-bit xid widened with the epoch of the current snapshot's xmax.
      with x as (select pg_catalog.pg_current_snapshot() as snap, pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint as xmax),
           c as (select snap, xmax, (xmax operator(pg_catalog.&) ~4294967295::bigint) operator(pg_catalog.|) t.xid as full_xid from x, pg_catalog.unnest(xids) t(xid))
      select coalesce(pg_catalog.bool_and(pg_catalog.pg_visible_in_snapshot((case when full_xid > xmax then full_xid - 4294967296 else full_xid end)::text::pg_catalog.xid8, snap)), true)
        into visible from c;
      exit when visible or pg_catalog.clock_timestamp() > deadline;
      perform pg_catalog.pg_sleep(0.005);
    end loop;
    select pg_catalog.array_agg(t.n) into suspended
      from pg_catalog.unnest(tenants) with ordinality t(id, n)
     where t.id is not null and exists (select from public.tenants s where s.id = t.id::uuid and s.status = 'suspended');
    select pg_catalog.array_agg(r.claims_index), pg_catalog.array_agg(r.row_index), pg_catalog.array_agg(r.record), pg_catalog.array_agg(r.key)
      into indexes, row_indexes, records, keys
      from realtime.check_rows(entity, rows, claims, 'wal') r;
    raise sqlstate 'NMRB0'; -- undo everything above; the results are in the variables
  exception when sqlstate 'NMRB0' then
    null;
  end;
  return query select s.n, 0, null::jsonb, null::jsonb from pg_catalog.unnest(suspended) s(n);
  return query select * from unnest(indexes, row_indexes, records, keys); -- (the multi-array form: FROM only, unqualified)
end
$$;
revoke all on function realtime.check_changes(regclass, jsonb, jsonb[], bigint[], text[]) from public, anon, authenticated, service_role;
