/**
 * Signed upload URLs through supabase-js: createSignedUploadUrl needs INSERT permission as the
 * caller (RLS), uploadToSignedUrl works for anyone holding the token (raw and multipart), the
 * signer owns the object, x-upsert is honoured, and expired, other-path and wrong-scope tokens fail.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { TEST_JWT_SECRET, type TestDatabase, testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

/** A JSON response body, loosely typed for assertions. */
const json = async (r: Response) => (await r.json()) as Record<string, string | number>;

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let admin: SupabaseClient;
let anon: SupabaseClient;
let alice: SupabaseClient;
let bob: SupabaseClient;
const ALICE = '22222222-2222-4222-8222-22222222222a';
const BOB = '22222222-2222-4222-8222-22222222222b';
const secret = new TextEncoder().encode(TEST_JWT_SECRET);

const client = async (sub: string) => {
  const token = await testToken({ role: 'authenticated', sub });
  return createClient(stack.url, db.config.anonKey, { auth: { persistSession: false }, global: { headers: { Authorization: `Bearer ${token}` } } });
};

beforeAll(async () => {
  t = await startTestStack({
    sql: `
    insert into storage.buckets (id, name) values ('docs', 'docs');
    create policy "own folder" on storage.objects for all to authenticated
      using (bucket_id = 'docs' and (storage.foldername(name))[1] = auth.uid()::text)
      with check (bucket_id = 'docs' and (storage.foldername(name))[1] = auth.uid()::text);
  `,
  });
  ({ db, stack } = t);
  admin = createClient(stack.url, db.config.serviceRoleKey, { auth: { persistSession: false } });
  anon = createClient(stack.url, db.config.anonKey, { auth: { persistSession: false } });
  alice = await client(ALICE);
  bob = await client(BOB);
});

afterAll(() => t?.close());

