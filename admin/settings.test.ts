/**
 * Auth settings edited in the dashboard (admin/routes/settings.ts, core/auth-settings.ts) over
 * running embedded stacks: SMTP set through the admin API sends the next auth mail to a real SMTP
 * server without a restart; a GitHub client enabled there appears in /auth/v1/settings and signs
 * a user in through /authorize and /callback (a fake GitHub); secrets never come back; developer
 * may edit, read_only may not; no API role and not the read-only SQL login reads the table. A
 * second stack with SMTP_* and GOOGLE_* in its environment shows them read-only and ignores the
 * database's values.
 */
import { createClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../test/helpers/admin-client.ts';
import { CHROMIUM, haveChromium, launchChromium, warnIfNoChromium } from '../test/helpers/browser.ts';
import { startFakeProvider } from '../test/helpers/oauth-provider.ts';
import { startSmtp, type TestSmtp } from '../test/helpers/smtp.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

warnIfNoChromium('admin/settings.test.ts');

const SITE = 'http://app.test';
const authOpts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

/** The first admin (owner, from localhost), a developer and a read_only admin, signed in. */
async function admins(t: TestStack): Promise<{ owner: AdminClient; dev: AdminClient; reader: AdminClient }> {
  const owner = new AdminClient(t.stack.url);
  expect((await owner.call('POST', '/admin/api/setup', { email: 'owner@example.com', password: 'owner-password-1' })).status).toBe(200);
  expect((await owner.login('owner@example.com', 'owner-password-1')).status).toBe(200);
  const signed: AdminClient[] = [];
  for (const role of ['developer', 'read_only']) {
    expect((await owner.call('POST', '/admin/api/admins', { email: `${role}@example.com`, password: `${role}-password`, role })).status).toBe(200);
    const c = new AdminClient(t.stack.url);
    expect((await c.login(`${role}@example.com`, `${role}-password`)).status).toBe(200);
    signed.push(c);
  }
  return { owner, dev: signed[0], reader: signed[1] };
}

const settingsOf = async (t: TestStack) => (await (await fetch(`${t.stack.url}/auth/v1/settings`, { headers: { apikey: t.db.config.anonKey } })).json()) as { external: Record<string, boolean> };

describe('settings from the dashboard (nothing in the environment)', () => {
  let t: TestStack;
  let smtp: TestSmtp;
  let fake: Awaited<ReturnType<typeof startFakeProvider>>;
  let dev: AdminClient;
  let reader: AdminClient;

  beforeAll(async () => {
    smtp = await startSmtp();
    fake = await startFakeProvider();
    t = await startTestStack({
      env: {
        AUTH_BCRYPT_COST: '4',
        AUTH_EMAIL_MAX_FREQUENCY: '0',
        SITE_URL: SITE,
        // Only the endpoints (a fake GitHub): the client id and secret come from the dashboard.
        GITHUB_AUTHORIZE_URL: `${fake.origin}/github/login/oauth/authorize`,
        GITHUB_TOKEN_URL: `${fake.origin}/github/login/oauth/access_token`,
        GITHUB_API_URL: `${fake.origin}/github/api`,
      },
    });
    t.db.config.publicUrl = t.stack.url;
    ({ dev, reader } = await admins(t));
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    await fake?.close();
  });

  it('shows defaults, and lets a developer but not a read_only admin change them', async () => {
    const view = await reader.call('GET', '/admin/api/settings/auth');
    expect(view.status).toBe(200);
    expect(view.json.smtp).toEqual({ host: { source: 'default', value: null }, port: { source: 'default', value: 587 }, user: { source: 'default', value: null }, pass: { source: 'default', set: false } });
    expect(view.json.github.enabled).toEqual({ source: 'default', value: false });
    const refused = await reader.call('PUT', '/admin/api/settings/auth/smtp', { host: '127.0.0.1' });
    expect(refused.status).toBe(403);
    expect((await reader.call('GET', '/admin/api/settings/auth')).json.smtp.host.source).toBe('default');
    // Without the CSRF token, even a developer is refused.
    expect((await dev.call('PUT', '/admin/api/settings/auth/smtp', { host: '127.0.0.1' }, { 'x-csrf-token': '' })).status).toBe(403);
  });

  it('refuses bad input with a 400 in the dashboard shape', async () => {
    for (const [group, body] of [
      ['smtp', { port: 'twenty-five' }],
      ['smtp', { port: 70000 }],
      ['smtp', { host: 'mail.example.com; rm -rf /' }],
      ['smtp', { colour: 'red' }],
      ['mail_from', { admin_email: 'not an address' }],
      ['github', { enabled: 'yes' }],
      ['nope', { a: 1 }],
      ['smtp', ['host']],
    ] as const) {
      const r = await dev.call('PUT', `/admin/api/settings/auth/${group}`, body);
      expect(r.status, JSON.stringify([group, body])).toBe(400);
      expect(r.json).toMatchObject({ code: 'validation_failed', message: expect.any(String) });
    }
  });

  it('sends the next auth mail through the SMTP server set in the dashboard, without a restart', async () => {
    const sb = createClient(t.stack.url, t.db.config.anonKey, authOpts);
    // Before: the dev inbox (no SMTP anywhere).
    expect((await sb.auth.signInWithOtp({ email: 'before@example.com' })).error).toBeNull();
    expect(await smtp.pending('before@example.com', 300)).toEqual([]);

    const saved = await dev.call('PUT', '/admin/api/settings/auth/smtp', { host: '127.0.0.1', port: smtp.port, pass: 'smtp-pass-not-shown' });
    expect(saved.status).toBe(200);
    expect(saved.json.smtp).toMatchObject({ host: { source: 'database', value: '127.0.0.1' }, port: { source: 'database', value: smtp.port }, pass: { source: 'database', set: true } });
    expect((await dev.call('PUT', '/admin/api/settings/auth/mail_from', { admin_email: 'dash@nextmavens.test', sender_name: 'Dash Board' })).status).toBe(200);

    expect((await sb.auth.signInWithOtp({ email: 'ann@example.com' })).error).toBeNull();
    const mail = await smtp.next('ann@example.com');
    expect(mail.text).toMatch(/^From: Dash Board <dash@nextmavens\.test>/m);
    expect(mail.code).toMatch(/^\d{6}$/);
    const { data, error } = await sb.auth.verifyOtp({ email: 'ann@example.com', token: mail.code, type: 'email' });
    expect(error).toBeNull();
    expect(data.session?.user.email).toBe('ann@example.com');

    // Cleared again: back to the dev inbox.
    expect((await dev.call('PUT', '/admin/api/settings/auth/smtp', { host: null })).status).toBe(200);
    expect((await sb.auth.signInWithOtp({ email: 'after@example.com' })).error).toBeNull();
    expect(await smtp.pending('after@example.com', 300)).toEqual([]);
    const inbox = await fetch(`${t.stack.url}/auth/v1/admin/inbox?email=after@example.com`, { headers: { apikey: t.db.config.serviceRoleKey, authorization: `Bearer ${t.db.config.serviceRoleKey}` } });
    expect(inbox.status).toBe(200);
    expect(JSON.stringify(await inbox.json())).toContain('after@example.com');
  }, 30_000);

  it('enables GitHub sign-in from the dashboard: /settings, /authorize, /callback; disabling it refuses /authorize', async () => {
    expect((await settingsOf(t)).external.github).toBe(false);
    const saved = await dev.call('PUT', '/admin/api/settings/auth/github', { enabled: true, client_id: 'github-client', secret: 'github-secret' });
    expect(saved.status).toBe(200);
    expect(saved.json.github).toEqual({ enabled: { source: 'database', value: true }, client_id: { source: 'database', value: 'github-client' }, secret: { source: 'database', set: true } });
    expect((await settingsOf(t)).external.github).toBe(true);

    fake.next.github = { id: '777', login: 'dash', name: 'Dash', email: 'dash@example.com', verified: true };
    const sb = createClient(t.stack.url, t.db.config.anonKey, { auth: { ...authOpts.auth, flowType: 'pkce' } });
    const { data, error } = await sb.auth.signInWithOAuth({ provider: 'github', options: { redirectTo: `${SITE}/done`, skipBrowserRedirect: true } });
    expect(error).toBeNull();
    let url = data.url!;
    let landed: URL | undefined;
    for (let hop = 0; hop < 6 && !landed; hop++) {
      const res = await fetch(url, { redirect: 'manual' });
      expect([302, 303]).toContain(res.status);
      const next = new URL(res.headers.get('location')!, url);
      if (hop === 0) expect(next.searchParams.get('client_id')).toBe('github-client');
      if (next.origin === SITE) landed = next;
      url = next.href;
    }
    const { data: session, error: exErr } = await sb.auth.exchangeCodeForSession(landed!.searchParams.get('code')!);
    expect(exErr).toBeNull();
    expect(session.user?.identities?.map((i) => [i.provider, i.id])).toEqual([['github', '777']]);

    expect((await dev.call('PUT', '/admin/api/settings/auth/github', { enabled: false })).status).toBe(200);
    expect((await settingsOf(t)).external.github).toBe(false);
    const off = await fetch(`${t.stack.url}/auth/v1/authorize?provider=github`, { redirect: 'manual' });
    expect(off.status).toBe(400);
    expect(((await off.json()) as { msg?: string }).msg ?? '').toContain('provider is not enabled');
  }, 30_000);

  it('keeps an omitted secret, never returns one, and keeps secrets out of the audit log', async () => {
    expect((await dev.call('PUT', '/admin/api/settings/auth/github', { client_id: 'github-client-2' })).json.github.secret).toEqual({ source: 'database', set: true });
    for (const c of [dev, reader]) {
      const text = JSON.stringify((await c.call('GET', '/admin/api/settings/auth')).json);
      expect(text).not.toContain('github-secret');
      expect(text).not.toContain('smtp-pass-not-shown');
    }
    const audit = await dev.call('GET', '/admin/api/audit?action=admin.settings.update');
    expect(audit.status).toBe(200);
    const entries = JSON.stringify(audit.json);
    expect(entries).toContain('auth.github');
    expect(entries).not.toContain('github-secret');
  });

  it('hides the table from every API role and from the read-only SQL login', async () => {
    for (const role of ['anon', 'authenticated', 'service_role']) {
      const c = await t.db.admin.connect();
      try {
        await c.query('begin');
        await c.query(`set local role ${role}`);
        await expect(c.query('select * from nextmavens.settings')).rejects.toMatchObject({ code: '42501' });
      } finally {
        await c.query('rollback');
        c.release();
      }
    }
    // Auth's own login (compose runs auth as nextmavens_auth) reads the rows and cannot change them.
    const c = await t.db.admin.connect();
    try {
      await c.query('begin');
      await c.query('set local role nextmavens_auth');
      expect((await c.query('select count(*)::int as n from nextmavens.settings')).rows[0].n).toBeGreaterThan(0);
      await expect(c.query(`update nextmavens.settings set value = '{}'`)).rejects.toMatchObject({ code: '42501' });
    } finally {
      await c.query('rollback');
      c.release();
    }
    const r = await reader.call('POST', '/admin/api/sql', { sql: 'select count(*) from nextmavens.settings' });
    expect(r.status).toBe(200);
    expect(r.json.results[0].rows).toEqual([['0']]);
    // The owner's view: the rows are there.
    expect((await t.db.admin.query('select count(*)::int as n from nextmavens.settings')).rows[0].n).toBeGreaterThan(0);
  });
  it.skipIf(!haveChromium)(`edits the sender on the Auth settings page in a browser${haveChromium ? '' : ` (skipped: ${CHROMIUM} is not installed)`}`, async () => {
    const browser = await launchChromium();
    try {
      const context = await browser.newContext();
      const [name, value] = dev.cookie!.split('=');
      await context.addCookies([{ name, value, url: t.stack.url }]);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(`${t.stack.url}/admin#/auth-settings`);
      await page.getByRole('heading', { name: 'Auth settings', level: 1 }).waitFor();
      // The stored secret is only a placeholder; the field itself is empty.
      const secret = page.getByRole('form', { name: 'GitHub sign-in' }).getByLabel('Client secret');
      expect(await secret.inputValue()).toBe('');
      expect(await secret.getAttribute('placeholder')).toBe('set — leave empty to keep');
      expect(await page.content()).not.toContain('smtp-pass-not-shown');
      expect(await page.getByRole('form', { name: 'GitHub sign-in' }).getByLabel('Client id').inputValue()).toBe('github-client-2');
      const sender = page.getByRole('form', { name: 'Sender' });
      await sender.getByLabel('Sender name').fill('From the page');
      await sender.getByRole('button', { name: 'Save Sender' }).click();
      await sender.getByRole('status').waitFor();
      expect((await dev.call('GET', '/admin/api/settings/auth')).json.mail_from.sender_name).toEqual({ source: 'database', value: 'From the page' });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 30_000);
});

describe('the environment wins', () => {
  let t: TestStack;
  let envSmtp: TestSmtp;
  let dbSmtp: TestSmtp;
  let owner: AdminClient;

  beforeAll(async () => {
    envSmtp = await startSmtp();
    dbSmtp = await startSmtp();
    t = await startTestStack({
      env: {
        AUTH_BCRYPT_COST: '4',
        AUTH_EMAIL_MAX_FREQUENCY: '0',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(envSmtp.port),
        SMTP_ADMIN_EMAIL: 'env@nextmavens.test',
        GOOGLE_CLIENT_ID: 'google-env-client',
        GOOGLE_CLIENT_SECRET: 'google-env-secret',
      },
    });
    t.db.config.publicUrl = t.stack.url;
    ({ owner } = await admins(t));
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await envSmtp?.close();
    await dbSmtp?.close();
  });

  it('shows env values read-only (secrets as set) and sends mail through the env SMTP, not the database one', async () => {
    expect((await owner.call('PUT', '/admin/api/settings/auth/smtp', { host: '127.0.0.1', port: dbSmtp.port })).status).toBe(200);
    const saved = await owner.call('PUT', '/admin/api/settings/auth/mail_from', { admin_email: 'db@nextmavens.test', sender_name: 'From DB' });
    expect(saved.json.smtp).toEqual({
      host: { source: 'environment', value: '127.0.0.1' }, port: { source: 'environment', value: envSmtp.port },
      user: { source: 'environment', value: '' }, pass: { source: 'environment', set: false },
    });
    // Per variable for the sender: SMTP_ADMIN_EMAIL is set, SMTP_SENDER_NAME is not.
    expect(saved.json.mail_from).toEqual({ admin_email: { source: 'environment', value: 'env@nextmavens.test' }, sender_name: { source: 'database', value: 'From DB' } });
    expect(saved.json.google).toEqual({ enabled: { source: 'environment', value: true }, client_id: { source: 'environment', value: 'google-env-client' }, secret: { source: 'environment', set: true } });
    expect(JSON.stringify(saved.json)).not.toContain('google-env-secret');

    const sb = createClient(t.stack.url, t.db.config.anonKey, authOpts);
    expect((await sb.auth.signInWithOtp({ email: 'ben@example.com' })).error).toBeNull();
    const mail = await envSmtp.next('ben@example.com');
    expect(mail.text).toMatch(/^From: From DB <env@nextmavens\.test>/m);
    expect(await dbSmtp.pending('ben@example.com', 300)).toEqual([]);
  }, 30_000);

  it('keeps the env provider when the database disables it', async () => {
    expect((await owner.call('PUT', '/admin/api/settings/auth/google', { enabled: false, client_id: 'google-db-client', secret: 'google-db-secret' })).status).toBe(200);
    expect((await settingsOf(t)).external.google).toBe(true);
    const res = await fetch(`${t.stack.url}/auth/v1/authorize?provider=google`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!).searchParams.get('client_id')).toBe('google-env-client');
  });
});
