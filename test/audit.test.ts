/**
 * The audit log through the real stack and its official clients: a mixed workload (supabase-js
 * sign-up, sign-in, a failed sign-in, MFA enrol/verify/failed verify/unenrol, a password change,
 * refresh-token reuse, logout, the admin API, a membership through the tenant admin API, a DDL, a
 * bucket created, changed and deleted with storage-js) lands in the chain, which verifies; a tenant owner reads exactly their tenant's
 * entries through REST (`.schema('audit')`), a member and another tenant's owner none of them,
 * anon nothing; no API role can write.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditLog } from '../audit/verify.ts';
import { totpCode } from '../auth/totp.ts';
import { testToken } from './helpers/db.ts';
import { startTestStack, type TestStack } from './helpers/stack.ts';

const TENANT_A = '00000000-0000-4000-8000-0000000000a1';
const TENANT_B = '00000000-0000-4000-8000-0000000000b2';
const PASSWORD = 'secret123';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

let t: TestStack;
let service: SupabaseClient;
let userA = '';
let userB = '';
let firstId = 0;

const client = (key: string, token?: string) =>
  createClient(t.stack.url, key, token ? { ...opts, global: { headers: { Authorization: `Bearer ${token}` } } } : opts);

interface Row {
  id: string;
  action: string;
  target: string | null;
  tenant_id: string | null;
  actor_id: string | null;
  actor_role: string | null;
  ip: string | null;
  detail: Record<string, unknown>;
}

const since = async (): Promise<Row[]> => (await t.db.admin.query<Row>(`select * from audit.entries where id > $1 order by id`, [firstId])).rows;

beforeAll(async () => {
  t = await startTestStack({
    env: { AUTH_BCRYPT_COST: '4', AUTH_RATE_LIMIT_MFA: '0', AUTH_REFRESH_REUSE_INTERVAL: '0', REST_SCHEMAS: 'public,audit' },
    sql: `insert into public.tenants (id, name) values ('${TENANT_A}', 'A'), ('${TENANT_B}', 'B');`,
  });
  service = client(t.db.config.serviceRoleKey);
  firstId = Number((await t.db.admin.query(`select coalesce(max(id), 0) as id from audit.entries`)).rows[0].id);

  // Tenant A's user: sign-up through the tenant's key, sign-in, a wrong password, MFA, a new password, logout.
  const keyA = await testToken({ role: 'anon', tenant_id: TENANT_A });
  const a = client(keyA);
  const signedUp = await a.auth.signUp({ email: 'ann@a.example', password: PASSWORD });
  expect(signedUp.error).toBeNull();
  userA = signedUp.data.user!.id;
  expect((await a.auth.signInWithPassword({ email: 'ann@a.example', password: 'wrong-password' })).error?.message).toBe('Invalid login credentials');
  expect((await a.auth.signInWithPassword({ email: 'nobody@a.example', password: 'wrong-password' })).error?.message).toBe('Invalid login credentials');
  expect((await a.auth.signInWithPassword({ email: 'ann@a.example', password: PASSWORD })).error).toBeNull();
  const enrolled = await a.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'phone' });
  expect(enrolled.error).toBeNull();
  const factor = enrolled.data as { id: string; totp: { secret: string } };
  const wrong = await a.auth.mfa.challengeAndVerify({ factorId: factor.id, code: totpCode(factor.totp.secret) === '000000' ? '111111' : '000000' });
  expect(wrong.error).not.toBeNull();
  expect((await a.auth.mfa.challengeAndVerify({ factorId: factor.id, code: totpCode(factor.totp.secret) })).error).toBeNull();
  expect((await a.auth.updateUser({ password: 'another-secret-1' })).error).toBeNull();
  expect((await a.auth.mfa.unenroll({ factorId: factor.id })).error).toBeNull();
  // A refresh token used twice: the second use is a replay.
  const { data: current } = await a.auth.getSession();
  const stale = current.session!.refresh_token;
  expect((await a.auth.refreshSession({ refresh_token: stale })).error).toBeNull();
  expect((await client(keyA).auth.refreshSession({ refresh_token: stale })).error).not.toBeNull();
  const again = client(keyA);
  expect((await again.auth.signInWithPassword({ email: 'ann@a.example', password: 'another-secret-1' })).error).toBeNull();
  expect((await again.auth.signOut()).error).toBeNull();

  // Tenant B's user.
  const b = client(await testToken({ role: 'anon', tenant_id: TENANT_B }));
  const bUp = await b.auth.signUp({ email: 'bob@b.example', password: PASSWORD });
  expect(bUp.error).toBeNull();
  userB = bUp.data.user!.id;

  // The admin API.
  const made = await service.auth.admin.createUser({ email: 'made@a.example', password: PASSWORD, app_metadata: { tenant_id: TENANT_A } });
  expect(made.error).toBeNull();
  expect((await service.auth.admin.updateUserById(made.data.user!.id, { user_metadata: { team: 'x' } })).error).toBeNull();
  expect((await service.auth.admin.deleteUser(made.data.user!.id)).error).toBeNull();

  // Tenancy: a membership given and taken back by service_role through the tenant admin API.
  const key = t.db.config.serviceRoleKey;
  const tenantApi = (method: string, route: string, body?: unknown) =>
    fetch(`${t.stack.url}/auth/v1${route}`, { method, headers: { apikey: key, authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  expect((await tenantApi('PUT', `/tenants/${TENANT_B}/members/${userA}`, { role: 'admin' })).status).toBe(200);
  expect((await tenantApi('DELETE', `/tenants/${TENANT_B}/members/${userA}`)).ok).toBe(true);

  // A DDL and a bucket's life through storage-js.
  await t.db.admin.query(`create table public.audit_probe (id int primary key)`);
  expect((await service.storage.createBucket('audit-bucket', { public: false })).error).toBeNull();
  expect((await service.storage.updateBucket('audit-bucket', { public: true })).error).toBeNull();
  expect((await service.storage.deleteBucket('audit-bucket')).error).toBeNull();
});

afterAll(async () => {
  await t?.close();
});

describe('the workload in the chain', () => {
  it('has every auth event, the DDL and the bucket changes, and verifies', async () => {
    const rows = await since();
    const find = (action: string, match: Partial<Row> = {}) => rows.filter((r) => r.action === action && Object.entries(match).every(([k, v]) => JSON.stringify((r as unknown as Record<string, unknown>)[k]) === JSON.stringify(v)));
    const forA = { target: userA, tenant_id: TENANT_A };
    expect(find('auth.user_signedup', { ...forA, actor_id: userA })).toHaveLength(1);
    expect(find('auth.user_signedup', { target: userB, tenant_id: TENANT_B })).toHaveLength(1);
    // A wrong password for a known user names the user (not as the actor); an unknown address is anonymous.
    expect(find('auth.login_failed', { ...forA, actor_id: null, actor_role: 'anon' })).toHaveLength(1);
    expect(find('auth.login_failed', { target: null, tenant_id: null, actor_role: 'anon' })).toHaveLength(1);
    expect(find('auth.login', { ...forA, actor_id: userA, actor_role: 'authenticated' }).length).toBeGreaterThanOrEqual(3);
    expect(find('auth.factor_in_progress', forA)).toHaveLength(1);
    expect(find('auth.verification_failed', forA)).toHaveLength(1);
    expect(find('auth.verification_attempted', forA)).toHaveLength(1);
    expect(find('auth.user_updated_password', forA)).toHaveLength(1);
    expect(find('auth.factor_unenrolled', forA)).toHaveLength(1);
    expect(find('auth.token_revoked', forA).map((r) => r.detail.reason)).toEqual(['refresh_token_reused']);
    expect(find('auth.logout', forA)).toHaveLength(1);
    const admin = rows.filter((r) => r.actor_role === 'service_role' && r.action.startsWith('auth.') && !r.action.startsWith('auth.tenant_')).map((r) => [r.action, r.tenant_id]);
    expect(admin).toEqual([['auth.user_signedup', TENANT_A], ['auth.user_modified', TENANT_A], ['auth.user_deleted', TENANT_A]]);
    expect(find('auth.login').every((r) => r.ip !== null)).toBe(true);
    const memberships = rows.filter((r) => r.action.startsWith('auth.tenant_members.') && r.tenant_id === TENANT_B && JSON.parse(r.target!).user_id === userA).map((r) => [r.action, r.actor_role, JSON.parse(r.target!)]);
    const key = { tenant_id: TENANT_B, user_id: userA };
    expect(memberships).toEqual([['auth.tenant_members.insert', 'service_role', key], ['auth.tenant_members.delete', 'service_role', key]]);
    // Sign-up through a tenant key made a membership too.
    expect(rows.filter((r) => r.action === 'auth.tenant_members.insert' && r.tenant_id === TENANT_A && JSON.parse(r.target!).user_id === userA)).toHaveLength(1);
    expect(find('ddl.create_table', { target: 'public.audit_probe' })).toHaveLength(1);
    expect(rows.filter((r) => r.action.startsWith('storage.buckets.')).map((r) => [r.action, r.target])).toEqual([
      ['storage.buckets.insert', 'audit-bucket'],
      ['storage.buckets.update', 'audit-bucket'],
      ['storage.buckets.delete', 'audit-bucket'],
    ]);
    expect(find('storage.buckets.update')[0].detail).toEqual({ old: { public: false, updated_at: expect.any(String) }, new: { public: true, updated_at: expect.any(String) } });
    // Secrets never reach the log.
    const text = JSON.stringify(rows);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toMatch(/encrypted_password|refresh_token"\s*:\s*"/);
    expect(await verifyAuditLog(t.db.admin)).toMatchObject({ ok: true });
  });
});

describe('reading through REST', () => {
  const tokenFor = (sub: string, tenant: string, role: string) =>
    testToken({ sub, role: 'authenticated', aud: 'authenticated', tenant_id: tenant, tenant_role: role });
  const entriesAs = async (token: string) => client(t.db.config.anonKey, token).schema('audit').from('entries').select('id, tenant_id, action').order('id');

  it('a tenant owner reads exactly their tenant\'s entries', async () => {
    const { data, error } = await entriesAs(await tokenFor(userA, TENANT_A, 'owner'));
    expect(error).toBeNull();
    const expected = (await t.db.admin.query(`select id::int from audit.entries where tenant_id = $1 order by id`, [TENANT_A])).rows.map((r) => r.id);
    expect(expected.length).toBeGreaterThan(10);
    expect(data!.map((r) => Number(r.id))).toEqual(expected);
    expect(new Set(data!.map((r) => r.tenant_id))).toEqual(new Set([TENANT_A]));
  });

  it('a member of the tenant and another tenant\'s owner read none of them', async () => {
    const member = await entriesAs(await tokenFor(userA, TENANT_A, 'member'));
    expect(member.error).toBeNull();
    expect(member.data).toEqual([]);
    const ownerB = await entriesAs(await tokenFor(userB, TENANT_B, 'owner'));
    expect(ownerB.error).toBeNull();
    expect(ownerB.data!.length).toBeGreaterThan(0);
    expect(ownerB.data!.every((r) => r.tenant_id === TENANT_B)).toBe(true);
    // An owner claim without a tenant reads nothing either (the NULL-tenant entries stay private).
    const { data } = await entriesAs(await testToken({ sub: userA, role: 'authenticated', tenant_role: 'owner' }));
    expect(data).toEqual([]);
  });

  it('anon reads nothing; service_role reads every entry', async () => {
    const anon = await client(t.db.config.anonKey).schema('audit').from('entries').select('id');
    expect(anon.data).toBeNull();
    expect(anon.error?.code).toBe('42501');
    const all = await service.schema('audit').from('entries').select('id', { count: 'exact', head: true });
    const { rows } = await t.db.admin.query(`select count(*)::int as n from audit.entries`);
    expect(all.count).toBe(rows[0].n);
  });

  it('no API role inserts, updates or deletes an entry, nor calls the writer', async () => {
    const owner = client(t.db.config.anonKey, await tokenFor(userA, TENANT_A, 'owner'));
    for (const sb of [client(t.db.config.anonKey), owner, service]) {
      const ins = await sb.schema('audit').from('entries').insert({ id: 10_000_000, at: new Date().toISOString(), action: 'forged', prev_hash: '', hash: '' });
      expect(ins.error?.code).toBe('42501');
      const upd = await sb.schema('audit').from('entries').update({ action: 'forged' }).gte('id', 0);
      expect(upd.error?.code).toBe('42501');
      const del = await sb.schema('audit').from('entries').delete().gte('id', 0);
      expect(del.error?.code).toBe('42501');
      const rpc = await sb.schema('audit').rpc('append', { p_action: 'forged' });
      expect(rpc.error).not.toBeNull();
    }
    expect(await verifyAuditLog(t.db.admin)).toMatchObject({ ok: true });
    expect((await t.db.admin.query(`select count(*)::int as n from audit.entries where action = 'forged'`)).rows[0].n).toBe(0);
  });
});
