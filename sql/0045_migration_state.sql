-- What the last complete migration run (db/project-migrations.ts migrateAll: the stack's migrations,
-- graphile-worker's schema and the service roles' grants on it, then the project's migrations)
-- left this database at: a fingerprint of the shipped set it applied. A start whose shipped set
-- has the same fingerprint, and whose records still hold every shipped migration, skips the run
-- (one query instead of four connections and every grant again). Written last, after the run
-- succeeded, so a run cut short (a killed start) leaves the old fingerprint and the next start
-- runs everything again. The owner's alone.
create table nextmavens.migration_state (
  id boolean primary key default true check (id),
  fingerprint text not null,
  updated_at timestamptz not null default now()
);
revoke all on nextmavens.migration_state from public;
