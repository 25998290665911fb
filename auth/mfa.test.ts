/**
 * MFA with TOTP through the official client (auth-js's `mfa.*` and `admin.mfa.*`) against the
 * embedded stack: enrolment with a QR code, challenge and verify to aal2 (amr claims as GoTrue's),
 * GoTrue's refusals, sessions ended and lowered as GoTrue does, and an RLS policy on
 * `auth.jwt()->>'aal'` through REST.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { totpCode, validTotp } from './totp.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let admin: SupabaseClient;

const fresh = () => createClient(stack.url, db.config.anonKey, { auth: { persistSession: false, autoRefreshToken: false } });
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
const PASSWORD = 'secret123';

async function signedIn(email: string): Promise<SupabaseClient> {
  const sb = fresh();
  const { error } = await sb.auth.signInWithPassword({ email, password: PASSWORD });
  expect(error).toBeNull();
  return sb;
}

async function newUser(email: string): Promise<SupabaseClient> {
  const sb = fresh();
  const { error } = await sb.auth.signUp({ email, password: PASSWORD });
  expect(error).toBeNull();
  return sb;
}

/** Enrols a TOTP factor and verifies it: the factor id and its secret; `sb` is then aal2. */
async function enrollVerified(sb: SupabaseClient, friendlyName: string): Promise<{ id: string; secret: string }> {
  const { data, error } = await sb.auth.mfa.enroll({ factorType: 'totp', friendlyName });
  expect(error).toBeNull();
  const enrolled = data as { id: string; totp: { secret: string } };
  const verified = await sb.auth.mfa.challengeAndVerify({ factorId: enrolled.id, code: totpCode(enrolled.totp.secret) });
  expect(verified.error).toBeNull();
  return { id: enrolled.id, secret: enrolled.totp.secret };
}

beforeAll(async () => {
  t = await startTestStack({
    env: { AUTH_BCRYPT_COST: '4', AUTH_MFA_MAX_ENROLLED_FACTORS: '3', AUTH_RATE_LIMIT_MFA: '0', SITE_URL: 'https://app.example.com' },
    sql: `
    create table public.vault (id int primary key, secret text);
    insert into public.vault values (1, 'launch codes');
    alter table public.vault enable row level security;
    grant select on public.vault to authenticated;
    create policy aal2_only on public.vault for select to authenticated using ((auth.jwt() ->> 'aal') = 'aal2');
  `,
  });
  ({ db, stack } = t);
  admin = createClient(stack.url, db.config.serviceRoleKey, { auth: { persistSession: false, autoRefreshToken: false } });
});

afterAll(() => t?.close());

describe('TOTP codes (RFC 6238)', () => {
  // RFC 6238 appendix B: the SHA-1 secret "12345678901234567890" gives 94287082 at T = 59 s (6 digits: 287082).
  const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  it('computes the RFC test vector and accepts one step of skew either way, no more', () => {
    expect(totpCode(RFC_SECRET, 59_000)).toBe('287082');
    expect(totpCode(RFC_SECRET, 1_111_111_109_000)).toBe('081804');
    expect(validTotp(RFC_SECRET, '287082', 59_000)).toBe(true);
    expect(validTotp(RFC_SECRET, '287082', 59_000 + 30_000)).toBe(true);
    expect(validTotp(RFC_SECRET, '287082', 59_000 + 60_000)).toBe(false);
    expect(validTotp(RFC_SECRET, '287083', 59_000)).toBe(false);
    expect(validTotp(RFC_SECRET, '28708', 59_000)).toBe(false);
  });
});

