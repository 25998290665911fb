/**
 * Two instances of the embedded stack on one database, one Redis and one DATA_DIR (compose's
 * scaled services share db, redis and the storage volume), driven through supabase-js and fetch
 * alternately, as a load balancer would spread a client's requests: sign up on A and sign in on
 * B, a row written through one read through the other (the other tenant seeing none of it), an
 * object uploaded on one downloaded on the other, a TUS upload started on A and finished on B, a
 * TUS lock held by A's request released for B's (storage/tus-locker.ts), auth's per-address limit
 * counted across both (auth/rate-limit.ts), and realtime: a broadcast sent on A received on B, a
 * row change delivered on both whichever instance leads the replication slot.
 */
import http from 'node:http';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type RunningStack } from '../cli/stack.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { TENANT_A, TENANT_B, twoTenantsSql } from './helpers/two-tenants.ts';
import { until } from './helpers/wait.ts';

const A = TENANT_A;
const B = TENANT_B;
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const OTP_LIMIT = 4;

const SQL = `
  ${twoTenantsSql('posts')}
  alter publication nextmavens_realtime add table public.posts;
  insert into storage.buckets (id, name, public) values ('files', 'files', false);
  create policy files_own on storage.objects for all to authenticated
    using (bucket_id = 'files' and owner_id = auth.uid()::text) with check (bucket_id = 'files');
`;

