-- Realtime database changes: tables opt in by joining this publication (Supabase's
-- `supabase_realtime`), e.g. `alter publication nextmavens_realtime add table public.todos;`.
-- The realtime service streams it from the logical replication slot POSTGRESQL_REPLICATION_SLOT,
-- and delivers each row only to subscribers whose own role and claims may SELECT it.
do $$
begin
  if not exists (select from pg_publication where pubname = 'nextmavens_realtime') then
    create publication nextmavens_realtime;
  end if;
end
$$;