describe('enrol, challenge, verify', () => {
  it('enrols a TOTP factor with a secret, an otpauth URI and an SVG QR code; it is listed unverified', async () => {
    const sb = await newUser('tina@example.com');
    const { data, error } = await sb.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'Phone app' });
    expect(error).toBeNull();
    const enrolled = data as { id: string; type: string; friendly_name: string; totp: { qr_code: string; secret: string; uri: string } };
    expect(enrolled).toMatchObject({ type: 'totp', friendly_name: 'Phone app' });
    expect(enrolled.totp.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(enrolled.totp.uri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/app.example.com:tina@example.com');
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({ secret: enrolled.totp.secret, issuer: 'app.example.com', algorithm: 'SHA1', digits: '6', period: '30' });
    // GoTrue answers the SVG itself; auth-js makes it a data URI.
    expect(enrolled.totp.qr_code).toMatch(/^data:image\/svg\+xml;utf-8,<svg[\s\S]*<\/svg>\s*$/);

    const listed = await sb.auth.mfa.listFactors();
    expect(listed.data?.all).toEqual([expect.objectContaining({ id: enrolled.id, factor_type: 'totp', status: 'unverified', friendly_name: 'Phone app' })]);
    expect(listed.data?.totp).toEqual([]);
    const aal = await sb.auth.mfa.getAuthenticatorAssuranceLevel();
    expect(aal.data).toMatchObject({ currentLevel: 'aal1', nextLevel: 'aal1' });
    expect(aal.data?.currentAuthenticationMethods).toEqual([{ method: 'password', timestamp: expect.any(Number) }]);
  });

  it('the raw answer is GoTrue\'s: the SVG markup itself, no secret in the user\'s factors', async () => {
    const sb = await newUser('raw@example.com');
    const token = (await sb.auth.getSession()).data.session!.access_token;
    const res = await fetch(`${stack.url}/auth/v1/factors`, {
      method: 'POST',
      headers: { apikey: db.config.anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ factor_type: 'totp' }),
    });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { id: string; friendly_name: string; totp: { qr_code: string } };
    expect(json.totp.qr_code).toMatch(/^<svg/);
    expect(json.friendly_name).toBe('');
    const user = (await sb.auth.getUser()).data.user as unknown as { factors: Record<string, unknown>[] };
    expect(user.factors).toEqual([{ id: json.id, factor_type: 'totp', status: 'unverified', created_at: expect.any(String), updated_at: expect.any(String), phone: '', last_challenged_at: null }]);
  });

  it('challenge and verify raise the session to aal2 with amr [totp, password], a new refresh token, and end other aal1 sessions', async () => {
    const sb = await signedIn('tina@example.com');
    const other = await signedIn('tina@example.com');
    const factorId = (await sb.auth.mfa.listFactors()).data!.all[0].id;
    const secret = (await db.admin.query(`select secret from auth.mfa_factors where id = $1`, [factorId])).rows[0].secret as string;
    const before = (await sb.auth.getSession()).data.session!;

    const ch = await sb.auth.mfa.challenge({ factorId });
    expect(ch.error).toBeNull();
    expect(ch.data).toMatchObject({ id: expect.any(String), type: 'totp' });
    const expiresAt = (ch.data as { expires_at: number }).expires_at;
    expect(Math.abs(expiresAt - (Math.floor(Date.now() / 1000) + 300))).toBeLessThan(5);

    const wrong = await sb.auth.mfa.verify({ factorId, challengeId: ch.data!.id, code: totpCode(secret, Date.now() - 5 * 60_000) });
    expect(wrong.error).toMatchObject({ status: 422, code: 'mfa_verification_failed', message: 'Invalid TOTP code entered' });

    const ok = await sb.auth.mfa.verify({ factorId, challengeId: ch.data!.id, code: totpCode(secret) });
    expect(ok.error).toBeNull();
    expect(ok.data?.refresh_token).not.toBe(before.refresh_token);
    const claims = claimsOf(ok.data!.access_token);
    expect(claims.aal).toBe('aal2');
    expect(claims.session_id).toBe(claimsOf(before.access_token).session_id);
    expect(claims.amr.map((m: { method: string }) => m.method)).toEqual(['totp', 'password']);
    expect(claims.amr[0].timestamp).toBeGreaterThanOrEqual(claims.amr[1].timestamp);
    expect((ok.data!.user as unknown as { factors: { status: string }[] }).factors[0].status).toBe('verified');

    const aal = await sb.auth.mfa.getAuthenticatorAssuranceLevel();
    expect(aal.data).toMatchObject({ currentLevel: 'aal2', nextLevel: 'aal2' });
    expect((await sb.auth.mfa.listFactors()).data?.totp.map((f) => f.id)).toEqual([factorId]);

    // The challenge is spent; the session signed in next to it (aal1) is gone.
    const again = await sb.auth.mfa.verify({ factorId, challengeId: ch.data!.id, code: totpCode(secret) });
    expect(again.error).toMatchObject({ status: 422, code: 'mfa_ip_address_mismatch' });
    const otherSession = (await other.auth.getSession()).data.session!;
    const gone = await fetch(`${stack.url}/auth/v1/user`, { headers: { apikey: db.config.anonKey, authorization: `Bearer ${otherSession.access_token}` } });
    expect(gone.status).toBe(403);
    expect(((await gone.json()) as { error_code: string }).error_code).toBe('session_not_found');
    // The old refresh token was rotated: within the reuse interval it answers the raised session.
    const refreshed = await sb.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    expect(claimsOf(refreshed.data.session!.access_token)).toMatchObject({ aal: 'aal2', amr: [{ method: 'totp' }, { method: 'password' }] });
  });

  it('an RLS policy on auth.jwt()->>\'aal\' lets only aal2 sessions read, through REST', async () => {
    const sb = await signedIn('tina@example.com');
    expect((await sb.from('vault').select('*')).data).toEqual([]);
    const aal = await sb.auth.mfa.getAuthenticatorAssuranceLevel();
    expect(aal.data).toMatchObject({ currentLevel: 'aal1', nextLevel: 'aal2' });
    const factorId = (await sb.auth.mfa.listFactors()).data!.totp[0].id;
    const secret = (await db.admin.query(`select secret from auth.mfa_factors where id = $1`, [factorId])).rows[0].secret as string;
    const ok = await sb.auth.mfa.challengeAndVerify({ factorId, code: totpCode(secret) });
    expect(ok.error).toBeNull();
    expect((await sb.from('vault').select('*')).data).toEqual([{ id: 1, secret: 'launch codes' }]);
  });
});

