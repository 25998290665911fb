/**
 * Auth while Postgres is shutting down or unreachable: 503 in GoTrue's error shape (auth-js reads it
 * as a retryable error), no host, port, driver text or path in any body, and service again as soon
 * as Postgres is back. The auth service runs alone (as in compose) over a TCP proxy to the test
 * database (test/helpers/db-outage.ts) that can cut every connection and refuse new ones; "shutting down" is Postgres itself
 * terminating the backend of a running request (57P01).
 */
import { createClient } from '@supabase/supabase-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveOne, type RunningStack } from '../cli/stack.ts';
import { DATABASE_UNAVAILABLE_MESSAGE } from '../db/unavailable.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { startDbProxy, throughProxy, type DbProxy } from '../test/helpers/db-outage.ts';

let db: TestDatabase;
let auth: RunningStack;
let pg: DbProxy;

/** auth-js against the auth service alone: the service has no /auth/v1 prefix to strip. */
const client = (key: string) =>
  createClient(auth.url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { fetch: (input, init) => fetch(String(input instanceof Request ? input.url : input).replace('/auth/v1', ''), init) },
  });

/** Nothing in an answer may say where the database is or what the driver said. */
function expectNothingInternal(text: string) {
  for (const secret of ['127.0.0.1', 'localhost', String(pg.port), String(db.config.postgres.port), 'ECONNREFUSED', 'terminat', '57P0', '/tmp', '/work', 'node_modules']) {
    expect([secret, text.includes(secret)]).toEqual([secret, false]);
  }
}

beforeAll(async () => {
  db = await createTestDatabase({ AUTH_BCRYPT_COST: '4', AUTH_AUTOCONFIRM: 'true' });
  pg = await startDbProxy();
  auth = await serveOne(
    'auth',
    { ...db.config, host: '127.0.0.1', postgres: throughProxy(db.config.postgres, pg), ports: { ...db.config.ports, auth: 0 } },
    pino({ level: 'silent' }),
  );
  const created = await client(db.config.serviceRoleKey).auth.admin.createUser({ email: 'ann@example.com', password: 'secret123', email_confirm: true });
  expect(created.error).toBeNull();
});

afterAll(async () => {
  await pg?.restore().catch(() => undefined);
  await auth?.close();
  await pg?.close();
  await db?.drop();
});

describe('auth without its database', () => {
  it('a request whose backend Postgres terminates (shutdown: 57P01) gets 503, retryable for auth-js', async () => {
    const locker = await db.admin.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table auth.users in access exclusive mode');
      const pending = client(db.config.anonKey).auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' });
      let pid: number | undefined;
      for (let i = 0; i < 200 && !pid; i++, await new Promise((r) => setTimeout(r, 25))) {
        const { rows } = await db.admin.query<{ pid: number }>(
          `select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%from auth.users%' and pid <> $1`,
          [(await locker.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid],
        );
        pid = rows[0]?.pid;
      }
      expect(pid).toBeDefined();
      await db.admin.query('select pg_terminate_backend($1)', [pid]);
      const { data, error } = await pending;
      expect(error).toMatchObject({ name: 'AuthRetryableFetchError', status: 503, message: DATABASE_UNAVAILABLE_MESSAGE });
      expect(data.session).toBeNull();
    } finally {
      await locker.query('rollback');
      locker.release();
    }
    // The pool drops the dead connection: the next sign-in works.
    expect((await client(db.config.anonKey).auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' })).error).toBeNull();
  });

  it('while Postgres is unreachable every route that needs it answers 503 in GoTrue\'s shape, and recovers when it is back', async () => {
    const session = (await client(db.config.anonKey).auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' })).data.session!;
    await pg.cut();

    const viaClient = await client(db.config.anonKey).auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' });
    expect(viaClient.error).toMatchObject({ name: 'AuthRetryableFetchError', status: 503, message: DATABASE_UNAVAILABLE_MESSAGE });
    const admin = await client(db.config.serviceRoleKey).auth.admin.listUsers();
    expect(admin.error).toMatchObject({ status: 503 });

    const requests: [string, string, string, unknown?][] = [
      ['POST', '/token?grant_type=password', db.config.anonKey, { email: 'ann@example.com', password: 'secret123' }],
      ['POST', '/token?grant_type=refresh_token', db.config.anonKey, { refresh_token: session.refresh_token }],
      ['POST', '/signup', db.config.anonKey, { email: 'new@example.com', password: 'secret123' }],
      ['POST', '/otp', db.config.anonKey, { email: 'ann@example.com' }],
      ['POST', '/verify', db.config.anonKey, { type: 'magiclink', token_hash: 'abc' }],
      ['GET', '/user', session.access_token],
      ['GET', '/admin/users', db.config.serviceRoleKey],
      ['POST', '/admin/users', db.config.serviceRoleKey, { email: 'bob@example.com' }],
    ];
    for (const [method, path, key, json] of requests) {
      for (const modern of [true, false]) {
        const res = await fetch(`${auth.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(modern ? { 'x-supabase-api-version': '2024-01-01' } : {}) },
          body: json === undefined ? undefined : JSON.stringify(json),
        });
        const text = await res.text();
        expect([method, path, res.status, res.headers.get('x-sb-error-code')]).toEqual([method, path, 503, 'unexpected_failure']);
        expect(JSON.parse(text)).toEqual(
          modern
            ? { code: 'unexpected_failure', message: DATABASE_UNAVAILABLE_MESSAGE }
            : { code: 503, error_code: 'unexpected_failure', msg: DATABASE_UNAVAILABLE_MESSAGE },
        );
        expectNothingInternal(text);
      }
    }
    // An email link followed in the browser: the error travels in the redirect, as an OAuth error.
    const link = await fetch(`${auth.url}/verify?token=abc&type=magiclink&redirect_to=${encodeURIComponent(db.config.auth.siteUrl)}`, { redirect: 'manual' });
    expect(link.status).toBe(303);
    const fragment = new URLSearchParams(new URL(link.headers.get('location')!).hash.slice(1));
    expect([fragment.get('error'), fragment.get('error_code'), fragment.get('error_description')]).toEqual(['temporarily_unavailable', 'unexpected_failure', DATABASE_UNAVAILABLE_MESSAGE]);
    expectNothingInternal(decodeURIComponent(new URL(link.headers.get('location')!).hash));

    await pg.restore();
    const back = await client(db.config.anonKey).auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' });
    expect(back.error).toBeNull();
    expect(back.data.session?.user.email).toBe('ann@example.com');
  });
});
