/**
 * The admin dashboard in a real browser (Debian's chromium driven by playwright-core) over an
 * embedded stack: first run, then — as that owner — create a table in the table editor, insert a
 * row, see RLS hide it from supabase-js until a policy written from the tenancy template lets its
 * tenant's user read it while the second tenant's user is refused, run SQL (a destructive
 * statement asks first), upload files by picking and by dropping them, create and ban a user,
 * join a realtime channel and see a supabase-js broadcast, read the API docs and the audit log, watch the health page,
 * sign out and back in. Keyboard: the sign-in form is filled and sent with the keyboard alone.
 * ADMIN_SCREENSHOTS=<dir> writes the README's screenshots there. Skipped, saying why, only when
 * /usr/bin/chromium is not installed (`apt-get install -y chromium`).
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, haveChromium, launchChromium, warnIfNoChromium } from '../test/helpers/browser.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

warnIfNoChromium('admin/ui.test.ts');

let t: TestStack;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
const TENANT_A = randomUUID();
const TENANT_B = randomUUID();
const OWNER = { email: 'owner@example.com', password: 'a-long-owner-password' };
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da6364f8cf00000301010018dd8db00000000049454e44ae426082', 'hex');

async function shot(name: string): Promise<void> {
  const dir = process.env.ADMIN_SCREENSHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, `admin-${name}.png`), fullPage: false });
}

/** A user of `tenant` (app_metadata.tenant_id), signed in with supabase-js. */
async function tenantUser(email: string, tenant: string): Promise<SupabaseClient> {
  const admin = createClient(t.stack.url, t.db.config.serviceRoleKey, opts);
  const { error } = await admin.auth.admin.createUser({ email, password: 'secret-123', email_confirm: true, app_metadata: { tenant_id: tenant } });
  if (error) throw error;
  const client = createClient(t.stack.url, t.db.config.anonKey, opts);
  const signed = await client.auth.signInWithPassword({ email, password: 'secret-123' });
  if (signed.error) throw signed.error;
  return client;
}