describe('GoTrue\'s refusals', () => {
  it('aal2 is required to enrol a second factor or unenrol a verified one; friendly names are unique; the count is capped', async () => {
    const owner = await newUser('cap@example.com');
    const { id, secret } = await enrollVerified(owner, 'first');
    const aal1 = await signedIn('cap@example.com');
    const enroll = await aal1.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'second' });
    expect(enroll.error).toMatchObject({ status: 403, code: 'insufficient_aal', message: 'AAL2 required to enroll a new factor' });
    const unenroll = await aal1.auth.mfa.unenroll({ factorId: id });
    expect(unenroll.error).toMatchObject({ status: 422, code: 'insufficient_aal', message: 'AAL2 required to unenroll verified factor' });

    expect((await aal1.auth.mfa.challengeAndVerify({ factorId: id, code: totpCode(secret) })).error).toBeNull();
    const dup = await aal1.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'first' });
    expect(dup.error).toMatchObject({ status: 422, code: 'mfa_factor_name_conflict', message: 'A factor with the friendly name "first" for this user already exists' });
    expect((await aal1.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'second' })).error).toBeNull();
    expect((await aal1.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'third' })).error).toBeNull();
    const fourth = await aal1.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'fourth' });
    expect(fourth.error).toMatchObject({ status: 422, code: 'too_many_enrolled_mfa_factors' });
    // Verifying one TOTP factor removes the user's other unverified TOTP factors.
    const second = (await aal1.auth.mfa.listFactors()).data!.all.find((f) => f.friendly_name === 'second')!;
    const secondSecret = (await db.admin.query(`select secret from auth.mfa_factors where id = $1`, [second.id])).rows[0].secret as string;
    expect((await aal1.auth.mfa.challengeAndVerify({ factorId: second.id, code: totpCode(secondSecret) })).error).toBeNull();
    expect((await aal1.auth.mfa.listFactors()).data!.all.map((f) => [f.friendly_name, f.status])).toEqual([
      ['first', 'verified'],
      ['second', 'verified'],
    ]);
  });

  it('phone and WebAuthn factors answer as GoTrue with them off; bad types, anonymous users and foreign factors are refused', async () => {
    const sb = await newUser('types@example.com');
    const phone = await sb.auth.mfa.enroll({ factorType: 'phone', phone: '+15555550100' });
    expect(phone.error).toMatchObject({ status: 422, code: 'mfa_phone_enroll_not_enabled', message: 'MFA enroll is disabled for Phone' });
    const webauthn = await sb.auth.mfa.enroll({ factorType: 'webauthn' } as never);
    expect(webauthn.error).toMatchObject({ status: 422, code: 'mfa_webauthn_enroll_not_enabled', message: 'MFA enroll is disabled for WebAuthn' });
    const other = await sb.auth.mfa.enroll({ factorType: 'sms' } as never);
    expect(other.error).toMatchObject({ status: 400, code: 'validation_failed', message: 'factor_type needs to be totp, phone, or webauthn' });

    const anon = fresh();
    expect((await anon.auth.signInAnonymously()).error).toBeNull();
    const anonEnroll = await anon.auth.mfa.enroll({ factorType: 'totp' });
    expect(anonEnroll.error).toMatchObject({ status: 403, code: 'no_authorization', message: 'Anonymous user not allowed to perform these actions' });

    const foreign = (await db.admin.query(`select id from auth.mfa_factors limit 1`)).rows[0].id as string;
    const ch = await sb.auth.mfa.challenge({ factorId: foreign });
    expect(ch.error).toMatchObject({ status: 404, code: 'mfa_factor_not_found', message: 'Factor not found' });
    const notUuid = await sb.auth.mfa.challenge({ factorId: 'nope' });
    expect(notUuid.error).toMatchObject({ status: 404, code: 'validation_failed', message: 'factor_id must be an UUID' });
  });

  it('a challenge answers only the address that asked for it, and expires after 300 s', async () => {
    const sb = await newUser('expiry@example.com');
    const { data } = await sb.auth.mfa.enroll({ factorType: 'totp' });
    const { id: factorId, totp } = data as { id: string; totp: { secret: string } };
    const moved = await sb.auth.mfa.challenge({ factorId });
    await db.admin.query(`update auth.mfa_challenges set ip_address = '203.0.113.9' where id = $1`, [moved.data!.id]);
    const elsewhere = await sb.auth.mfa.verify({ factorId, challengeId: moved.data!.id, code: totpCode(totp.secret) });
    expect(elsewhere.error).toMatchObject({ status: 422, code: 'mfa_ip_address_mismatch', message: 'Challenge and verify IP addresses mismatch.' });

    const old = await sb.auth.mfa.challenge({ factorId });
    await db.admin.query(`update auth.mfa_challenges set created_at = now() - interval '301 seconds' where id = $1`, [old.data!.id]);
    const late = await sb.auth.mfa.verify({ factorId, challengeId: old.data!.id, code: totpCode(totp.secret) });
    expect(late.error).toMatchObject({ status: 422, code: 'mfa_challenge_expired', message: `MFA challenge ${old.data!.id} has expired, verify against another challenge or create a new challenge.` });
    expect((await db.admin.query(`select 1 from auth.mfa_challenges where id = $1`, [old.data!.id])).rowCount).toBe(0);
    const unknown = await sb.auth.mfa.verify({ factorId, challengeId: '00000000-0000-4000-8000-000000000000', code: '123456' });
    expect(unknown.error).toMatchObject({ status: 422, code: 'mfa_factor_not_found' });
    const empty = await sb.auth.mfa.verify({ factorId, challengeId: old.data!.id, code: '' });
    expect(empty.error).toMatchObject({ status: 400, code: 'validation_failed', message: 'Code needs to be non-empty' });
  });
});

