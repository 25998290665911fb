/**
 * Storage through the official client (@supabase/storage-js inside supabase-js) against the
 * embedded stack: buckets, uploads (raw and multipart), downloads, ranges, list, info, remove,
 * signed URLs, public buckets, limits, and RLS on storage.objects for two users of two tenants.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { TEST_JWT_SECRET, type TestDatabase } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let admin: SupabaseClient;
let alice: SupabaseClient;
let bob: SupabaseClient;
const ALICE = '11111111-1111-4111-8111-11111111111a';
const BOB = '11111111-1111-4111-8111-11111111111b';
const TENANT_A = '00000000-0000-4000-8000-00000000000a';
const TENANT_B = '00000000-0000-4000-8000-00000000000b';

const tokenFor = (sub: string, tenant: string) =>
  new SignJWT({ role: 'authenticated', sub, tenant_id: tenant })
    .setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(TEST_JWT_SECRET));

async function as(sub: string, tenant: string): Promise<SupabaseClient> {
  const token = await tokenFor(sub, tenant);
  return createClient(stack.url, db.config.anonKey, { auth: { persistSession: false }, global: { headers: { Authorization: `Bearer ${token}` } } });
}

beforeAll(async () => {
  // Policies as a Supabase app writes them: users own the files under their own folder,
  // and everyone in a tenant reads the tenant's shared folder.
  t = await startTestStack({
    sql: `
    create policy "own folder" on storage.objects for all to authenticated
      using (bucket_id = 'docs' and (storage.foldername(name))[1] = auth.uid()::text)
      with check (bucket_id = 'docs' and (storage.foldername(name))[1] = auth.uid()::text);
    create policy "tenant shared read" on storage.objects for select to authenticated
      using (bucket_id = 'docs' and (storage.foldername(name))[1] = 'shared' and (storage.foldername(name))[2] = auth.tenant_id()::text);
  `,
  });
  ({ db, stack } = t);
  admin = createClient(stack.url, db.config.serviceRoleKey, { auth: { persistSession: false } });
  alice = await as(ALICE, TENANT_A);
  bob = await as(BOB, TENANT_B);
});

afterAll(() => t?.close());

describe('buckets', () => {
  it('create, get, list, update, refuse duplicates; only service_role may create', async () => {
    expect((await admin.storage.createBucket('docs', { public: false })).data).toEqual({ name: 'docs' });
    expect((await admin.storage.createBucket('avatars', { public: true, fileSizeLimit: '1KB', allowedMimeTypes: ['image/*'] })).error).toBeNull();
    const dup = await admin.storage.createBucket('docs');
    expect(dup.error?.message).toBe('The resource already exists');
    const got = await admin.storage.getBucket('avatars');
    expect(got.data).toMatchObject({ id: 'avatars', public: true, file_size_limit: 1000, allowed_mime_types: ['image/*'] });
    expect((await admin.storage.listBuckets()).data?.map((b) => b.id)).toEqual(['avatars', 'docs']);
    expect((await admin.storage.updateBucket('avatars', { public: true, fileSizeLimit: 2000, allowedMimeTypes: ['image/*'] })).error).toBeNull();
    const denied = await alice.storage.createBucket('mine');
    expect(denied.error).not.toBeNull();
  });
});

describe('objects', () => {
  it('upload (raw and Blob/multipart), download, info, exists, list', async () => {
    const up = await alice.storage.from('docs').upload(`${ALICE}/notes/hello.txt`, Buffer.from('hello world'), { contentType: 'text/plain' });
    expect(up.error).toBeNull();
    expect(up.data).toMatchObject({ path: `${ALICE}/notes/hello.txt`, fullPath: `docs/${ALICE}/notes/hello.txt` });
    const blob = await alice.storage.from('docs').upload(`${ALICE}/a.json`, new Blob(['{"a":1}'], { type: 'application/json' }), { metadata: { kind: 'test' } });
    expect(blob.error).toBeNull();
    const dl = await alice.storage.from('docs').download(`${ALICE}/notes/hello.txt`);
    expect(await dl.data?.text()).toBe('hello world');
    const info = await alice.storage.from('docs').info(`${ALICE}/a.json`);
    expect(info.data).toMatchObject({ size: 7, contentType: 'application/json', metadata: { kind: 'test' } });
    expect((await alice.storage.from('docs').exists(`${ALICE}/a.json`)).data).toBe(true);
    expect((await alice.storage.from('docs').exists(`${ALICE}/nope.json`)).data).toBe(false);
    const root = await alice.storage.from('docs').list(ALICE);
    expect(root.data?.map((e) => [e.name, e.id === null])).toEqual([['a.json', false], ['notes', true]]);
  });

  it('refuses duplicates without upsert, replaces with upsert and update', async () => {
    const key = `${ALICE}/notes/hello.txt`;
    const dup = await alice.storage.from('docs').upload(key, Buffer.from('again'));
    expect(dup.error?.message).toBe('The resource already exists');
    expect((await alice.storage.from('docs').upload(key, Buffer.from('v2'), { upsert: true })).error).toBeNull();
    expect(await (await alice.storage.from('docs').download(key)).data?.text()).toBe('v2');
    expect((await alice.storage.from('docs').update(key, Buffer.from('v3'))).error).toBeNull();
    expect(await (await alice.storage.from('docs').download(key)).data?.text()).toBe('v3');
  });

  it('serves ranges, ETag and conditional GETs', async () => {
    const url = `${stack.url}/storage/v1/object/docs/${ALICE}/notes/hello.txt`;
    const token = `Bearer ${await tokenFor(ALICE, TENANT_A)}`;
    const part = await fetch(url, { headers: { authorization: token, range: 'bytes=1-5' } }); // content is "v3"
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 1-1/2');
    expect(await part.text()).toBe('3');
    const full = await fetch(url, { headers: { authorization: token } });
    const etag = full.headers.get('etag')!;
    expect((await fetch(url, { headers: { authorization: token, 'if-none-match': etag } })).status).toBe(304);
  });

  it('RLS: users cannot read, list, overwrite or delete each other\'s files; tenant folders are shared within a tenant', async () => {
    expect((await bob.storage.from('docs').download(`${ALICE}/notes/hello.txt`)).error).not.toBeNull();
    expect((await bob.storage.from('docs').list(ALICE)).data).toEqual([]);
    const write = await bob.storage.from('docs').upload(`${ALICE}/evil.txt`, Buffer.from('x'));
    expect(write.error?.message).toMatch(/row-level security/);
    const del = await bob.storage.from('docs').remove([`${ALICE}/a.json`]);
    expect(del.data).toEqual([]);
    expect((await alice.storage.from('docs').exists(`${ALICE}/a.json`)).data).toBe(true);
    await admin.storage.from('docs').upload(`shared/${TENANT_A}/memo.txt`, Buffer.from('for tenant A'));
    expect(await (await alice.storage.from('docs').download(`shared/${TENANT_A}/memo.txt`)).data?.text()).toBe('for tenant A');
    expect((await bob.storage.from('docs').download(`shared/${TENANT_A}/memo.txt`)).error).not.toBeNull();
  });

  it('public buckets, size and MIME limits, invalid keys', async () => {
    expect((await admin.storage.from('avatars').upload('cat.png', Buffer.from('png!'), { contentType: 'image/png' })).error).toBeNull();
    const url = admin.storage.from('avatars').getPublicUrl('cat.png').data.publicUrl;
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('png!');
    const big = await admin.storage.from('avatars').upload('big.png', Buffer.alloc(3000), { contentType: 'image/png' });
    expect(big.error?.message).toBe('The object exceeded the maximum allowed size');
    const gif = await admin.storage.from('avatars').upload('x.txt', Buffer.from('t'), { contentType: 'text/plain' });
    expect(gif.error?.message).toMatch(/mime type text\/plain is not supported/);
    const traversal = await admin.storage.from('avatars').upload('../../etc/passwd', Buffer.from('x'), { contentType: 'image/png' });
    expect(traversal.error).not.toBeNull();
    const files = await readdir(path.join(db.config.dataDir, 'storage', 'tmp')).catch(() => []);
    expect(files).toEqual([]); // nothing staged is left behind
  });

  it('signed URLs work until they expire and only for their path', async () => {
    const signed = await alice.storage.from('docs').createSignedUrl(`${ALICE}/a.json`, 60);
    expect(signed.error).toBeNull();
    const res = await fetch(signed.data!.signedUrl);
    expect(await res.text()).toBe('{"a":1}');
    const other = signed.data!.signedUrl.replace('a.json', 'notes/hello.txt');
    expect((await fetch(other)).status).toBe(400);
  });

  it('remove deletes rows and blobs; buckets with objects cannot be deleted until emptied', async () => {
    const removed = await alice.storage.from('docs').remove([`${ALICE}/a.json`]);
    expect(removed.data?.map((o) => o.name)).toEqual([`${ALICE}/a.json`]);
    expect((await alice.storage.from('docs').exists(`${ALICE}/a.json`)).data).toBe(false);
    const busy = await admin.storage.deleteBucket('docs');
    expect(busy.error?.message).toMatch(/not empty/);
    expect((await admin.storage.emptyBucket('docs')).error).toBeNull();
    expect((await admin.storage.deleteBucket('docs')).error).toBeNull();
  });
});
