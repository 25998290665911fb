/**
 * PostGraphile is built on the first GraphQL request, not at start (graphql/service.ts): until
 * then /health reports graphql up with the schema "not loaded yet"; a schema that cannot be built
 * (here two tables that a smart tag gives one name — PostGraphile refuses two resources of one
 * name) answers 503 SCHEMA_UNAVAILABLE in the GraphQL shape without the reason, reports graphql
 * down with it, and the next request builds again once the DDL is fixed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({
    sql: `
      create table public.alpha (id int primary key);
      create table public.beta (id int primary key);
      comment on table public.alpha is E'@name beta';
      grant select on public.alpha, public.beta to anon;
    `,
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const graphqlHealth = async () => {
  const res = await fetch(`${t.stack.url}/health`);
  return { status: res.status, graphql: ((await res.json()) as { services: Record<string, { status: string; error?: string; detail?: unknown }> }).services.graphql };
};
const query = () =>
  fetch(`${t.stack.url}/graphql/v1`, { method: 'POST', headers: { 'content-type': 'application/json', apikey: t.db.config.anonKey }, body: JSON.stringify({ query: '{ __typename }' }) });

it('health says "not loaded yet" until the first request; a failed build is a clear 503 and down; the next request after the fix builds', async () => {
  expect(await graphqlHealth()).toMatchObject({ status: 200, graphql: { status: 'up', detail: { schema: expect.stringMatching(/^not loaded yet/) } } });

  const failed = await query();
  expect(failed.status).toBe(503);
  const body = (await failed.json()) as { errors: { message: string; extensions: { code: string } }[] };
  expect(body.errors).toEqual([{ message: 'The GraphQL schema could not be built: see the server log', extensions: { code: 'SCHEMA_UNAVAILABLE' } }]);
  const down = await graphqlHealth();
  expect(down.status).toBe(503);
  expect(down.graphql.status).toBe('down');
  expect(down.graphql.error).toMatch(/^the GraphQL schema could not be built: .*beta/);

  await t.db.admin.query('comment on table public.alpha is null');
  const ok = await query();
  expect(await ok.json()).toEqual({ data: { __typename: 'Query' } });
  expect(await graphqlHealth()).toMatchObject({ status: 200, graphql: { status: 'up' } });
  expect((await graphqlHealth()).graphql.detail).toBeUndefined();
});
