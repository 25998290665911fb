/**
 * The stack's own helpers in the exposed schema (public.enable_tenant_isolation, for migrations)
 * and functions no API role may execute are not part of the GraphQL API, for any caller; a
 * function granted to an API role is.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({
    sql: `
      create function public.shout(t text) returns text language sql volatile as $$ select upper(t) $$;
      create function public.internal_reset() returns void language sql volatile as $$ select $$;
      revoke all on function public.internal_reset() from public, anon, authenticated, service_role;
    `,
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

it('GraphQL lists shout, never enableTenantIsolation or internalReset, even for the service role', async () => {
  for (const key of [t.db.config.anonKey, t.db.config.serviceRoleKey]) {
    const res = await fetch(`${t.stack.url}/graphql/v1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: key, authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ __schema { mutationType { fields { name } } } }' }),
    });
    const body = (await res.json()) as { data: { __schema: { mutationType: { fields: { name: string }[] } } } };
    const names = body.data.__schema.mutationType.fields.map((f) => f.name);
    expect(names).toContain('shout');
    expect(names).not.toContain('enableTenantIsolation');
    expect(names).not.toContain('internalReset');
  }
});
