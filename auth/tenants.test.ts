/**
 * The tenant admin API end to end (auth/routes/tenants/): a user creates a tenant and owns it,
 * invites an address by mail (dev inbox) which accepts after signing up, roles change, custom
 * roles carry permissions, the last owner stays, non-members and other tenants' members are
 * refused; switching the active tenant with a refresh that names it (supabase-js's
 * refreshSession keeps working), and a suspended tenant refused at sign-in and refresh.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

let t: TestStack;
let service: string;

interface Session {
  client: SupabaseClient;
  id: string;
  token: string;
  refresh: string;
}

async function signUp(email: string): Promise<Session> {
  const client = createClient(t.stack.url, t.db.config.anonKey, opts);
  const { data, error } = await client.auth.signUp({ email, password: 'secret123' });
  if (error) throw error;
  return { client, id: data.user!.id, token: data.session!.access_token, refresh: data.session!.refresh_token };
}

async function api(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${t.stack.url}/auth/v1${path}`, {
    method,
    headers: { apikey: t.db.config.anonKey, authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function refresh(refreshToken: string, tenantId?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${t.stack.url}/auth/v1/token?grant_type=refresh_token`, {
    method: 'POST',
    headers: { apikey: t.db.config.anonKey, 'content-type': 'application/json' },
    body: JSON.stringify(tenantId === undefined ? { refresh_token: refreshToken } : { refresh_token: refreshToken, tenant_id: tenantId }),
  });
  return { status: res.status, json: await res.json() };
}

async function invitationToken(email: string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const res = await fetch(`${t.stack.url}/auth/v1/admin/inbox?email=${encodeURIComponent(email)}`, { headers: { apikey: service, authorization: `Bearer ${service}` } });
    const { messages } = (await res.json()) as { messages: { text: string; subject: string }[] };
    const mail = messages.find((m) => m.subject.startsWith('You have been invited to join'));
    if (mail) return new URL(mail.text.match(/https?:\/\/\S+/)![0]).searchParams.get('invitation_token')!;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no invitation mail to ${email}`);
}

beforeAll(async () => {
  t = await startTestStack({ env: { AUTH_BCRYPT_COST: '4', AUTH_AUTOCONFIRM: 'true', AUTH_RATE_LIMIT_EMAIL_SENT: '5' } });
  service = t.db.config.serviceRoleKey;
});
afterAll(() => t?.close());

describe('tenant admin API', () => {
  let owner: Session;
  let tenantId: string;
  let invitee: Session;

  it('a user creating a tenant becomes its owner, is switched into it, and the token says so after a refresh', async () => {
    owner = await signUp('owner@example.com');
    const created = await api(owner.token, 'POST', '/tenants', { name: 'Acme', slug: 'acme' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: 'Acme', slug: 'acme', status: 'active', role: 'owner', member_count: 1 });
    tenantId = created.json.id;
    const { data, error } = await owner.client.auth.refreshSession({ refresh_token: owner.refresh });
    expect(error).toBeNull();
    owner.token = data.session!.access_token;
    owner.refresh = data.session!.refresh_token;
    expect(claimsOf(owner.token)).toMatchObject({ tenant_id: tenantId, tenant_role: 'owner' });
    expect((await api(owner.token, 'GET', '/tenants')).json).toEqual([expect.objectContaining({ id: tenantId, role: 'owner', name: 'Acme' })]);
    // A slug taken, a bad slug, no name: 4xx in GoTrue's shape.
    expect((await api(owner.token, 'POST', '/tenants', { name: 'Other', slug: 'acme' })).status).toBe(422);
    expect((await api(owner.token, 'POST', '/tenants', { name: 'Other', slug: 'Not A Slug' })).json).toMatchObject({ code: 400, error_code: 'validation_failed' });
    expect((await api(owner.token, 'POST', '/tenants', {})).status).toBe(400);
  });

  it('invite → the invitee signs up → accepts → member; a wrong address or a reused token is refused', async () => {
    const sent = await api(owner.token, 'POST', `/tenants/${tenantId}/invitations`, { email: 'invitee@example.com', role: 'member' });
    expect(sent.status).toBe(201);
    expect(sent.json).toMatchObject({ email: 'invitee@example.com', role: 'member', accepted_at: null });
    expect(sent.json.token_hash).toBeUndefined();
    const token = await invitationToken('invitee@example.com');
    const stranger = await signUp('stranger@example.com');
    expect((await api(stranger.token, 'POST', '/invitations/accept', { token })).json).toMatchObject({ code: 403, error_code: 'invitation_email_mismatch' });
    invitee = await signUp('invitee@example.com');
    const accepted = await api(invitee.token, 'POST', '/invitations/accept', { token });
    expect(accepted.status).toBe(200);
    expect(accepted.json).toEqual({ tenant_id: tenantId, role: 'member', active: true });
    expect((await api(invitee.token, 'POST', '/invitations/accept', { token })).json).toMatchObject({ code: 404, error_code: 'invitation_not_found' });
    const refreshed = await refresh(invitee.refresh);
    expect(refreshed.status).toBe(200);
    invitee.token = refreshed.json.access_token;
    invitee.refresh = refreshed.json.refresh_token;
    expect(claimsOf(invitee.token)).toMatchObject({ tenant_id: tenantId, tenant_role: 'member' });
    const members = await api(invitee.token, 'GET', `/tenants/${tenantId}/members`);
    expect(members.json.map((m: { email: string; role: string }) => `${m.email}:${m.role}`).sort()).toEqual(['invitee@example.com:member', 'owner@example.com:owner']);
    const listed = await api(owner.token, 'GET', `/tenants/${tenantId}/invitations`);
    expect(listed.json).toEqual([expect.objectContaining({ email: 'invitee@example.com', accepted_by: invitee.id })]);
  });

  it('a member without members.manage is refused; the owner changes roles; custom roles carry permissions', async () => {
    expect((await api(invitee.token, 'PUT', `/tenants/${tenantId}/members/${owner.id}`, { role: 'member' })).json).toMatchObject({ code: 403, error_code: 'insufficient_permission' });
    expect((await api(invitee.token, 'PUT', `/tenants/${tenantId}/roles/editor`, { permissions: ['projects.write'] })).status).toBe(403);
    const role = await api(owner.token, 'PUT', `/tenants/${tenantId}/roles/editor`, { permissions: ['projects.*', 'members.manage', 'projects.*'], description: 'Edits' });
    expect(role.json).toMatchObject({ name: 'editor', permissions: ['projects.*', 'members.manage'], built_in: false });
    expect((await api(owner.token, 'PUT', `/tenants/${tenantId}/roles/owner`, { permissions: [] })).json).toMatchObject({ error_code: 'role_built_in' });
    expect((await api(owner.token, 'PUT', `/tenants/${tenantId}/roles/bad`, { permissions: ['Not Valid'] })).status).toBe(400);
    expect((await api(owner.token, 'PUT', `/tenants/${tenantId}/members/${invitee.id}`, { role: 'nosuch' })).json).toMatchObject({ error_code: 'role_not_found' });
    expect((await api(owner.token, 'PUT', `/tenants/${tenantId}/members/${invitee.id}`, { role: 'editor' })).json).toMatchObject({ role: 'editor' });
    // With members.manage the editor invites members (projects.read is within projects.*), but
    // cannot make owners nor hand out more than they hold.
    expect((await api(invitee.token, 'POST', `/tenants/${tenantId}/invitations`, { email: 'x@example.com', role: 'member' })).status).toBe(201);
    expect((await api(invitee.token, 'POST', `/tenants/${tenantId}/invitations`, { email: 'y@example.com', role: 'owner' })).status).toBe(403);
    expect((await api(invitee.token, 'PUT', `/tenants/${tenantId}/members/${invitee.id}`, { role: 'admin' })).json).toMatchObject({ error_code: 'insufficient_permission' });
    expect((await api(invitee.token, 'PUT', `/tenants/${tenantId}/members/${owner.id}`, { role: 'member' })).status).toBe(403);
    expect((await api(owner.token, 'DELETE', `/tenants/${tenantId}/roles/editor`)).json).toMatchObject({ error_code: 'role_in_use' });
    const roles = await api(invitee.token, 'GET', `/tenants/${tenantId}/roles`);
    expect(roles.json.map((r: { name: string }) => r.name)).toEqual(['admin', 'member', 'owner', 'editor']);
    expect((await api(invitee.token, 'GET', `/tenants/${tenantId}/roles/editor`)).json.permissions).toEqual(['projects.*', 'members.manage']);
    expect((await api(invitee.token, 'PUT', `/tenants/${tenantId}/roles/helper`, { permissions: ['projects.write'] })).json).toMatchObject({ error_code: 'insufficient_permission' });
  });

  it('the last owner stays an owner; a second owner can then step down; members may leave', async () => {
    expect((await api(owner.token, 'PUT', `/tenants/${tenantId}/members/${owner.id}`, { role: 'member' })).json).toMatchObject({ code: 422, error_code: 'last_owner' });
    expect((await api(owner.token, 'DELETE', `/tenants/${tenantId}/members/${owner.id}`)).json).toMatchObject({ error_code: 'last_owner' });
    expect((await api(owner.token, 'PUT', `/tenants/${tenantId}/members/${invitee.id}`, { role: 'owner' })).json).toMatchObject({ role: 'owner' });
    expect((await api(owner.token, 'PUT', `/tenants/${tenantId}/members/${owner.id}`, { role: 'admin' })).json).toMatchObject({ role: 'admin' });
    expect((await api(invitee.token, 'DELETE', `/tenants/${tenantId}/members/${invitee.id}`)).json).toMatchObject({ error_code: 'last_owner' });
    // Back: the original owner owns it again, the invitee is a member.
    expect((await api(invitee.token, 'PUT', `/tenants/${tenantId}/members/${owner.id}`, { role: 'owner' })).status).toBe(200);
    expect((await api(owner.token, 'PUT', `/tenants/${tenantId}/members/${invitee.id}`, { role: 'member' })).status).toBe(200);
  });

  it('owners stepping down or removing each other concurrently never leave a tenant without an owner', async () => {
    const pool = await Promise.all([0, 1, 2, 3].map((i) => signUp(`co-owner-${i}@example.com`)));
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 4 }),
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        async (n, removes) => {
          const owners = pool.slice(0, n);
          const made = await api(service, 'POST', '/tenants', { name: `Co-owned ${round++}`, owner_id: owners[0].id });
          const id = made.json.id as string;
          for (const o of owners.slice(1)) expect((await api(service, 'PUT', `/tenants/${id}/members/${o.id}`, { role: 'owner' })).status).toBe(200);
          // Every owner demotes or removes themselves at once: exactly one must stay.
          const results = await Promise.all(
            owners.map((o, i) => (removes[i] ? api(o.token, 'DELETE', `/tenants/${id}/members/${o.id}`) : api(o.token, 'PUT', `/tenants/${id}/members/${o.id}`, { role: 'member' }))),
          );
          expect(results.filter((r) => r.status === 422 && r.json.error_code === 'last_owner')).toHaveLength(1);
          expect(results.filter((r) => r.status === 200 || r.status === 204)).toHaveLength(n - 1);
          const { rows } = await t.db.admin.query(`select count(*)::int as n from auth.tenant_members where tenant_id = $1 and role = 'owner'`, [id]);
          expect(rows[0].n).toBe(1);
        },
      ),
      { numRuns: 8 },
    );
  });

  it('non-members and members of another tenant are refused everything in this one', async () => {
    const other = await signUp('other@example.com');
    const globex = await api(other.token, 'POST', '/tenants', { name: 'Globex' });
    expect(globex.status).toBe(201);
    for (const [method, path, body] of [
      ['GET', `/tenants/${tenantId}`],
      ['GET', `/tenants/${tenantId}/members`],
      ['PATCH', `/tenants/${tenantId}`, { name: 'Mine' }],
      ['DELETE', `/tenants/${tenantId}`],
      ['PUT', `/tenants/${tenantId}/members/${other.id}`, { role: 'owner' }],
      ['GET', `/tenants/${tenantId}/roles`],
      ['POST', `/tenants/${tenantId}/invitations`, { email: 'z@example.com', role: 'member' }],
    ] as const) {
      const res = await api(other.token, method, path, body);
      expect(res.json, `${method} ${path}`).toMatchObject({ code: 403, error_code: 'tenant_not_member' });
    }
    // The owner of Acme is refused in Globex likewise, and the list shows each only their own.
    expect((await api(owner.token, 'GET', `/tenants/${globex.json.id}/members`)).status).toBe(403);
    expect((await api(other.token, 'GET', '/tenants')).json.map((x: { id: string }) => x.id)).toEqual([globex.json.id]);
    // A refresh into a tenant one is no member of: 403, GoTrue's shape; the session keeps working.
    const refused = await refresh(other.refresh, tenantId);
    expect(refused).toEqual({ status: 403, json: expect.objectContaining({ code: 403, error_code: 'tenant_not_member' }) });
    expect((await refresh(other.refresh)).status).toBe(200);
    // Malformed ids are 400s, unknown tenants 404s.
    expect((await api(other.token, 'GET', '/tenants/not-a-uuid')).status).toBe(400);
    expect((await api(other.token, 'GET', '/tenants/00000000-0000-4000-8000-000000000000')).json).toMatchObject({ error_code: 'tenant_not_found' });
    expect((await refresh(other.refresh, 'nope')).status).toBe(400);
  });

  it('a member of two tenants switches between them with a refresh naming the tenant', async () => {
    const second = await api(invitee.token, 'POST', '/tenants', { name: 'Side project' });
    expect(second.json.role).toBe('owner');
    const before = await refresh(invitee.refresh);
    expect(claimsOf(before.json.access_token)).toMatchObject({ tenant_id: tenantId, tenant_role: 'member' });
    const switched = await refresh(before.json.refresh_token, second.json.id);
    expect(switched.status).toBe(200);
    expect(switched.json).toMatchObject({ token_type: 'bearer', user: { id: invitee.id, tenant_id: second.json.id } });
    expect(claimsOf(switched.json.access_token)).toMatchObject({ tenant_id: second.json.id, tenant_role: 'owner', app_metadata: { tenant_id: second.json.id } });
    // The active tenant sticks: a plain refresh (supabase-js's) keeps it.
    const { data } = await invitee.client.auth.refreshSession({ refresh_token: switched.json.refresh_token });
    expect(claimsOf(data.session!.access_token)).toMatchObject({ tenant_id: second.json.id, tenant_role: 'owner' });
    const back = await refresh(data.session!.refresh_token, tenantId);
    expect(claimsOf(back.json.access_token)).toMatchObject({ tenant_id: tenantId, tenant_role: 'member' });
    invitee.refresh = back.json.refresh_token;
    invitee.token = back.json.access_token;
  });

  it('suspension: only the platform suspends; members are refused at sign-in, refresh and in the API until resumed', async () => {
    expect((await api(owner.token, 'PATCH', `/tenants/${tenantId}`, { status: 'suspended' })).json).toMatchObject({ code: 403, error_code: 'not_admin' });
    expect((await api(owner.token, 'PATCH', `/tenants/${tenantId}`, { name: 'Acme Inc' })).json).toMatchObject({ name: 'Acme Inc', role: 'owner' });
    const suspended = await api(service, 'PATCH', `/tenants/${tenantId}`, { status: 'suspended' });
    expect(suspended.json).toMatchObject({ status: 'suspended' });
    expect(suspended.json.suspended_at).toEqual(expect.any(String));
    expect((await refresh(invitee.refresh)).json).toMatchObject({ code: 403, error_code: 'tenant_suspended' });
    const signIn = await createClient(t.stack.url, t.db.config.anonKey, opts).auth.signInWithPassword({ email: 'owner@example.com', password: 'secret123' });
    expect(signIn.error?.status).toBe(403);
    expect(signIn.error?.code).toBe('tenant_suspended');
    expect((await api(owner.token, 'GET', `/tenants/${tenantId}/members`)).json).toMatchObject({ error_code: 'tenant_suspended' });
    expect((await api(service, 'PATCH', `/tenants/${tenantId}`, { status: 'active' })).json).toMatchObject({ status: 'active', suspended_at: null });
    expect((await refresh(invitee.refresh)).status).toBe(200);
  });

  it("a tenant's invitation mails are rate limited per hour (AUTH_RATE_LIMIT_EMAIL_SENT); the platform is not", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await api(owner.token, 'POST', `/tenants/${tenantId}/invitations`, { email: `many-${i}@example.com` })).status);
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 201).length).toBeLessThanOrEqual(5);
    expect(statuses.slice(statuses.indexOf(429))).toEqual(statuses.slice(statuses.indexOf(429)).map(() => 429));
    expect((await api(owner.token, 'POST', `/tenants/${tenantId}/invitations`, { email: 'more@example.com' })).json).toMatchObject({ error_code: 'over_email_send_rate_limit' });
    expect((await api(service, 'POST', `/tenants/${tenantId}/invitations`, { email: 'by-service@example.com' })).status).toBe(201);
  });

  it('service_role lists every tenant, creates one for a named owner, and deletes it (members move to another tenant)', async () => {
    const all = await api(service, 'GET', '/tenants');
    const { rows: counted } = await t.db.admin.query(`select count(*)::int as n from public.tenants`);
    expect(all.json.length).toBe(counted[0].n);
    expect(all.json.map((x: { name: string }) => x.name)).toEqual(expect.arrayContaining(['Acme Inc', 'Globex', 'Side project']));
    const made = await api(service, 'POST', '/tenants', { name: 'Made for', owner_id: owner.id });
    expect(made.json).toMatchObject({ role: 'owner', member_count: 1 });
    expect((await api(owner.token, 'POST', '/tenants', { name: 'x', owner_id: invitee.id })).status).toBe(403);
    // An admin (not owner) may not delete; the owner may.
    expect((await api(owner.token, 'PUT', `/tenants/${made.json.id}/members/${invitee.id}`, { role: 'admin' })).status).toBe(200);
    expect((await api(invitee.token, 'DELETE', `/tenants/${made.json.id}`)).json).toMatchObject({ error_code: 'insufficient_permission' });
    // Rows of an app table referencing the tenant keep it: 409, nothing deleted.
    await t.db.admin.query(`create table public.tenant_notes (tenant_id uuid references public.tenants (id)); insert into public.tenant_notes values ('${made.json.id}')`);
    expect((await api(owner.token, 'DELETE', `/tenants/${made.json.id}`)).json).toMatchObject({ code: 409, error_code: 'tenant_in_use' });
    expect((await api(service, 'GET', `/tenants/${made.json.id}/members`)).json).toHaveLength(2);
    await t.db.admin.query(`drop table public.tenant_notes`);
    expect((await api(owner.token, 'DELETE', `/tenants/${made.json.id}`)).status).toBe(204);
    expect((await api(service, 'GET', `/tenants/${made.json.id}`)).status).toBe(404);
    const { rows } = await t.db.admin.query(`select count(*)::int as n from auth.tenant_members where tenant_id = $1`, [made.json.id]);
    expect(rows[0].n).toBe(0);
  });
});