describe('two stateless instances on one database and Redis', () => {
  let db: TestDatabase;
  const stacks: RunningStack[] = [];
  const clients: SupabaseClient[] = [];
  let ann: { a: SupabaseClient; b: SupabaseClient; token: string };
  let bobB: SupabaseClient;

  const client = (url: string, token?: string) => {
    const c = createClient(url, db.config.anonKey, token ? { ...opts, global: { headers: { Authorization: `Bearer ${token}` } } } : opts);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    db = await createTestDatabase({ REDIS_URL: 'redis://127.0.0.1:6379', AUTH_RATE_LIMIT_OTP: String(OTP_LIMIT), ALERT_INTERVAL: '3600' });
    await db.admin.query(SQL);
    for (let i = 0; i < 2; i++) stacks.push(await startStack({ ...db.config, port: 0, host: '127.0.0.1' }, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }, pino.destination(2))));
    const admin = createClient(stacks[0].url, db.config.serviceRoleKey, opts);
    const { error } = await admin.auth.admin.createUser({ email: 'bob@b.test', password: 'secret123', email_confirm: true, app_metadata: { tenant_id: B } });
    if (error) throw error;
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) await c.removeAllChannels();
    for (const s of stacks) await s.close();
    await db?.drop();
  });

  it('auth: signed up on A, signed in on B, the session valid on both', async () => {
    const [sa, sb] = stacks;
    const { data: up, error } = await client(sa.url).auth.signUp({ email: 'ann@a.test', password: 'secret123' });
    expect(error).toBeNull();
    // Ann joins tenant A (the admin API through B).
    const admin = createClient(sb.url, db.config.serviceRoleKey, opts);
    expect((await admin.auth.admin.updateUserById(up.user!.id, { app_metadata: { tenant_id: A } })).error).toBeNull();
    const onB = client(sb.url);
    const { data: session, error: signInError } = await onB.auth.signInWithPassword({ email: 'ann@a.test', password: 'secret123' });
    expect(signInError).toBeNull();
    const token = session.session!.access_token;
    ann = { a: client(sa.url, token), b: client(sb.url, token), token };
    expect((await ann.a.auth.getUser(token)).data.user?.email).toBe('ann@a.test');
    // A refresh on A of the session B started.
    const refreshed = await client(sa.url).auth.refreshSession({ refresh_token: session.session!.refresh_token });
    expect(refreshed.error).toBeNull();
    const bob = await client(sb.url).auth.signInWithPassword({ email: 'bob@b.test', password: 'secret123' });
    bobB = client(sb.url, bob.data.session!.access_token);
  });

  it('REST: written through A, read through B; the other tenant sees nothing', async () => {
    expect((await ann.a.from('posts').insert({ title: 'from A' })).error).toBeNull();
    expect((await ann.b.from('posts').insert({ title: 'from B' })).error).toBeNull();
    expect((await ann.b.from('posts').select('title').order('id')).data).toEqual([{ title: 'from A' }, { title: 'from B' }]);
    expect((await ann.a.from('posts').select('title').order('id')).data).toEqual([{ title: 'from A' }, { title: 'from B' }]);
    expect((await bobB.from('posts').select('title')).data).toEqual([]);
  });

  it('storage: uploaded on A, downloaded on B; not for another user', async () => {
    expect((await ann.a.storage.from('files').upload('ann/x.txt', new Blob(['across instances']))).error).toBeNull();
    expect(await (await ann.b.storage.from('files').download('ann/x.txt')).data!.text()).toBe('across instances');
    expect((await bobB.storage.from('files').download('ann/x.txt')).data).toBeNull();
  });

  const tusHeaders = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${ann.token}`, apikey: db.config.anonKey, 'tus-resumable': '1.0.0', ...extra });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  async function createUpload(on: RunningStack, name: string, length: number): Promise<string> {
    const res = await fetch(`${on.url}/storage/v1/upload/resumable`, {
      method: 'POST',
      headers: tusHeaders({ 'upload-length': String(length), 'upload-metadata': `bucketName ${b64('files')},objectName ${b64(name)},contentType ${b64('text/plain')}` }),
    });
    expect(res.status).toBe(201);
    return res.headers.get('location')!; // /storage/v1/upload/resumable/<id>
  }
  const patch = (on: RunningStack, location: string, offset: number, body: string) =>
    fetch(`${on.url}${location}`, { method: 'PATCH', headers: tusHeaders({ 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' }), body });

  it('TUS: an upload created and half sent on A is resumed and finished on B', async () => {
    const [sa, sb] = stacks;
    const text = 'first half|second half';
    const location = await createUpload(sa, 'ann/resumed.txt', text.length);
    expect((await patch(sa, location, 0, text.slice(0, 11))).status).toBe(204);
    const head = await fetch(`${sb.url}${location}`, { method: 'HEAD', headers: tusHeaders() });
    expect(head.headers.get('upload-offset')).toBe('11');
    expect((await patch(sb, location, 11, text.slice(11))).status).toBe(204);
    expect(await (await ann.a.storage.from('files').download('ann/resumed.txt')).data!.text()).toBe(text);
    // Bob cannot even look at Ann's upload.
    const other = await createUpload(sa, 'ann/other.txt', 10);
    const bobToken = (await bobB.auth.getSession()).data.session?.access_token;
    const peek = await fetch(`${sb.url}${other}`, { method: 'HEAD', headers: { ...tusHeaders(), authorization: `Bearer ${bobToken ?? db.config.anonKey}` } });
    expect(peek.status).toBeGreaterThanOrEqual(400);
  });

  it("TUS: A's request holding an upload lets go when B's request asks for it", async () => {
    const [sa, sb] = stacks;
    const location = await createUpload(sa, 'ann/locked.txt', 100);
    // A PATCH on A whose body stalls after 10 bytes: it holds the upload's lock.
    const url = new URL(`${sa.url}${location}`);
    let answered = false;
    const stalled = new Promise<void>((resolve) => {
      const req = http.request(url, { method: 'PATCH', headers: tusHeaders({ 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': '100' }) }, (res) => {
        res.resume();
        res.on('end', () => ((answered = true), resolve()));
      });
      req.on('error', () => ((answered = true), resolve()));
      req.on('close', () => ((answered = true), resolve()));
      req.write('0123456789');
    });
    await until(async () => {
      const h = await fetch(`${sa.url}${location}`, { method: 'HEAD', headers: tusHeaders() }).catch(() => undefined);
      return h?.headers.get('upload-offset') === '10';
    }, 10_000, "A's first bytes").catch(() => undefined);
    // B's HEAD needs the lock: A's request is asked to let go (across instances: Redis), then B answers.
    const head = await fetch(`${sb.url}${location}`, { method: 'HEAD', headers: tusHeaders() });
    expect(head.status).toBe(200);
    await until(() => answered, 10_000, "A's stalled request to end");
    await stalled;
    expect(Number(head.headers.get('upload-offset'))).toBeLessThanOrEqual(10);
  }, 30_000);

  it('auth: the per-address limit is counted across both instances', async () => {
    const redis = new Redis('redis://127.0.0.1:6379');
    const shared = async () => {
      const keys = await redis.keys(`nextmavens:auth-rl:${db.name}:otpByIp:*`);
      return keys.length ? Number(await redis.get(keys[0])) : 0;
    };
    const statuses: number[] = [];
    try {
      for (let i = 0; i < 2 * OTP_LIMIT; i++) {
        const on = stacks[i % 2];
        const res = await fetch(`${on.url}/auth/v1/recover`, { method: 'POST', headers: { apikey: db.config.anonKey, 'content-type': 'application/json' }, body: JSON.stringify({ email: `nobody${i}@x.test` }) });
        statuses.push(res.status);
        // The instance counted this hit in Redis; let its reply reach it before the next request.
        await until(async () => (await shared()) === i + 1, 5000, 'the shared count');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      redis.disconnect();
    }
    // Alone, each instance would allow OTP_LIMIT: all 2 × OTP_LIMIT would pass. Shared, the count of
    // both applies, give or take the one request the other instance decides before it heard of the last.
    expect(statuses).toEqual([...Array(OTP_LIMIT + 1).fill(200), ...Array(OTP_LIMIT - 1).fill(429)]);
  });

  it('realtime: a broadcast sent on A is received on B, a row change on both', async () => {
    const [sa, sb] = stacks;
    // Signed in on each (supabase-js hands realtime its session's token).
    const onA = client(sa.url);
    const onB = client(sb.url);
    for (const c of [onA, onB]) expect((await c.auth.signInWithPassword({ email: 'ann@a.test', password: 'secret123' })).error).toBeNull();
    const join = (ch: ReturnType<SupabaseClient['channel']>) =>
      new Promise<void>((resolve, reject) => ch.subscribe((s) => (s === 'SUBSCRIBED' ? resolve() : s === 'CHANNEL_ERROR' ? reject(new Error(s)) : undefined)));
    const got: unknown[] = [];
    const receiver = onB.channel('room-1').on('broadcast', { event: 'hello' }, (m) => got.push(m.payload));
    await join(receiver);
    const sender = onA.channel('room-1');
    await join(sender);
    await until(async () => {
      await sender.send({ type: 'broadcast', event: 'hello', payload: { from: 'A' } });
      return got.length > 0;
    }, 10_000, 'the broadcast on B');
    expect(got[0]).toEqual({ from: 'A' });

    const rowsOn: Record<string, string[]> = { a: [], b: [] };
    for (const [k, c] of [['a', onA], ['b', onB]] as const) {
      await join(c.channel(`posts-${k}`).on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'posts' }, (p) => rowsOn[k].push((p.new as { title: string }).title)));
    }
    await until(async () => {
      await ann.a.from('posts').insert({ title: 'live' });
      return rowsOn.a.includes('live') && rowsOn.b.includes('live');
    }, 20_000, 'the change on both instances');
  }, 40_000);
});
