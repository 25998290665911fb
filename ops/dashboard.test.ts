/**
 * The health dashboard as an operator opens it: /dashboard in a real browser (Debian's chromium
 * driven by playwright-core) over a stack whose Postgres sits behind a proxy. The page asks for
 * the service_role key, shows live numbers that move when traffic is sent, draws its charts, and
 * turns the database red when it is taken away. Skipped, saying why, only when /usr/bin/chromium
 * is not installed (`apt-get install -y chromium`).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, haveChromium, launchChromium, warnIfNoChromium } from '../test/helpers/browser.ts';
import { startStackBehindProxy, type StackBehindProxy } from '../test/helpers/db-outage.ts';

warnIfNoChromium('ops/dashboard.test.ts');

let t: StackBehindProxy;
let browser: Browser;
const PASSWORD = 'correct horse battery staple';

/** A confirmed user with `appMetadata`, created with the admin API; returns its access token. */
async function createUser(email: string, appMetadata: Record<string, unknown>): Promise<string> {
  const headers = { apikey: t.db.config.serviceRoleKey, authorization: `Bearer ${t.db.config.serviceRoleKey}`, 'content-type': 'application/json' };
  const created = await fetch(`${t.stack.url}/auth/v1/admin/users`, { method: 'POST', headers, body: JSON.stringify({ email, password: PASSWORD, email_confirm: true, app_metadata: appMetadata }) });
  expect(created.status).toBe(200);
  const session = await fetch(`${t.stack.url}/auth/v1/token?grant_type=password`, { method: 'POST', headers: { apikey: t.db.config.anonKey, 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) });
  expect(session.status).toBe(200);
  return ((await session.json()) as { access_token: string }).access_token;
}

beforeAll(async () => {
  t = await startStackBehindProxy({ fixtures: 'rest-basic.sql', env: { ALERT_INTERVAL: '1', ALERT_DB_DOWN_SECONDS: '60' } });
  if (haveChromium) {
    browser = await launchChromium();
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('the dashboard API', () => {
  it('refuses a request without the service_role key', async () => {
    const none = await fetch(`${t.stack.url}/dashboard/api/summary`);
    expect(none.status).toBe(401);
    const anon = await fetch(`${t.stack.url}/dashboard/api/summary`, { headers: { authorization: `Bearer ${t.db.config.anonKey}` } });
    expect(anon.status).toBe(401);
    expect(await anon.json()).toEqual({ code: 'unauthorized', message: expect.stringContaining('service_role') });
  });

  it("opens to an admin user's access token (app_metadata ops_admin), not to other users'", async () => {
    const admin = await createUser('ops-admin@example.com', { ops_admin: true });
    const plain = await createUser('plain-user@example.com', {});
    const summary = (token: string) => fetch(`${t.stack.url}/dashboard/api/summary`, { headers: { authorization: `Bearer ${token}` } });
    expect((await summary(plain)).status).toBe(401);
    const ok = await summary(admin);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ services: { database: { status: 'up' } }, totals: { requests: expect.any(Number) } });
  });

  it('serves the page and its assets from the stack (no CDN)', async () => {
    const page = await fetch(`${t.stack.url}/dashboard`);
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const src of html.matchAll(/(?:src|href)="([^"]+)"/g)) expect(src[1]).toMatch(/^\/dashboard\/assets\//);
    const uplot = await fetch(`${t.stack.url}/dashboard/assets/uplot.js`);
    expect(uplot.status).toBe(200);
    expect(await uplot.text()).toContain('uPlot');
    expect((await fetch(`${t.stack.url}/dashboard/assets/..%2F..%2Fpackage.json`)).status).toBe(404);
  });
});

describe.skipIf(!haveChromium)(`the dashboard in a browser${haveChromium ? '' : ` (skipped: ${CHROMIUM} is not installed)`}`, () => {
  it('logs in with the service_role key, shows numbers that move with traffic, and a database going red', async () => {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const res = await page.goto(`${t.stack.url}/dashboard`);
    expect(res?.status()).toBe(200);

    // A wrong key is refused, the right one opens the board.
    await page.fill('#key', t.db.config.anonKey);
    await page.click('#login-key button[type=submit]');
    await expect.poll(() => page.locator('#login-error').innerText(), { timeout: 10_000 }).toContain('not the service_role key');
    await page.fill('#key', t.db.config.serviceRoleKey);
    await page.click('#login-key button[type=submit]');
    await page.locator('#board').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await page.locator('#login').isVisible()).toBe(false);
    await expect.poll(() => page.locator('tr[data-service="database"]').getAttribute('data-status'), { timeout: 10_000 }).toBe('up');
    for (const name of ['rest', 'auth', 'graphql', 'realtime', 'storage']) expect(await page.locator(`tr[data-service="${name}"]`).getAttribute('data-status')).toBe('up');

    // Traffic moves the numbers.
    const before = Number(await page.locator('#total-requests').innerText());
    for (let i = 0; i < 30; i++) {
      const r = await fetch(`${t.stack.url}/rest/v1/clients`, { headers: { apikey: t.db.config.anonKey } });
      await r.body?.cancel();
    }
    await expect.poll(async () => Number(await page.locator('#total-requests').innerText()), { timeout: 10_000 }).toBeGreaterThanOrEqual(before + 30);
    await expect.poll(() => page.locator('#p99').innerText(), { timeout: 10_000 }).toMatch(/ms$/);
    // uPlot drew both charts.
    expect(await page.locator('#chart-rate canvas').count()).toBe(1);
    expect(await page.locator('#chart-latency canvas').count()).toBe(1);

    // The database taken away: its row turns red.
    await t.proxy.cut();
    try {
      await expect.poll(() => page.locator('tr[data-service="database"]').getAttribute('data-status'), { timeout: 15_000 }).toBe('down');
      const badge = page.locator('tr[data-service="database"] .status');
      // Runs in the page (this project's TypeScript has no DOM types: the cast names its global).
      const color = await badge.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor);
      expect(color).toBe('rgb(214, 69, 69)');
      await expect.poll(() => page.locator('#overall').innerText(), { timeout: 5_000 }).toBe('degraded');
    } finally {
      await t.proxy.restore();
    }
    await expect.poll(() => page.locator('tr[data-service="database"]').getAttribute('data-status'), { timeout: 20_000 }).toBe('up');
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
    await page.close();
  }, 90_000);

  it('lets an admin user sign in with email and password', async () => {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${t.stack.url}/dashboard`);
    await page.fill('#email', 'plain-user@example.com');
    await page.fill('#password', PASSWORD);
    await page.click('#login-user button[type=submit]');
    await expect.poll(() => page.locator('#login-error').innerText(), { timeout: 10_000 }).toContain('not an admin');
    await page.fill('#email', 'ops-admin@example.com');
    await page.fill('#password', 'wrong password');
    await page.click('#login-user button[type=submit]');
    await expect.poll(() => page.locator('#login-error').innerText(), { timeout: 10_000 }).toContain('Invalid login credentials');
    await page.fill('#password', PASSWORD);
    await page.click('#login-user button[type=submit]');
    await page.locator('#board').waitFor({ state: 'visible', timeout: 10_000 });
    await expect.poll(() => page.locator('tr[data-service="database"]').getAttribute('data-status'), { timeout: 10_000 }).toBe('up');
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
    await page.close();
  }, 60_000);
});
