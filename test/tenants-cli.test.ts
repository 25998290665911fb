/**
 * Tenant onboarding as the README tells it, with the CLI against a running stack: `tenants
 * create` prints an id and a tenant anon key; an app configured with that key signs users up into
 * the tenant (their tokens carry tenant_id), rows stay within their tenant, `tenants suspend`
 * refuses the tenant's users and key until `tenants resume`, and `tenants list`
 * counts the members.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient } from '@supabase/supabase-js';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, startCli, type CliProject, type StartedCli } from './helpers/cli.ts';
import { freePort } from './helpers/net.ts';

let project: CliProject;
let stack: StartedCli;
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nm-tenants-'));
  project = { dir, env: { DATA_DIR: path.join(dir, '.nextmavens'), PORT: String(await freePort()), POSTGRESQL_PORT: String(await freePort()), LOG_LEVEL: 'warn', AUTH_BCRYPT_COST: '4' } };
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY', 'MIGRATIONS_DIR', 'SEED_FILE']) delete process.env[name];
  stack = await startCli(project);
  const db = new pg.Client({ connectionString: stack.dbUrl });
  await db.connect();
  await db.query(`
    create table public.projects (
      id bigint generated always as identity primary key,
      tenant_id uuid not null default auth.tenant_id() references public.tenants (id),
      name text not null);
    select public.enable_tenant_isolation('public.projects');`);
  await db.end();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await rm(project.dir, { recursive: true, force: true });
});

it('tenants create → sign up with the tenant key → the user works inside the tenant only; tenants list counts them', async () => {
  const keys: Record<string, { id: string; key: string }> = {};
  for (const name of ['Acme', 'Globex']) {
    const made = await runCli(project, ['tenants', 'create', name, '--slug', name.toLowerCase()]);
    expect(made.code, made.out).toBe(0);
    keys[name] = { id: made.out.match(/tenant id: (\S+)/)![1], key: made.out.match(/tenant anon key: (\S+)/)![1] };
  }
  const url = `http://127.0.0.1:${project.env.PORT}`;
  const sessions: Record<string, string> = {};
  for (const name of ['Acme', 'Globex']) {
    const app = createClient(url, keys[name].key, opts);
    const { data, error } = await app.auth.signUp({ email: `owner@${name.toLowerCase()}.test`, password: 'secret123' });
    expect(error).toBeNull();
    expect(claimsOf(data.session!.access_token).tenant_id).toBe(keys[name].id);
    sessions[name] = data.session!.access_token;
    const signedIn = createClient(url, keys[name].key, { ...opts, global: { headers: { Authorization: `Bearer ${data.session!.access_token}` } } });
    expect((await signedIn.from('projects').insert({ name: `${name} roadmap` })).error).toBeNull();
  }
  const acme = createClient(url, keys.Acme.key, { ...opts, global: { headers: { Authorization: `Bearer ${sessions.Acme}` } } });
  expect((await acme.from('projects').select('name')).data).toEqual([{ name: 'Acme roadmap' }]);
  // Acme's member cannot write into Globex.
  expect((await acme.from('projects').insert({ name: 'sneaky', tenant_id: keys.Globex.id })).error?.code).toBe('42501');

  const listed = await runCli(project, ['tenants', 'list']);
  expect(listed.code).toBe(0);
  expect(listed.out).toMatch(new RegExp(`${keys.Acme.id}\\tacme\\t1\\tAcme`));
  expect(listed.out).toMatch(new RegExp(`${keys.Globex.id}\\tglobex\\t1\\tGlobex`));
  const again = await runCli(project, ['tenants', 'key', 'acme']);
  expect(again.out).toContain(`tenant anon key: ${keys.Acme.key}`);

  // tenants suspend: Acme's member and key are refused, Globex carries on; resume restores it.
  const suspended = await runCli(project, ['tenants', 'suspend', 'acme']);
  expect(suspended.code, suspended.out).toBe(0);
  expect(suspended.out).toContain('tenant acme: suspended');
  expect((await runCli(project, ['tenants', 'list'])).out).toMatch(new RegExp(`${keys.Acme.id}\tacme\t1\tAcme\tsuspended`));
  const refused = await acme.from('projects').select('name');
  expect(refused.status).toBe(403);
  expect(refused.error?.code).toBe('PT403');
  expect((await createClient(url, keys.Acme.key, opts).from('projects').select('name')).status).toBe(403);
  const globex = createClient(url, keys.Globex.key, { ...opts, global: { headers: { Authorization: `Bearer ${sessions.Globex}` } } });
  expect((await globex.from('projects').select('name')).data).toEqual([{ name: 'Globex roadmap' }]);
  expect((await runCli(project, ['tenants', 'resume', keys.Acme.id])).out).toContain('tenant acme: active');
  expect((await acme.from('projects').select('name')).data).toEqual([{ name: 'Acme roadmap' }]);
  expect((await runCli(project, ['tenants', 'suspend', 'nosuch'])).code).not.toBe(0);
}, 60_000);
