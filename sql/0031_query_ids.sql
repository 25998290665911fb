-- Query identifiers for request traffic, as Supabase's Postgres has them (its pg_stat_statements
-- turns compute_query_id's `auto` on): EXPLAIN (VERBOSE) shows "Query Identifier" (postgrest-js's
-- explain({ verbose: true })), and pg_stat_activity.query_id is filled. Set on the role requests
-- log in as (a setting of the database would not follow it into clones of the database). A
-- superuser-only setting: skipped, with a notice, when the migrations run as a non-superuser owner.
do $$
begin
  alter role authenticator set compute_query_id = on;
exception when insufficient_privilege then
  raise notice 'compute_query_id left as it is (needs a superuser): EXPLAIN VERBOSE will not show query identifiers';
end
$$;
