-- The stack's own helpers in exposed schemas are for migrations (run as the owner), not part of
-- any API: no API role may execute them, so GraphQL (PostGraphile's RBAC behaviours) and
-- `gen types` (functions an API role can execute) leave them out. 0004's default privileges had
-- granted service_role EXECUTE on public.enable_tenant_isolation.
revoke all on function public.enable_tenant_isolation(regclass) from service_role;
