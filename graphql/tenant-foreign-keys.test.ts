/**
 * The README's tenant-safe foreign key: a composite key (tenant_id, project_id) → projects
 * (tenant_id, id), so a row can only point at a row of its own tenant (a foreign key check does
 * not go through RLS, a single-column key would accept another tenant's id), with smart tags that
 * keep the GraphQL relation names readable (`project`, `tasks`).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const A = '00000000-0000-4000-8000-0000000000f1';
const B = '00000000-0000-4000-8000-0000000000f2';
let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({
    sql: `
      insert into public.tenants (id, name) values ('${A}', 'A'), ('${B}', 'B');
      create table public.projects (
        id bigint generated always as identity primary key,
        tenant_id uuid not null default auth.tenant_id() references public.tenants (id),
        name text not null,
        unique (tenant_id, id));
      create table public.tasks (
        id bigint generated always as identity primary key,
        tenant_id uuid not null default auth.tenant_id() references public.tenants (id),
        project_id bigint not null,
        title text not null,
        constraint tasks_project_fk foreign key (tenant_id, project_id) references public.projects (tenant_id, id));
      comment on constraint tasks_project_fk on public.tasks is E'@fieldName project\\n@foreignFieldName tasks';
      select public.enable_tenant_isolation('public.projects');
      select public.enable_tenant_isolation('public.tasks');
      insert into public.projects (tenant_id, name) values ('${A}', 'a-project'), ('${B}', 'b-project');
    `,
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

async function gql(tenant: string, query: string, variables: Record<string, unknown> = {}) {
  const token = await testToken({ role: 'authenticated', sub: '22222222-2222-4222-8222-222222222222', tenant_id: tenant });
  const res = await fetch(`${t.stack.url}/graphql/v1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', apikey: t.db.config.anonKey, authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: any; errors?: { message: string }[] };
}

it("a task can point at its own tenant's project only; the relations read project / tasks", async () => {
  const ids = (await t.db.admin.query<{ id: string; tenant_id: string }>('select id, tenant_id from public.projects')).rows;
  const own = ids.find((r) => r.tenant_id === A)!.id;
  const other = ids.find((r) => r.tenant_id === B)!.id;
  const create = 'mutation($p: BigInt!, $title: String!) { createTask(input: { task: { projectId: $p, title: $title } }) { task { title project { name } } } }';
  const ok = await gql(A, create, { p: own, title: 'ship it' });
  expect(ok.errors).toBeUndefined();
  expect(ok.data.createTask.task).toEqual({ title: 'ship it', project: { name: 'a-project' } });
  const sneaky = await gql(A, create, { p: other, title: 'into B' });
  expect(sneaky.errors?.[0].message).toMatch(/violates foreign key constraint "tasks_project_fk"/);
  const tree = await gql(A, '{ projects { nodes { name tasks { nodes { title } } } } }');
  expect(tree.data.projects.nodes).toEqual([{ name: 'a-project', tasks: { nodes: [{ title: 'ship it' }] } }]);
  const token = await testToken({ role: 'authenticated', sub: '22222222-2222-4222-8222-222222222222', tenant_id: A });
  const rest = await fetch(`${t.stack.url}/rest/v1/tasks?select=title,projects(name)`, { headers: { apikey: t.db.config.anonKey, authorization: `Bearer ${token}` } });
  expect(await rest.json()).toEqual([{ title: 'ship it', projects: { name: 'a-project' } }]);
});