beforeAll(async () => {
  t = await startTestStack({ env: { ALERT_INTERVAL: '1' } });
  await t.db.admin.query(`insert into public.tenants (id, name) values ($1, 'Acme'), ($2, 'Globex')`, [TENANT_A, TENANT_B]);
  if (haveChromium) {
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe.skipIf(!haveChromium)(`the admin dashboard in a browser${haveChromium ? '' : ` (skipped: ${CHROMIUM} is not installed)`}`, () => {
  it('creates the first admin from localhost, with the keyboard alone', async () => {
    expect((await page.goto(`${t.stack.url}/admin`))?.status()).toBe(200);
    await page.getByRole('heading', { name: 'Create the first admin (owner)' }).waitFor();
    await shot('first-run');
    await page.getByLabel('Email').focus();
    await page.keyboard.type(OWNER.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type(OWNER.password);
    await page.keyboard.press('Enter');
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    expect(await page.locator('.role').innerText()).toBe('owner');
    // The page never holds the service_role key.
    expect(await page.content()).not.toContain(t.db.config.serviceRoleKey);
  }, 30_000);

  it('creates a table, inserts a row, and a tenancy policy decides what supabase-js users see', async () => {
    await page.getByRole('button', { name: 'New table' }).click();
    await page.getByLabel('Table name').fill('todos');
    await page.getByRole('button', { name: 'Add column' }).click();
    await page.locator('input[name="col-1-name"]').fill('title');
    await page.locator('input[name="col-1-type"]').fill('text');
    await page.getByRole('button', { name: 'Add column' }).click();
    await page.locator('input[name="col-2-name"]').fill('tenant_id');
    await page.locator('input[name="col-2-type"]').fill('uuid');
    expect(await page.locator('#new-table-rls').isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Create table' }).click();
    await expect.poll(() => page.locator('#table-title').innerText(), { timeout: 10_000 }).toBe('public.todos');

    await page.getByRole('button', { name: 'Insert row' }).click();
    await page.locator('#field-title').fill('buy milk');
    await page.locator('#field-tenant_id').fill(TENANT_A);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'buy milk' }).waitFor({ timeout: 10_000 });
    await shot('tables');

    const alice = await tenantUser('alice@acme.test', TENANT_A);
    const bob = await tenantUser('bob@globex.test', TENANT_B);
    // RLS on and no policy yet: nobody reads the row through the API.
    await expect.poll(async () => (await alice.from('todos').select('title')).data, { timeout: 10_000 }).toEqual([]);

    await page.getByRole('tab', { name: 'Policies' }).click();
    await page.getByLabel('Template').selectOption('tenant_isolation');
    expect(await page.getByLabel('USING').inputValue()).toBe('tenant_id = auth.tenant_id()');
    await page.getByRole('button', { name: 'Create policy' }).click();
    await page.getByRole('cell', { name: 'tenant_isolation' }).waitFor({ timeout: 10_000 });
    await shot('policies');

    await expect.poll(async () => (await alice.from('todos').select('title')).data, { timeout: 10_000 }).toEqual([{ title: 'buy milk' }]);
    expect((await bob.from('todos').select('title')).data).toEqual([]);
    const refused = await bob.from('todos').insert({ title: 'sneaky', tenant_id: TENANT_A });
    expect(refused.error?.code).toBe('42501');
    const own = await bob.from('todos').insert({ title: 'globex task', tenant_id: TENANT_B });
    expect(own.error).toBeNull();

    // The new row shows up in the grid; a foreign-key-free table has no links, sorting works by header.
    await page.getByRole('tab', { name: 'Rows' }).click();
    await page.getByRole('button', { name: 'title', exact: true }).click();
    await expect.poll(() => page.locator('table.grid tbody tr td:nth-child(2)').allInnerTexts(), { timeout: 10_000 }).toEqual(['buy milk', 'globex task']);
    await page.getByRole('button', { name: 'title', exact: true }).click();
    await expect.poll(() => page.locator('table.grid tbody tr td:nth-child(2)').allInnerTexts(), { timeout: 10_000 }).toEqual(['globex task', 'buy milk']);
  }, 60_000);

  it('runs SQL into a grid and asks before a destructive statement', async () => {
    await page.getByRole('link', { name: 'SQL editor' }).click();
    const editor = page.getByLabel(/^SQL/);
    await editor.fill('select title, tenant_id is not null as has_tenant from public.todos order by title');
    await editor.press('Control+Enter');
    await page.getByRole('table', { name: 'Query result' }).waitFor();
    expect(await page.locator('#sql-output table.grid tbody td:first-child').allInnerTexts()).toEqual(['buy milk', 'globex task']);
    await shot('sql');
    let asked = '';
    page.once('dialog', (d) => ((asked = d.message()), d.dismiss()));
    await editor.fill('delete from public.todos');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').innerText(), { timeout: 10_000 }).toContain('not confirmed');
    expect(asked).toContain('DELETE without WHERE');
    expect((await t.db.admin.query('select count(*)::int as n from public.todos')).rows[0].n).toBe(2);
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.getByRole('list', { name: 'Query plan' }).waitFor();
  }, 30_000);

  it('uploads files by picking and by dropping them, with an image preview', async () => {
    await page.getByRole('link', { name: 'Storage' }).click();
    await page.getByLabel('New bucket').fill('files');
    await page.getByRole('button', { name: 'Create bucket' }).click();
    await page.getByLabel('Drop files here, or choose:').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG });
    await page.locator('tr[data-object="dot.png"] img.preview').waitFor({ timeout: 10_000 });
    const dropped = await page.evaluateHandle(() => {
      const g = globalThis as unknown as { DataTransfer: new () => { items: { add(f: unknown): void } }; File: new (parts: string[], name: string, o: object) => unknown };
      const dt = new g.DataTransfer();
      dt.items.add(new g.File(['hello'], 'hello.txt', { type: 'text/plain' }));
      return dt;
    });
    await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: dropped });
    await page.locator('tr[data-object="hello.txt"]').waitFor({ timeout: 10_000 });
    await shot('storage');
    const { data } = await createClient(t.stack.url, t.db.config.serviceRoleKey, opts).storage.from('files').download('hello.txt');
    expect(await data?.text()).toBe('hello');
  }, 30_000);

  it('creates and bans a user, joins a realtime channel, reads the API docs and the logs', async () => {
    await page.getByRole('link', { name: 'Auth users' }).click();
    await page.getByLabel('Email').fill('carol@example.com');
    await page.getByLabel('Password').fill('carol-password');
    await page.getByRole('button', { name: 'Create user' }).click();
    const row = page.getByRole('row').filter({ hasText: 'carol@example.com' });
    await row.waitFor({ timeout: 10_000 });
    await page.getByLabel('Search').fill('carol');
    expect(await page.getByRole('table', { name: 'Users' }).locator('tbody tr').count()).toBe(1);
    await row.getByRole('button', { name: 'Ban' }).click();
    await expect.poll(() => row.locator('td').nth(4).innerText(), { timeout: 10_000 }).toBe('banned');
    const signIn = await createClient(t.stack.url, t.db.config.anonKey, opts).auth.signInWithPassword({ email: 'carol@example.com', password: 'carol-password' });
    expect(signIn.error?.message).toMatch(/banned/i);

    await page.getByRole('link', { name: 'Realtime' }).click();
    await page.getByLabel('Channel', { exact: true }).fill('inspector');
    await page.getByRole('button', { name: 'Join' }).click();
    await expect.poll(() => page.locator('#rt-state').innerText(), { timeout: 10_000 }).toBe('joined');
    await page.getByRole('button', { name: 'Broadcast' }).click();
    await expect.poll(() => page.getByRole('list', { name: 'Messages' }).innerText(), { timeout: 10_000 }).toContain('"hello":"world"');
    // A supabase-js client's broadcast on the same channel shows up too.
    const app = createClient(t.stack.url, t.db.config.anonKey, opts).channel('inspector');
    await new Promise<void>((resolve) => app.subscribe((status) => status === 'SUBSCRIBED' && resolve()));
    await app.send({ type: 'broadcast', event: 'from-app', payload: { n: 1 } });
    await expect.poll(() => page.getByRole('list', { name: 'Messages' }).innerText(), { timeout: 10_000 }).toContain('from-app');
    await app.unsubscribe();
    await page.getByRole('button', { name: 'Leave' }).click();

    await page.getByRole('link', { name: 'API docs' }).click();
    await page.getByRole('button', { name: 'todos' }).click();
    await page.getByRole('table', { name: 'Columns of todos' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('pre.code').first().innerText()).toContain("supabase.from('todos').select('*')");

    await page.getByRole('link', { name: 'Logs & jobs' }).click();
    // The gateway's request log lists supabase-js's requests of the todos above (written within a second or so).
    const requests = page.getByRole('form', { name: 'Filter the request logs' });
    await requests.getByLabel('Path contains').fill('/rest/v1/todos');
    await requests.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(async () => (await requests.getByRole('button', { name: 'Refresh' }).click(), await page.getByRole('table', { name: 'Requests' }).innerText()), { timeout: 15_000 }).toMatch(/GET\s+\/rest\/v1\/todos/);
    await page.getByLabel('Action starts with').fill('admin.tables');
    await page.getByRole('form', { name: 'Filter the audit log' }).getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => page.getByRole('table', { name: 'Audit entries' }).innerText(), { timeout: 10_000 }).toContain('admin.tables.create');
  }, 60_000);

  it('shows the health page, signs out and back in', async () => {
    await page.getByRole('link', { name: 'Health' }).click();
    await expect.poll(() => page.locator('tr[data-service="database"]').getAttribute('data-status'), { timeout: 10_000 }).toBe('up');
    await expect.poll(() => page.locator('figure canvas').count(), { timeout: 10_000 }).toBe(2);
    await shot('health');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByLabel('Password').fill('wrong password!');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').innerText(), { timeout: 10_000 }).toContain('Invalid email or password');
    await page.getByLabel('Password').fill(OWNER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  }, 30_000);
});
