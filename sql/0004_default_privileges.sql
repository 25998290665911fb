-- Default privileges on `public`, as Supabase sets them: the API roles may use what the owner
-- creates, and Row Level Security decides which rows they see. Enable RLS on every table that
-- holds user data (see public.enable_tenant_isolation for the multi-tenant template).
grant all on all tables in schema public to anon, authenticated, service_role;
grant all on all sequences in schema public to anon, authenticated, service_role;
grant all on all routines in schema public to anon, authenticated, service_role;

alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on routines to anon, authenticated, service_role;

-- Functions in extensions (gen_random_uuid, crypt, ...) are callable by every API role.
grant all on all routines in schema extensions to anon, authenticated, service_role;
alter default privileges in schema extensions grant all on routines to anon, authenticated, service_role;
