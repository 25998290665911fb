/**
 * GoTrue's answers where input is bad, through auth-js where it is the client: address validation
 * in the admin API.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../test/helpers/db.ts';
import { body } from '../test/helpers/http.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const INVALID_FORMAT = 'Unable to validate email address: invalid format';

let t: TestStack;
let db: TestDatabase;
let url: string;
let admin: SupabaseClient;
const fresh = () => createClient(url, db.config.anonKey, opts);

/** A raw request to /auth/v1 (modern error shape unless `legacy`). */
async function call(method: string, path: string, o: { key?: string; json?: unknown; legacy?: boolean } = {}) {
  const res = await fetch(`${url}/auth/v1${path}`, {
    method,
    redirect: 'manual',
    headers: {
      apikey: db.config.anonKey,
      authorization: `Bearer ${o.key ?? db.config.anonKey}`,
      'content-type': 'application/json',
      ...(o.legacy ? {} : { 'x-supabase-api-version': '2024-01-01' }),
    },
    body: o.json === undefined ? undefined : JSON.stringify(o.json),
  });
  return { status: res.status, headers: res.headers, body: await body(res) };
}

const userCount = async () => Number((await db.admin.query(`select count(*) from auth.users`)).rows[0].count);

beforeAll(async () => {
  t = await startTestStack({ env: { AUTH_BCRYPT_COST: '4', AUTH_AUTOCONFIRM: 'true' } });
  ({ db } = t);
  url = t.stack.url;
  admin = createClient(url, db.config.serviceRoleKey, opts);
});
afterAll(() => t?.close());

describe('admin API: addresses are validated as GoTrue does', () => {
  // auth-js's own suite uses 'xx:;x@x.x'; the others break the same grammar elsewhere.
  const invalid = ['xx:;x@x.x', 'a', 'a b@example.com', 'ann@exa_mple.com', 'ann@-example.com', 'ann@example..com', '"ann"@example.com', 'ann@'];

  it('createUser, inviteUserByEmail and generateLink refuse a malformed address with 400 validation_failed and create nothing', async () => {
    const before = await userCount();
    for (const email of invalid) {
      const created = await admin.auth.admin.createUser({ email, password: 'password123' });
      expect([email, created.error?.status, created.error?.code, created.error?.message, created.data.user]).toEqual([email, 400, 'validation_failed', INVALID_FORMAT, null]);
      const invited = await admin.auth.admin.inviteUserByEmail(email);
      expect([email, invited.error?.status, invited.error?.message, invited.data.user]).toEqual([email, 400, INVALID_FORMAT, null]);
      const link = await admin.auth.admin.generateLink({ type: 'signup', email, password: 'password123' });
      expect([email, link.error?.status, link.error?.message, link.data.properties]).toEqual([email, 400, INVALID_FORMAT, null]);
      const magic = await admin.auth.admin.generateLink({ type: 'magiclink', email });
      expect([email, magic.error?.message]).toEqual([email, INVALID_FORMAT]);
    }
    expect(await userCount()).toBe(before);
  });

  it('an address over 255 characters, or none at all, gets GoTrue\'s own sentence', async () => {
    const long = `${'a'.repeat(250)}@example.com`;
    expect((await admin.auth.admin.createUser({ email: long })).error).toMatchObject({ status: 400, message: 'An email address is too long' });
    expect((await admin.auth.admin.createUser({ password: 'password123' })).error).toMatchObject({ status: 400, message: 'Cannot create a user without either an email or phone' });
  });

  it('addresses GoTrue accepts are accepted (atext in the local part, a dotless domain)', async () => {
    for (const email of ["o'brien+tag@example.com", 'ann@localhost', 'x.y-z@sub.example-mail.org']) {
      const { data, error } = await admin.auth.admin.createUser({ email, email_confirm: true });
      expect([email, error]).toEqual([email, null]);
      expect(data.user?.email).toBe(email);
    }
  });
});
