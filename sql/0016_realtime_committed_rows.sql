-- Realtime checks RLS over the row AS COMMITTED, not over whatever the table holds when the
-- check runs (docs/realtime-changes.md). Supabase Realtime (walrus) re-reads each changed row
-- by its key, so an INSERT whose row a later transaction updated or deleted before the check is
-- dropped or judged on the wrong values; we evaluate the table's own SELECT policies over the
-- values the WAL carries instead.
--
-- realtime.check_rows(entity, rows, claims, row_format) takes changed rows of one table as a JSON
-- array and the claims of each group of subscribers. Rows are, by row_format:
--   'wal'    objects {column: text value as the WAL carries it (Postgres's text form) | null};
--   'record' JSON strings holding the row's composite literal (`new::text` in a trigger: the
--            GraphQL subscription trigger, sql/0017_graphql_committed_rows.sql).
-- It returns:
--   * claims_index 0, one per row: the row rendered as Postgres renders it (to_jsonb of the
--     typed row, only the columns given), and `key`, the row's primary key (else replica
--     identity index) columns alone; `key` is null when the table has neither.
--   * claims_index i (1-based, one per group), one per row that group may SELECT: the group's
--     role and claims are set transaction-locally (as a request sets them) and the table's
--     policies are applied to the typed row exactly as Postgres applies them to a scan: no
--     RLS for superusers, BYPASSRLS roles, the owner (unless FORCE) or a table without RLS;
--     otherwise the OR of the permissive SELECT/ALL policies for the role (none: no rows) and
--     the AND of the restrictive ones (pg's rowsecurity.c add_security_quals). The role must
--     also hold SELECT on the table. Policy expressions come from pg_get_expr under an empty
--     search_path (every name qualified) and are evaluated under the database's search_path,
--     the row aliased with the table's own name so unqualified and table-qualified column
--     references and whole-row references in policies resolve to it.
-- Columns the WAL does not carry (stored generated columns in Postgres < 18, unchanged TOASTed
-- values) are null in the checked row. Called by the realtime service on its owner connection
-- inside a read-only transaction; a group whose check fails (bad role, failing policy) sees
-- nothing.
create or replace function realtime.check_rows(entity regclass, rows jsonb, claims jsonb[], row_format text default 'wal')
returns table (claims_index int, row_index int, record jsonb, key jsonb)
language plpgsql
set search_path = ''
as $$
declare
  rel record;
  key_columns text[];
  json_columns text[];
  typed_rows jsonb;
  from_sql text;
  database_path text;
  i int;
  role_name text;
  exempt boolean;
  permissive text;
  restrictive text;
  predicates jsonb := '{}';
  predicate text;
begin
  select c.relname, c.relrowsecurity, c.relforcerowsecurity, c.relowner into rel from pg_catalog.pg_class c where c.oid = entity;
  select array_agg(a.attname order by k.n) into key_columns
    from (select i.indkey, i.indisprimary from pg_catalog.pg_index i
           where i.indrelid = entity and (i.indisprimary or i.indisreplident)
           order by i.indisprimary desc limit 1) ix
    cross join lateral unnest(ix.indkey::int2[]) with ordinality k(attnum, n)
    join pg_catalog.pg_attribute a on a.attrelid = entity and a.attnum = k.attnum;
  -- json/jsonb columns (and domains over them): the WAL's text is the JSON document itself.
  select array_agg(a.attname) into json_columns
    from pg_catalog.pg_attribute a join pg_catalog.pg_type t on t.oid = a.atttypid
   where a.attrelid = entity and a.attnum > 0 and not a.attisdropped
     and (case when t.typtype = 'd' then t.typbasetype else t.oid end) in ('json'::regtype, 'jsonb'::regtype);
  typed_rows := rows;
  if row_format = 'record' then
    -- The composite literal, typed by the table's own input function, then as JSON.
    execute format('select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb((r.v operator(pg_catalog.#>>) ''{}'')::%s) order by r.n), ''[]'') from pg_catalog.jsonb_array_elements($1) with ordinality r(v, n)', entity)
      into typed_rows using rows;
  elsif row_format <> 'wal' then
    raise exception 'row_format must be wal or record' using errcode = '22023';
  elsif json_columns is not null then
    select coalesce(pg_catalog.jsonb_agg(
             (select coalesce(pg_catalog.jsonb_object_agg(e.key,
                case when e.key = any(json_columns) and pg_catalog.jsonb_typeof(e.value) = 'string' then (e.value operator(pg_catalog.#>>) '{}')::jsonb else e.value end), '{}')
                from pg_catalog.jsonb_each(r.v) e)
             order by r.n), '[]')
      into typed_rows
      from pg_catalog.jsonb_array_elements(rows) with ordinality r(v, n);
  end if;
  from_sql := format(
    'from pg_catalog.jsonb_array_elements($1) with ordinality as __nm_rows(__nm_row, __nm_ord) cross join lateral pg_catalog.jsonb_populate_record(null::%s, __nm_rows.__nm_row) as %I',
    entity, rel.relname);

  return query execute format(
    'select 0, __nm_ord::int, '
    '(select coalesce(pg_catalog.jsonb_object_agg(e.key, e.value), ''{}'') from pg_catalog.jsonb_each(pg_catalog.to_jsonb(%1$I)) e where __nm_row operator(pg_catalog.?) e.key), '
    '(select pg_catalog.jsonb_object_agg(e.key, e.value) from pg_catalog.jsonb_each(pg_catalog.to_jsonb(%1$I)) e where e.key = any($2)) %2$s',
    rel.relname, from_sql) using typed_rows, key_columns;

  database_path := (select s.reset_val from pg_catalog.pg_settings s where s.name = 'search_path');
  for i in 1 .. coalesce(array_length(claims, 1), 0) loop
    role_name := coalesce(nullif(claims[i] ->> 'role', ''), 'anon');
    begin
      -- The row filter of a role is built once per call (groups are many, roles few); null: the
      -- role may not read the table at all.
      if not predicates ? role_name then
        predicate := null;
        if pg_catalog.pg_has_role('authenticator', role_name, 'MEMBER') and pg_catalog.has_table_privilege(role_name, entity, 'SELECT') then
          select r.rolsuper or r.rolbypassrls or not rel.relrowsecurity
                 or (pg_catalog.pg_has_role(role_name, rel.relowner, 'USAGE') and not rel.relforcerowsecurity)
            into exempt from pg_catalog.pg_roles r where r.rolname = role_name;
          if exempt then
            predicate := 'true';
          else
            select string_agg('(' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')', ' or ') filter (where p.polpermissive),
                   string_agg('(' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')', ' and ') filter (where not p.polpermissive)
              into permissive, restrictive
              from pg_catalog.pg_policy p
             where p.polrelid = entity and p.polcmd in ('r', '*') and p.polqual is not null
               and ('0'::oid = any(p.polroles) or exists (select from unnest(p.polroles) pr(oid) where pg_catalog.pg_has_role(role_name, pr.oid, 'USAGE')));
            predicate := '(' || coalesce(permissive, 'false') || ')' || coalesce(' and ' || restrictive, '');
          end if;
        end if;
        predicates := predicates || jsonb_build_object(role_name, predicate);
      end if;
      predicate := predicates ->> role_name;
      if predicate is null then
        continue;
      end if;
      perform pg_catalog.set_config('role', role_name, true);
      perform pg_catalog.set_config('request.jwt.claims', (claims[i] || jsonb_build_object('role', role_name))::text, true);
      perform pg_catalog.set_config('request.headers', '{}', true);
      perform pg_catalog.set_config('search_path', database_path, true);
      return query execute format('select %s, __nm_ord::int, null::jsonb, null::jsonb %s where %s', i, from_sql, predicate) using typed_rows;
      perform pg_catalog.set_config('role', 'none', true);
      perform pg_catalog.set_config('search_path', '', true);
    exception when others then
      -- the subtransaction is rolled back, settings included (a role that does not exist, a failing policy)
    end;
  end loop;
  perform pg_catalog.set_config('role', 'none', true);
  perform pg_catalog.set_config('request.jwt.claims', '', true);
end
$$;
revoke all on function realtime.check_rows(regclass, jsonb, jsonb[], text) from public, anon, authenticated, service_role;

-- Replaced by check_rows (it re-read the table by key, see above).
drop function if exists realtime.visible_keys(regclass, text[], json, jsonb[]);
