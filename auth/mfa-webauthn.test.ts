/**
 * WebAuthn MFA factors (AUTH_MFA_WEBAUTHN_ENABLED) with a software authenticator
 * (test/helpers/webauthn-authenticator.ts): enroll through auth-js, the creation ceremony
 * (challenge → attestation → verify) raising the session to aal2 with amr mfa/webauthn, then
 * request ceremonies with signed assertions on a new session; responses for another challenge,
 * origin or key refused; the challenge is spent either way.
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
const fresh = () => createClient(stack.url, db.config.anonKey, opts);
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

/** POST to /auth/v1 with the session of `sb`, as auth-js sends it (GoTrue's wire format). */
async function post(sb: SupabaseClient, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const token = (await sb.auth.getSession()).data.session!.access_token;
  const res = await fetch(`${stack.url}/auth/v1${path}`, {
    method: 'POST',
    headers: { apikey: db.config.anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function signedIn(email: string, signUp = false): Promise<SupabaseClient> {
  const sb = fresh();
  const { error } = signUp ? await sb.auth.signUp({ email, password: 'secret123' }) : await sb.auth.signInWithPassword({ email, password: 'secret123' });
  expect(error).toBeNull();
  return sb;
}

beforeAll(async () => {
  t = await startTestStack({
    env: { AUTH_BCRYPT_COST: '4', AUTH_MFA_WEBAUTHN_ENABLED: 'true', SITE_URL: ORIGIN, AUTH_RATE_LIMIT_MFA: '0', AUTH_WEBAUTHN_RP_DISPLAY_NAME: 'Acme' },
  });
  ({ db, stack } = t);
});

afterAll(() => t?.close());

describe('WebAuthn factors', () => {
  const key = softwareAuthenticator(ORIGIN);
  let factorId = '';

  it('enrolls through auth-js, registers with a creation ceremony and raises the session to aal2', async () => {
    const sb = await signedIn('wendy@example.com', true);
    const { data, error } = await sb.auth.mfa.enroll({ factorType: 'webauthn', friendlyName: 'YubiKey' } as never);
    expect(error).toBeNull();
    expect(data).toMatchObject({ type: 'webauthn', friendly_name: 'YubiKey' });
    factorId = (data as { id: string }).id;

    const ch = await post(sb, `/factors/${factorId}/challenge`, { webauthn: { rp_id: 'app.example.com', rp_origins: [ORIGIN] } });
    expect(ch.status).toBe(200);
    expect(ch.json).toMatchObject({ type: 'webauthn', webauthn: { type: 'create', credential_options: { publicKey: { rp: { id: 'app.example.com', name: 'Acme' }, user: { name: 'wendy@example.com' } } } } });
    const creation = ch.json.webauthn.credential_options.publicKey;

    const verified = await post(sb, `/factors/${factorId}/verify`, { challenge_id: ch.json.id, webauthn: { type: 'create', credential_response: key.create(creation) } });
    expect(verified.status).toBe(200);
    expect(claimsOf(verified.json.access_token)).toMatchObject({ aal: 'aal2', amr: [{ method: 'mfa/webauthn' }, { method: 'password' }] });
    expect(verified.json.user.factors).toEqual([expect.objectContaining({ id: factorId, factor_type: 'webauthn', status: 'verified', web_authn_aaguid: '00000000-0000-0000-0000-000000000000' })]);
    const stored = (await db.admin.query(`select web_authn_credential from auth.mfa_factors where id = $1`, [factorId])).rows[0].web_authn_credential;
    expect(stored).toMatchObject({ id: key.credentialId, counter: 0 });
  });

  it('a new session reaches aal2 with a signed assertion; auth-js sees the factor and the levels', async () => {
    const sb = await signedIn('wendy@example.com');
    expect((await sb.auth.mfa.getAuthenticatorAssuranceLevel()).data).toMatchObject({ currentLevel: 'aal1', nextLevel: 'aal2' });
    expect((await sb.auth.mfa.listFactors()).data?.webauthn.map((f) => f.id)).toEqual([factorId]);
    const ch = await post(sb, `/factors/${factorId}/challenge`, {});
    expect(ch.json.webauthn).toMatchObject({ type: 'request', credential_options: { publicKey: { rpId: 'app.example.com', allowCredentials: [{ id: key.credentialId, type: 'public-key' }] } } });
    const request = ch.json.webauthn.credential_options.publicKey;
    const ok = await post(sb, `/factors/${factorId}/verify`, { challenge_id: ch.json.id, webauthn: { type: 'request', credential_response: key.get(request) } });
    expect(ok.status).toBe(200);
    expect(claimsOf(ok.json.access_token).aal).toBe('aal2');
    expect((await db.admin.query(`select web_authn_credential->'counter' as n from auth.mfa_factors where id = $1`, [factorId])).rows[0].n).toBe(1);
  });

  it('refuses an assertion for another challenge, from another origin or by another key; the challenge is spent', async () => {
    const sb = await signedIn('wendy@example.com');
    const first = await post(sb, `/factors/${factorId}/challenge`, {});
    const second = await post(sb, `/factors/${factorId}/challenge`, {});
    const forFirst = key.get(first.json.webauthn.credential_options.publicKey);
    const crossed = await post(sb, `/factors/${factorId}/verify`, { challenge_id: second.json.id, webauthn: { type: 'request', credential_response: forFirst } });
    expect(crossed).toMatchObject({ status: 422, json: { error_code: 'mfa_verification_failed' } });
    const spent = await post(sb, `/factors/${factorId}/verify`, { challenge_id: second.json.id, webauthn: { type: 'request', credential_response: key.get(second.json.webauthn.credential_options.publicKey) } });
    expect(spent).toMatchObject({ status: 422, json: { error_code: 'mfa_factor_not_found' } });

    const third = await post(sb, `/factors/${factorId}/challenge`, {});
    const phishing = softwareAuthenticator('https://evil.example.com');
    const stranger = await post(sb, `/factors/${factorId}/verify`, { challenge_id: third.json.id, webauthn: { type: 'request', credential_response: phishing.get(third.json.webauthn.credential_options.publicKey) } });
    expect(stranger.status).toBe(422);
    const fourth = await post(sb, `/factors/${factorId}/challenge`, {});
    const wrongType = await post(sb, `/factors/${factorId}/verify`, { challenge_id: fourth.json.id, webauthn: { type: 'create', credential_response: {} } });
    expect(wrongType).toMatchObject({ status: 400, json: { error_code: 'validation_failed' } });
    const noParams = await post(sb, `/factors/${factorId}/verify`, { challenge_id: fourth.json.id });
    expect(noParams).toMatchObject({ status: 400, json: { msg: 'WebAuthn config required' } });
    expect(claimsOf((await sb.auth.getSession()).data.session!.access_token).aal).toBe('aal1');
  });

  it('unenrolls through auth-js (from aal2), and an unverified factor can be removed from aal1', async () => {
    const sb = await signedIn('wendy@example.com');
    expect((await sb.auth.mfa.unenroll({ factorId })).error).toMatchObject({ code: 'insufficient_aal' });
    const ch = await post(sb, `/factors/${factorId}/challenge`, {});
    const ok = await post(sb, `/factors/${factorId}/verify`, { challenge_id: ch.json.id, webauthn: { type: 'request', credential_response: key.get(ch.json.webauthn.credential_options.publicKey) } });
    await sb.auth.setSession({ access_token: ok.json.access_token, refresh_token: ok.json.refresh_token });
    expect((await sb.auth.mfa.unenroll({ factorId })).error).toBeNull();
    expect((await sb.auth.mfa.listFactors()).data?.all).toEqual([]);

    const other = await signedIn('walt@example.com', true);
    const { data } = await other.auth.mfa.enroll({ factorType: 'webauthn', friendlyName: '' } as never);
    expect(data).toMatchObject({ type: 'webauthn', friendly_name: '' });
    expect((await other.auth.mfa.unenroll({ factorId: (data as { id: string }).id })).error).toBeNull();
  });
});