describe('signed upload URLs', () => {
  it('signs for a caller allowed to insert; anyone with the token uploads (raw), owned by the signer', async () => {
    const key = `${ALICE}/signed/raw.txt`;
    const signed = await alice.storage.from('docs').createSignedUploadUrl(key);
    expect(signed.error).toBeNull();
    expect(signed.data!.signedUrl).toBe(`${stack.url}/storage/v1/object/upload/sign/docs/${key}?token=${signed.data!.token}`);
    const up = await anon.storage.from('docs').uploadToSignedUrl(key, signed.data!.token, Buffer.from('signed raw'), { contentType: 'text/plain' });
    expect(up.error).toBeNull();
    expect(up.data).toMatchObject({ path: key, fullPath: `docs/${key}` });
    expect(await (await alice.storage.from('docs').download(key)).data?.text()).toBe('signed raw');
    const { rows } = await db.admin.query(`select owner, owner_id, metadata->>'mimetype' as mime from storage.objects where bucket_id = 'docs' and name = $1`, [key]);
    expect(rows[0]).toEqual({ owner: ALICE, owner_id: ALICE, mime: 'text/plain' });
    // Without upsert the token cannot overwrite.
    const again = await anon.storage.from('docs').uploadToSignedUrl(key, signed.data!.token, Buffer.from('again'));
    expect(again.error?.message).toBe('The resource already exists');
  });

  it('multipart bodies (Blob) work and x-upsert at sign time allows overwriting', async () => {
    const key = `${ALICE}/signed/blob.json`;
    const first = await alice.storage.from('docs').createSignedUploadUrl(key);
    expect((await anon.storage.from('docs').uploadToSignedUrl(key, first.data!.token, new Blob(['{"v":1}'], { type: 'application/json' }))).error).toBeNull();
    // Signing without upsert for an existing key is refused, as the insert would be.
    expect((await alice.storage.from('docs').createSignedUploadUrl(key)).error?.message).toBe('The resource already exists');
    const upsert = await alice.storage.from('docs').createSignedUploadUrl(key, { upsert: true });
    expect(upsert.error).toBeNull();
    const up = await anon.storage.from('docs').uploadToSignedUrl(key, upsert.data!.token, new Blob(['{"v":2}'], { type: 'application/json' }));
    expect(up.error).toBeNull();
    const info = await alice.storage.from('docs').info(key);
    expect(info.data).toMatchObject({ size: 7, contentType: 'application/json' });
    expect(await (await alice.storage.from('docs').download(key)).data?.text()).toBe('{"v":2}');
  });

  it('RLS decides at sign time: no URL for a path the caller may not insert', async () => {
    const denied = await bob.storage.from('docs').createSignedUploadUrl(`${ALICE}/signed/evil.txt`);
    expect(denied.error?.message).toMatch(/row-level security/);
    expect((await anon.storage.from('docs').createSignedUploadUrl(`${ALICE}/signed/anon.txt`)).error?.message).toMatch(/row-level security/);
    expect((await alice.storage.from('nope').createSignedUploadUrl(`${ALICE}/x.txt`)).error?.message).toBe('Bucket not found');
    // service_role signs anything.
    expect((await admin.storage.from('docs').createSignedUploadUrl(`${BOB}/from-admin.txt`)).error).toBeNull();
  });

  it('rejects tokens for another path, expired tokens, download tokens and garbage; nothing is written', async () => {
    const signed = await alice.storage.from('docs').createSignedUploadUrl(`${ALICE}/signed/one.txt`);
    const other = await anon.storage.from('docs').uploadToSignedUrl(`${ALICE}/signed/two.txt`, signed.data!.token, Buffer.from('x'));
    expect(other.error?.message).toBe('Invalid signature');

    const expired = await new SignJWT({ url: `docs/${ALICE}/signed/old.txt`, scope: 'upload', owner: ALICE, upsert: false })
      .setProtectedHeader({ alg: 'HS256' }).setIssuedAt(Math.floor(Date.now() / 1000) - 120).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(secret);
    const late = await anon.storage.from('docs').uploadToSignedUrl(`${ALICE}/signed/old.txt`, expired, Buffer.from('x'));
    expect(late.error?.message).toBe('The provided token has expired.');

    // A download token (signed URL) is not an upload token, and vice versa.
    await alice.storage.from('docs').upload(`${ALICE}/signed/dl.txt`, Buffer.from('dl'));
    const download = await alice.storage.from('docs').createSignedUrl(`${ALICE}/signed/dl.txt`, 60);
    const dlToken = new URL(download.data!.signedUrl).searchParams.get('token')!;
    const wrongScope = await anon.storage.from('docs').uploadToSignedUrl(`${ALICE}/signed/dl.txt`, dlToken, Buffer.from('x'));
    expect(wrongScope.error?.message).toMatch(/not scoped for upload/);
    const upToken = (await alice.storage.from('docs').createSignedUploadUrl(`${ALICE}/signed/dl2.txt`)).data!.token;
    const asDownload = await fetch(`${stack.url}/storage/v1/object/sign/docs/${ALICE}/signed/dl2.txt?token=${upToken}`);
    expect(asDownload.status).toBe(400);
    expect((await json(asDownload)).message).toMatch(/not scoped for download/);

    const forged = await new SignJWT({ url: `docs/${ALICE}/signed/forged.txt`, scope: 'upload', upsert: true })
      .setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-of-at-least-thirty-two-chars'));
    expect((await anon.storage.from('docs').uploadToSignedUrl(`${ALICE}/signed/forged.txt`, forged, Buffer.from('x'))).error?.message).toMatch(/signature/);

    const { rows } = await db.admin.query(`select name from storage.objects where name in ($1, $2, $3)`, [`${ALICE}/signed/two.txt`, `${ALICE}/signed/old.txt`, `${ALICE}/signed/forged.txt`]);
    expect(rows).toEqual([]);
  });
});
