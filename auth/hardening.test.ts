/**
 * Review fixes: redirect allow-list bypasses, brute force of 6-digit codes (verify rate limit),
 * bcrypt's 72-byte limit, inputs that used to answer 500 (NUL bytes, malformed ids, overflowing
 * durations, taken addresses, unknown tenants, odd content types), and mail delivery through an
 * SMTP outage (retries; a retry never voids a newer mail's code).
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../config/load.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { body } from '../test/helpers/http.ts';
import { startSmtp, type TestSmtp } from '../test/helpers/smtp.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { isAllowedRedirect, safeRedirect } from './redirects.ts';

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

describe('redirect allow-list (no stack)', () => {
  const config = { auth: { siteUrl: 'http://app.test', redirectAllowList: ['https://*.site.com/**', 'http://app.test/**', 'myapp://*'] } } as unknown as Config;

  it('refuses URLs whose text names another host than the browser would visit', () => {
    for (const url of [
      'https://evil%2ecom\\@x.site.com/', // percent-encoded dot + backslash: host evil.com
      'https://2130706433\\@x.site.com/', // backslash: host 127.0.0.1
      'https://evil.com\\@x.site.com/',
      'https://x.site.com@evil.com/',
      'http://app.test@evil.com/',
      'https://site.com.evil.com/',
      'http://app.test.evil.com/',
      '//evil.com',
      '/\\evil.com',
      'https://x.site.com/\r\nSet-Cookie:a=b',
      'https://x.si\tte.com/',
      'javascript:alert(1)',
    ]) {
      expect([url, isAllowedRedirect(config, url)]).toEqual([url, false]);
      expect(safeRedirect(config, url)).toBe('http://app.test');
    }
  });

  it('keeps SITE_URL, allowed patterns, ports, and app schemes', () => {
    for (const url of ['http://app.test/in', 'http://app.test', 'https://a.site.com/x?y=1#z', 'http://app.test:80/in', 'myapp://callback']) {
      expect([url, isAllowedRedirect(config, url)]).toEqual([url, true]);
    }
  });
});

describe('against the stack', () => {
  let t: TestStack;
  let db: TestDatabase;
  let url: string;
  let admin: SupabaseClient;
  let userId: string;

  beforeAll(async () => {
    t = await startTestStack({ env: { AUTH_BCRYPT_COST: '4', AUTH_RATE_LIMIT_VERIFY: '5', AUTH_AUTOCONFIRM: 'true' } });
    db = t.db;
    url = t.stack.url;
    admin = createClient(url, db.config.serviceRoleKey, opts);
    const { data } = await admin.auth.admin.createUser({ email: 'ann@example.com', password: 'secret123', email_confirm: true });
    userId = data.user!.id;
    await admin.auth.admin.createUser({ email: 'bob@example.com', password: 'secret123', email_confirm: true });
  });
  afterAll(() => t?.close());

  const call = async (method: string, path: string, opts: { json?: unknown; raw?: string; key?: string; type?: string } = {}) => {
    const res = await fetch(`${url}/auth/v1${path}`, {
      method,
      redirect: 'manual',
      headers: {
        apikey: db.config.anonKey,
        authorization: `Bearer ${opts.key ?? db.config.anonKey}`,
        'content-type': opts.type ?? 'application/json',
        'x-supabase-api-version': '2024-01-01',
      },
      body: opts.raw ?? (opts.json === undefined ? undefined : JSON.stringify(opts.json)),
    });
    return { status: res.status, body: res.status === 204 || res.status === 303 ? undefined : await body(res), location: res.headers.get('location') };
  };

  it('passwords longer than 72 bytes are refused (bcrypt would silently cut them)', async () => {
    const long = await fresh(url, db).auth.signUp({ email: 'long@example.com', password: 'x'.repeat(73) });
    expect(long.error?.status).toBe(400);
    expect(long.error?.code).toBe('validation_failed');
    const multibyte = await fresh(url, db).auth.signUp({ email: 'long@example.com', password: 'é'.repeat(37) }); // 74 bytes
    expect(multibyte.error?.code).toBe('validation_failed');
    expect((await fresh(url, db).auth.signUp({ email: 'long@example.com', password: 'x'.repeat(72) })).error).toBeNull();
  });

  it('malformed input is a 4xx, never a 500', async () => {
    const srk = db.config.serviceRoleKey;
    const cases: [string, string, Parameters<typeof call>[2], number, string?][] = [
      ['POST', '/signup', { json: { email: 'nul\u0000@example.com', password: 'secret123' } }, 400, 'validation_failed'],
      ['POST', '/signup', { json: { email: 'meta@example.com', password: 'secret123', data: { a: 'b\u0000' } } }, 400, 'validation_failed'],
      ['POST', '/token?grant_type=refresh_token', { json: { refresh_token: 'x\u0000' } }, 400, 'validation_failed'],
      ['GET', '/admin/inbox?email=%00', { key: srk }, 400, 'validation_failed'],
      ['POST', '/signup', { raw: 'email=a@b.c', type: 'application/x-www-form-urlencoded' }, 415],
      ['DELETE', '/admin/users/not-a-uuid', { key: srk }, 404, 'user_not_found'],
      ['PUT', `/admin/users/${userId}`, { key: srk, json: { email: 'bob@example.com' } }, 422, 'email_exists'],
      ['PUT', `/admin/users/${userId}`, { key: srk, json: { email: 'not-an-email' } }, 400, 'validation_failed'],
      ['PUT', `/admin/users/${userId}`, { key: srk, json: { ban_duration: '99999999999999999999h' } }, 400, 'validation_failed'],
      ['PUT', `/admin/users/${userId}`, { key: srk, json: { tenant_id: 'acme' } }, 400, 'validation_failed'],
      ['PUT', `/admin/users/${userId}`, { key: srk, json: { app_metadata: { tenant_id: '00000000-0000-4000-8000-00000000dead' } } }, 400, 'validation_failed'],
      ['POST', '/admin/users', { key: srk, json: { email: 'c@example.com', tenant_id: 'acme' } }, 400, 'validation_failed'],
      ['POST', '/invite', { key: srk, json: { email: 'inv@example.com', tenant_id: 'acme' } }, 400, 'validation_failed'],
      // GoTrue parses page/per_page as unsigned decimals: exponents are refused, huge values are pages past the end.
      ['GET', '/admin/users?page=1e300&per_page=1e9', { key: srk }, 400, 'validation_failed'],
      ['GET', '/admin/users?page=18446744073709551615&per_page=9999999999', { key: srk }, 200],
    ];
    for (const [method, path, o, status, code] of cases) {
      const res = await call(method, path, o);
      expect([method, path, res.status, res.body?.code]).toEqual([method, path, status, code ?? res.body?.code]);
    }
    // The admin calls above changed nothing.
    const { data } = await admin.auth.admin.getUserById(userId);
    expect(data.user).toMatchObject({ email: 'ann@example.com', app_metadata: { provider: 'email' } });
    expect(data.user?.banned_until).toBeUndefined();
  });

  it('6-digit codes cannot be brute-forced: AUTH_RATE_LIMIT_VERIFY per client address on POST and GET /verify', async () => {
    const { data } = await admin.auth.admin.generateLink({ type: 'magiclink', email: 'ann@example.com' });
    const code = data.properties!.email_otp;
    const wrong = (n: number) => String((Number(code) + n) % 1_000_000).padStart(6, '0');
    const statuses: (number | undefined)[] = [];
    for (let i = 1; i <= 5; i++) statuses.push((await fresh(url, db).auth.verifyOtp({ email: 'ann@example.com', token: wrong(i), type: 'email' })).error?.status);
    expect(statuses).toEqual([403, 403, 403, 403, 403]);
    // Over the budget even the right code is refused (the attacker cannot keep guessing).
    const limited = await fresh(url, db).auth.verifyOtp({ email: 'ann@example.com', token: code, type: 'email' });
    expect(limited.error?.status).toBe(429);
    expect(limited.error?.code).toBe('over_request_rate_limit');
    const link = await call('GET', `/verify?token=${data.properties!.hashed_token}&type=magiclink`);
    expect(link.status).toBe(303);
    expect(new URLSearchParams(new URL(link.location!).hash.slice(1)).get('error_code')).toBe('over_request_rate_limit');
  });
});

const fresh = (url: string, db: TestDatabase) => createClient(url, db.config.anonKey, opts);

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('mail through an SMTP outage', () => {
  let t: TestStack;
  let smtp: TestSmtp | undefined;

  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  it('a failed delivery is retried; the stale retry of an older request never voids the newer code', async () => {
    const port = await freePort();
    t = await startTestStack({
      env: { AUTH_BCRYPT_COST: '4', AUTH_EMAIL_MAX_FREQUENCY: '0', SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_ADMIN_EMAIL: 'auth@nextmavens.test' },
    });
    const { db, stack } = t;
    db.config.publicUrl = stack.url;
    const admin = createClient(stack.url, db.config.serviceRoleKey, opts);
    await admin.auth.admin.createUser({ email: 'ann@example.com', password: 'secret123', email_confirm: true });
    const jobs = async () => (await db.admin.query<{ attempts: number; last_error: string | null }>(`select attempts, last_error from graphile_worker.jobs`)).rows;
    const until = async (what: () => Promise<boolean>, ms = 8000) => {
      for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (await what()) return;
      throw new Error('timed out');
    };

    // SMTP is down: the first magic link fails and waits for its retry (graphile-worker back-off).
    expect((await fresh(stack.url, db).auth.signInWithOtp({ email: 'ann@example.com' })).error).toBeNull();
    await until(async () => (await jobs()).some((j) => j.attempts === 1 && j.last_error));

    // SMTP comes back; the user asks again and gets the second mail at once.
    smtp = await startSmtp(port);
    expect((await fresh(stack.url, db).auth.signInWithOtp({ email: 'ann@example.com' })).error).toBeNull();
    const second = await smtp.next('ann@example.com');

    // The first request's retry runs (~e seconds after its failure) and is dropped, not sent:
    // sending it would have replaced the second mail's code with its own.
    await until(async () => (await jobs()).length === 0);
    expect(await smtp.pending('ann@example.com', 100)).toEqual([]);
    const { data, error } = await fresh(stack.url, db).auth.verifyOtp({ email: 'ann@example.com', token: second.code, type: 'email' });
    expect(error).toBeNull();
    expect(data.session?.user.email).toBe('ann@example.com');
  }, 30_000);

  it('a mail whose delivery failed arrives once SMTP is back', async () => {
    const { db, stack } = t;
    await smtp!.close();
    smtp = undefined;
    const port = db.config.auth.smtp!.port;
    expect((await fresh(stack.url, db).auth.resetPasswordForEmail('ann@example.com')).error).toBeNull();
    for (let i = 0; i < 160; i++) {
      const { rows } = await db.admin.query<{ attempts: number }>(`select attempts from graphile_worker.jobs where attempts > 0`);
      if (rows.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    smtp = await startSmtp(port);
    const mail = await waitFor(() => smtp!.next('ann@example.com'), 15_000);
    expect(mail.subject).toBe('Reset your password');
    const { error } = await fresh(stack.url, db).auth.verifyOtp({ email: 'ann@example.com', token: mail.code, type: 'recovery' });
    expect(error).toBeNull();
  }, 30_000);
});

/** Retries `fn` (which itself waits up to 5 s) until it resolves or `ms` pass. */
async function waitFor<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw err;
    }
  }
}
