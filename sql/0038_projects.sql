-- Many projects in one stack (projects/, README "Many projects"): the registry of the projects
-- this stack serves beside its default one. It lives in the default database; every project's
-- own database is a copy of the migrated template (projects/template.ts), so each project's
-- database holds this table too, empty and unused.
--
-- A project names its Postgres server by name (`server`: 'default' is the stack's own, others
-- come from PROJECT_SERVERS), never by URL, so no password is stored here. Its JWT secret is
-- encrypted (AES-256-GCM, projects/secrets.ts) and the table is the owner's alone: no API role
-- (anon, authenticated, service_role) and no service login may read it.
create table nextmavens.projects (
  ref text primary key check (ref ~ '^[a-z][a-z0-9-]{1,28}[a-z0-9]$' and ref !~ '--'),
  db_name text not null unique,
  server text not null default 'default' check (server ~ '^[a-z][a-z0-9_-]{0,39}$'),
  status text not null default 'active' check (status in ('active', 'paused')),
  jwt_secret_enc text not null,
  -- Per-project settings (e.g. {"site_url": "...", "autoconfirm": true}) and limits
  -- ({"db_bytes": …, "storage_bytes": …, "connections": …, "rate_limits": {"rest": …}}).
  settings jsonb not null default '{}' check (jsonb_typeof(settings) = 'object'),
  limits jsonb not null default '{}' check (jsonb_typeof(limits) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

revoke all on nextmavens.projects from public, anon, authenticated, service_role;

-- Every change is announced, so each stack instance serving projects drops what it cached of
-- that project (a pause or delete takes effect at once on every instance, projects/router.ts).
create function nextmavens.projects_notify() returns trigger
language plpgsql as $$
begin
  perform pg_notify('nextmavens_projects', coalesce(new.ref, old.ref));
  return null;
end $$;
revoke all on function nextmavens.projects_notify() from public;

create trigger projects_notify after insert or update or delete on nextmavens.projects
  for each row execute function nextmavens.projects_notify();