describe('unenrol and the admin API', () => {
  it('unenrolling from aal2 lowers the sessions the factor raised to aal1 without its amr entry', async () => {
    const sb = await newUser('leave@example.com');
    const { id } = await enrollVerified(sb, 'only');
    const gone = await sb.auth.mfa.unenroll({ factorId: id });
    expect(gone.error).toBeNull();
    expect(gone.data).toEqual({ id });
    const refreshed = await sb.auth.refreshSession();
    expect(claimsOf(refreshed.data.session!.access_token)).toMatchObject({ aal: 'aal1', amr: [{ method: 'password' }] });
    expect((await sb.auth.mfa.listFactors()).data?.all).toEqual([]);
    expect((await sb.auth.mfa.getAuthenticatorAssuranceLevel()).data).toMatchObject({ currentLevel: 'aal1', nextLevel: 'aal1' });
  });

  it('admin.mfa.listFactors and deleteFactor (the deleted factor answered, its sessions lowered); users and factors not found', async () => {
    const sb = await newUser('adm@example.com');
    const userId = (await sb.auth.getUser()).data.user!.id;
    const { id } = await enrollVerified(sb, 'key');
    const listed = await admin.auth.admin.mfa.listFactors({ userId });
    expect(listed.error).toBeNull();
    expect(listed.data?.factors).toEqual([expect.objectContaining({ id, factor_type: 'totp', status: 'verified', friendly_name: 'key' })]);
    expect(JSON.stringify(listed.data)).not.toContain('secret');

    const deleted = await admin.auth.admin.mfa.deleteFactor({ userId, id });
    expect(deleted.error).toBeNull();
    // auth-js hands deleteFactor's answer back wrapped ({data: factor, error: null}), GoTrue's factor inside.
    expect(deleted.data).toMatchObject({ data: { id, status: 'verified', factor_type: 'totp' } });
    expect((await admin.auth.admin.mfa.listFactors({ userId })).data?.factors).toEqual([]);
    const refreshed = await sb.auth.refreshSession();
    expect(claimsOf(refreshed.data.session!.access_token).aal).toBe('aal1');

    const again = await admin.auth.admin.mfa.deleteFactor({ userId, id });
    expect(again.error).toMatchObject({ status: 404, code: 'mfa_factor_not_found' });
    const nobody = await admin.auth.admin.mfa.listFactors({ userId: '00000000-0000-4000-8000-000000000000' });
    expect(nobody.error).toMatchObject({ status: 404, code: 'user_not_found' });
    const notAdmin = await sb.auth.admin.mfa.listFactors({ userId });
    expect(notAdmin.error).toMatchObject({ status: 403, code: 'not_admin' });
  });
});
