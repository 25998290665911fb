/**
 * Passkeys through auth-js (AUTH_PASSKEY_ENABLED) with a software authenticator: registration
 * while signed in, sign-in with the discoverable credential (amr passkey), list / rename /
 * delete, the admin API, and GoTrue's refusals of spent challenges and unknown authenticators.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { softwareAuthenticator } from '../test/helpers/webauthn-authenticator.ts';

const ORIGIN = 'https://app.example.com';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let admin: SupabaseClient;
const fresh = () => createClient(stack.url, db.config.anonKey, opts);
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

beforeAll(async () => {
  t = await startTestStack({ env: { AUTH_BCRYPT_COST: '4', AUTH_PASSKEY_ENABLED: 'true', SITE_URL: ORIGIN } });
  ({ db, stack } = t);
  admin = createClient(stack.url, db.config.serviceRoleKey, opts);
});

afterAll(() => t?.close());

/** startAuthentication + verifyAuthentication with `key`. */
async function signInWith(key: ReturnType<typeof softwareAuthenticator>, userId?: string) {
  const sb = fresh();
  const start = await sb.auth.passkey.startAuthentication();
  expect(start.error).toBeNull();
  const { challenge_id, options } = start.data as unknown as { challenge_id: string; options: { challenge: string; rpId: string; allowCredentials?: unknown[] } };
  return { sb, options, result: await sb.auth.passkey.verifyAuthentication({ challengeId: challenge_id, credential: key.get(options, options.rpId, userId) as never }) };
}

describe('passkeys', () => {
  const key = softwareAuthenticator(ORIGIN);
  let userId = '';
  let passkeyId = '';

  it('a signed-in user registers a passkey (a discoverable credential); the challenge is single use', async () => {
    const sb = fresh();
    const { data: signup } = await sb.auth.signUp({ email: 'pia@example.com', password: 'secret123' });
    userId = signup.user!.id;
    const start = await sb.auth.passkey.startRegistration();
    expect(start.error).toBeNull();
    const { challenge_id, options, expires_at } = start.data as unknown as { challenge_id: string; options: any; expires_at: number };
    expect(options).toMatchObject({ rp: { id: 'app.example.com' }, authenticatorSelection: { residentKey: 'required' }, user: { name: 'pia@example.com' } });
    expect(expires_at - Math.floor(Date.now() / 1000)).toBeGreaterThan(250);
    const credential = key.create(options);
    const done = await sb.auth.passkey.verifyRegistration({ challengeId: challenge_id, credential: credential as never });
    expect(done.error).toBeNull();
    expect(done.data).toMatchObject({ id: expect.any(String), friendly_name: 'Passkey', created_at: expect.any(String) });
    passkeyId = (done.data as { id: string }).id;
    const again = await sb.auth.passkey.verifyRegistration({ challengeId: challenge_id, credential: credential as never });
    expect(again.error).toMatchObject({ status: 400, code: 'webauthn_challenge_not_found', message: 'Challenge not found or already used' });

    // The same authenticator again is excluded, and its credential cannot be stored twice.
    const second = await sb.auth.passkey.startRegistration();
    const secondOptions = (second.data as unknown as { options: { excludeCredentials: { id: string }[] } }).options;
    expect(secondOptions.excludeCredentials.map((c) => c.id)).toEqual([key.credentialId]);
    const twice = await sb.auth.passkey.verifyRegistration({ challengeId: (second.data as unknown as { challenge_id: string }).challenge_id, credential: key.create(secondOptions as never) as never });
    expect(twice.error).toMatchObject({ status: 422, code: 'webauthn_credential_exists' });
  });

  it('signs in with the passkey alone: a session of its user with amr passkey; a challenge cannot be replayed', async () => {
    const { sb, options, result } = await signInWith(key, userId);
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(result.error).toBeNull();
    const session = (result.data as { session: { access_token: string } }).session;
    expect(claimsOf(session.access_token)).toMatchObject({ sub: userId, aal: 'aal1', amr: [{ method: 'passkey' }] });
    expect((await sb.auth.getUser()).data.user?.email).toBe('pia@example.com');
    expect((await sb.auth.passkey.list()).data).toEqual([expect.objectContaining({ id: passkeyId, friendly_name: 'Passkey', last_used_at: expect.any(String) })]);

    const start = await fresh().auth.passkey.startAuthentication();
    const { challenge_id, options: o } = start.data as unknown as { challenge_id: string; options: { challenge: string; rpId: string } };
    const assertion = key.get(o, o.rpId, userId);
    expect((await fresh().auth.passkey.verifyAuthentication({ challengeId: challenge_id, credential: assertion as never })).error).toBeNull();
    const replay = await fresh().auth.passkey.verifyAuthentication({ challengeId: challenge_id, credential: assertion as never });
    expect(replay.error).toMatchObject({ status: 400, code: 'webauthn_challenge_not_found' });
  });

  it('refuses an authenticator never registered, and an assertion for another user handle', async () => {
    const stranger = softwareAuthenticator(ORIGIN);
    const unknown = await signInWith(stranger);
    expect(unknown.result.error).toMatchObject({ status: 400, code: 'webauthn_verification_failed', message: 'Credential verification failed' });
    const otherHandle = await signInWith(key, '00000000-0000-4000-8000-000000000000');
    expect(otherHandle.result.error).toMatchObject({ status: 400, message: 'Invalid user handle in assertion' });
  });

  it('renames and lists passkeys; the admin lists and deletes them, after which they sign nobody in', async () => {
    const { sb } = await signInWith(key, userId);
    const renamed = await sb.auth.passkey.update({ passkeyId, friendlyName: 'Laptop' });
    expect(renamed.data).toMatchObject({ id: passkeyId, friendly_name: 'Laptop' });
    const missing = await sb.auth.passkey.update({ passkeyId: '00000000-0000-4000-8000-000000000000', friendlyName: 'x' });
    expect(missing.error).toMatchObject({ status: 404, message: 'Passkey not found' });
    const empty = await sb.auth.passkey.update({ passkeyId, friendlyName: '  ' });
    expect(empty.error).toMatchObject({ status: 400, message: 'friendly_name is required' });

    const listed = await admin.auth.admin.passkey.listPasskeys({ userId });
    expect(listed.data).toEqual([expect.objectContaining({ id: passkeyId, friendly_name: 'Laptop' })]);
    expect((await admin.auth.admin.passkey.deletePasskey({ userId, passkeyId })).error).toBeNull();
    expect((await sb.auth.passkey.list()).data).toEqual([]);
    const after = await signInWith(key, userId);
    expect(after.result.error).toMatchObject({ code: 'webauthn_verification_failed' });
  });

  it('a user deletes its own passkey (204)', async () => {
    const sb = fresh();
    expect((await sb.auth.signInWithPassword({ email: 'pia@example.com', password: 'secret123' })).error).toBeNull();
    const other = softwareAuthenticator(ORIGIN);
    const start = await sb.auth.passkey.startRegistration();
    const { challenge_id, options } = start.data as unknown as { challenge_id: string; options: any };
    const done = await sb.auth.passkey.verifyRegistration({ challengeId: challenge_id, credential: other.create(options) as never });
    const id = (done.data as { id: string }).id;
    expect((await sb.auth.passkey.delete({ passkeyId: id })).error).toBeNull();
    expect((await sb.auth.passkey.list()).data).toEqual([]);
  });
});
