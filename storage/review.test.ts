/**
 * Review findings on the storage service, each pinned by a test: RLS decided before any byte is
 * stored, batch signed URLs (createSignedUrls), bucket updates that keep omitted settings, TUS
 * uploads bound to the creator's role as well as their sub, concurrent upserts that leave exactly
 * one blob, and requests that used to answer 500 (bad JSON, bad percent-encoding, bad download
 * names, malformed bucket options, bad multipart) answering clean storage-shaped 4xx errors.
 */
import http from 'node:http';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { type TestDatabase, testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { createBackend, type StorageBackend } from './backend/index.ts';
import { rowBlobKeys, storedBlobKeys } from '../test/helpers/storage-suite.ts';

const ALICE = '66666666-6666-4666-8666-66666666666a';
const BOB = '66666666-6666-4666-8666-66666666666b';
const tokenFor = (sub: string) => testToken({ role: 'authenticated', sub });

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let backend: StorageBackend;
let admin: SupabaseClient;
let alice: SupabaseClient;
let aliceToken: string;

const api = (p: string) => `${stack.url}/storage/v1${p}`;
/** A GET whose path goes out exactly as written (no dot-segment normalisation). */
function rawGet(rawPath: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: rawPath, method: 'GET' }, (r) => {
      let body = '';
      r.on('data', (c) => (body += c));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
const json = async (r: Response) => (await r.json()) as Record<string, unknown>;

const blobs = () => storedBlobKeys(backend);
const rowBlobs = () => rowBlobKeys(db);

beforeAll(async () => {
  t = await startTestStack({
    env: { STORAGE_BACKEND: 'fs', STORAGE_CLEANUP_INTERVAL: '0' },
    sql: `
    insert into storage.buckets (id, name, public) values ('rv', 'rv', false), ('rvpub', 'rvpub', true), ('drop', 'drop', false);
    create policy "drop: insert only" on storage.objects for insert to authenticated with check (bucket_id = 'drop');
    create policy "own folder" on storage.objects for all to authenticated
      using (bucket_id in ('rv', 'rvpub') and (storage.foldername(name))[1] = auth.uid()::text)
      with check (bucket_id in ('rv', 'rvpub') and (storage.foldername(name))[1] = auth.uid()::text);
  `,
  });
  ({ db, stack } = t);
  backend = await createBackend(db.config);
  admin = createClient(stack.url, db.config.serviceRoleKey, { auth: { persistSession: false } });
  aliceToken = await tokenFor(ALICE);
  alice = createClient(stack.url, db.config.anonKey, { auth: { persistSession: false }, global: { headers: { Authorization: `Bearer ${aliceToken}` } } });
});

afterAll(async () => {
  backend?.close?.();
  await t?.close();
});

describe('storage review: security', () => {
  it('an upload RLS denies is refused before its body is read (nothing streamed to the backend)', async () => {
    const url = new URL(api(`/object/rv/${BOB}/big.bin`));
    // Declares 50 MB but sends 1 KiB and waits: the answer must come without the rest of the body.
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${aliceToken}`, apikey: db.config.anonKey, 'content-type': 'application/octet-stream', 'content-length': String(50_000_000) },
      });
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error('no answer before the body was sent'));
      }, 4000);
      req.on('response', (r) => {
        let body = '';
        r.on('data', (c) => (body += c));
        r.on('end', () => {
          clearTimeout(timer);
          req.destroy();
          resolve({ status: r.statusCode ?? 0, body });
        });
      });
      req.on('error', () => undefined);
      req.write(Buffer.alloc(1024));
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ statusCode: '403', code: 'AccessDenied' });
    expect(await rowBlobs()).toEqual(await blobs());
  });

  it('TUS uploads are bound to the creator\'s role: an anon caller cannot read or terminate a service_role upload', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const created = await fetch(api('/upload/resumable'), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${db.config.serviceRoleKey}`,
        'tus-resumable': '1.0.0',
        'upload-length': '10',
        'upload-metadata': `bucketName ${b64('rv')},objectName ${b64('svc/file.bin')}`,
      },
    });
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    const loc = location.startsWith('http') ? location : `${stack.url}${location}`;
    const anonHead = await fetch(loc, { method: 'HEAD', headers: { apikey: db.config.anonKey, 'tus-resumable': '1.0.0' } });
    expect(anonHead.status).toBe(403);
    const anonDelete = await fetch(loc, { method: 'DELETE', headers: { apikey: db.config.anonKey, 'tus-resumable': '1.0.0' } });
    expect(anonDelete.status).toBe(403);
    const ownHead = await fetch(loc, { method: 'HEAD', headers: { authorization: `Bearer ${db.config.serviceRoleKey}`, 'tus-resumable': '1.0.0' } });
    expect(ownHead.status).toBe(200);
    expect((await fetch(loc, { method: 'DELETE', headers: { authorization: `Bearer ${db.config.serviceRoleKey}`, 'tus-resumable': '1.0.0' } })).status).toBe(204);
  });

  it('a plain upload needs only INSERT (the read-back reveals nothing else); upsert still needs UPDATE and SELECT', async () => {
    const drop = alice.storage.from('drop');
    const first = await drop.upload('inbox/a.txt', 'first');
    expect(first.error).toBeNull();
    expect(first.data).toEqual({ path: 'inbox/a.txt', id: expect.any(String), fullPath: 'drop/inbox/a.txt' });
    // Not readable back, not overwritable, not even by upsert.
    expect((await drop.download('inbox/a.txt')).error).not.toBeNull();
    expect((await drop.upload('inbox/a.txt', 'again')).error?.message).toBe('The resource already exists');
    expect((await drop.upload('inbox/a.txt', 'overwrite', { upsert: true })).error?.message).toMatch(/row-level security/);
    expect((await drop.update('inbox/a.txt', 'overwrite')).error?.message).toMatch(/row-level security/);
    const { rows } = await db.admin.query(`select metadata->>'size' as size from storage.objects where bucket_id = 'drop' and name = 'inbox/a.txt'`);
    expect(rows).toEqual([{ size: '5' }]);
    expect(await rowBlobs()).toEqual(await blobs());
  });

  it('updateBucket keeps the size and MIME limits it is not given', async () => {
    expect((await admin.storage.createBucket('rvlimits', { public: false, fileSizeLimit: 1000, allowedMimeTypes: ['image/png'] })).error).toBeNull();
    expect((await admin.storage.updateBucket('rvlimits', { public: true })).error).toBeNull();
    expect((await admin.storage.getBucket('rvlimits')).data).toMatchObject({ public: true, file_size_limit: 1000, allowed_mime_types: ['image/png'] });
    expect((await admin.storage.updateBucket('rvlimits', { public: true, fileSizeLimit: null as unknown as number })).error).toBeNull();
    expect((await admin.storage.getBucket('rvlimits')).data).toMatchObject({ file_size_limit: null, allowed_mime_types: ['image/png'] });
  });
});

describe('storage review: wire compatibility', () => {
  it('createSignedUrls signs what the caller may read and reports the rest; each token opens only its own object', async () => {
    const files = alice.storage.from('rv');
    expect((await files.upload(`${ALICE}/s1.txt`, 'one')).error).toBeNull();
    expect((await files.upload(`${ALICE}/s2.txt`, 'two')).error).toBeNull();
    expect((await admin.storage.from('rv').upload(`${BOB}/secret.txt`, 'bob')).error).toBeNull();
    const { data, error } = await files.createSignedUrls([`${ALICE}/s1.txt`, `${ALICE}/s2.txt`, `${BOB}/secret.txt`, `${ALICE}/missing.txt`], 60, { download: true });
    expect(error).toBeNull();
    expect(data!.map((d) => [d.path, d.error])).toEqual([
      [`${ALICE}/s1.txt`, null],
      [`${ALICE}/s2.txt`, null],
      [`${BOB}/secret.txt`, 'Either the object does not exist or you do not have access to it'],
      [`${ALICE}/missing.txt`, 'Either the object does not exist or you do not have access to it'],
    ]);
    expect(data![2].signedUrl).toBeNull();
    const first = await fetch(data![0].signedUrl!);
    expect(first.status).toBe(200);
    expect(await first.text()).toBe('one');
    expect(first.headers.get('content-disposition')).toMatch(/^attachment/);
    // The token of s1 does not open s2, nor s1 through a dot segment.
    const token = new URL(data![0].signedUrl!).searchParams.get('token');
    expect((await fetch(api(`/object/sign/rv/${ALICE}/s2.txt?token=${token}`))).status).toBe(400);
    // fetch would collapse dot segments itself: send the raw paths.
    for (const dots of ['%2e%2e', '..', '%252e%252e', '.%2E']) {
      const r = await rawGet(`/storage/v1/object/sign/rv/${ALICE}/x/${dots}/s1.txt?token=${token}`);
      expect(r.status, dots).toBe(400);
      expect(r.body, dots).not.toBe('one');
    }
    // Bad requests are 400s in storage's shape.
    const bad = await fetch(api('/object/sign/rv'), { method: 'POST', headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ expiresIn: 60, paths: [] }) });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toMatchObject({ statusCode: '400' });
  });

  it('getPublicUrl with download, including a non-ASCII file name', async () => {
    expect((await alice.storage.from('rvpub').upload(`${ALICE}/pic.txt`, 'public bytes')).error).toBeNull();
    const plain = alice.storage.from('rvpub').getPublicUrl(`${ALICE}/pic.txt`, { download: true }).data.publicUrl;
    const r1 = await fetch(plain);
    expect(r1.status).toBe(200);
    expect(r1.headers.get('content-disposition')).toBe(`attachment; filename="pic.txt"; filename*=UTF-8''pic.txt`);
    const named = alice.storage.from('rvpub').getPublicUrl(`${ALICE}/pic.txt`, { download: 'résumé €.txt' }).data.publicUrl;
    const r2 = await fetch(named);
    expect(r2.status).toBe(200);
    expect(r2.headers.get('content-disposition')).toContain(`filename*=UTF-8''${encodeURIComponent('résumé €.txt')}`);
    // Public means readable by URL, not listable: listing stays with RLS.
    const anon = createClient(stack.url, db.config.anonKey, { auth: { persistSession: false } });
    expect((await anon.storage.from('rvpub').list(ALICE)).data).toEqual([]);
    expect((await alice.storage.from('rvpub').list(ALICE)).data?.map((o) => o.name)).toEqual(['pic.txt']);
    const crlf = await fetch(api(`/object/public/rvpub/${ALICE}/pic.txt?download=a%0d%0aSet-Cookie:%20x=1`));
    expect(crlf.status).toBe(200);
    expect(crlf.headers.get('set-cookie')).toBeNull();
    expect(await crlf.text()).toBe('public bytes');
  });
});

describe('storage review: robustness', () => {
  const authJson = () => ({ authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' });

  it('malformed JSON bodies are storage-shaped 400s', async () => {
    for (const p of ['/object/list/rv', '/bucket', '/object/move', '/object/sign/rv']) {
      const r = await fetch(api(p), { method: 'POST', headers: authJson(), body: '{"prefix": ' });
      expect(r.status, p).toBe(400);
      expect(await json(r), p).toMatchObject({ statusCode: '400', error: expect.any(String), message: expect.any(String) });
    }
  });

  it('bad percent-encoding and non-ASCII keys are InvalidKey, not 500', async () => {
    for (const p of [`/object/rv/${ALICE}/%E0%A4%A`, `/object/info/rv/${ALICE}/%ZZ`, `/object/rv/${ALICE}/%C3%A9t%C3%A9.txt`, `/object/rv/${ALICE}/a%00b`, `/object/rv/${ALICE}/a%5Cb`]) {
      const r = await fetch(api(p), { headers: { authorization: `Bearer ${aliceToken}` } });
      expect(r.status, p).toBe(400);
      expect(await json(r), p).toMatchObject({ statusCode: '400', code: 'InvalidKey' });
    }
    const up = await fetch(api(`/object/rv/${ALICE}/%E0%A4%A`), { method: 'POST', headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'text/plain' }, body: 'x' });
    expect(up.status).toBe(400);
    expect(await json(up)).toMatchObject({ code: 'InvalidKey' });
  });

  it('malformed bucket options are 400s, and bucket names . and .. are invalid', async () => {
    for (const body of [{ id: 'rvbad1', allowed_mime_types: 'image/png' }, { id: 'rvbad2', allowed_mime_types: [1, 2] }, { id: 'rvbad3', public: 'yes' }, { id: '..' }, { id: '.' }]) {
      const r = await fetch(api('/bucket'), { method: 'POST', headers: { authorization: `Bearer ${db.config.serviceRoleKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(await json(r)).toMatchObject({ statusCode: '400' });
    }
    const { rows } = await db.admin.query(`select id from storage.buckets where id like 'rvbad%' or id in ('.', '..')`);
    expect(rows).toEqual([]);
  });

  it('a multipart body cut short or without a boundary is a 400', async () => {
    const cut = await fetch(api(`/object/rv/${ALICE}/mp.bin`), {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'multipart/form-data; boundary=XYZ' },
      body: '--XYZ\r\nContent-Disposition: form-data; name=""; filename="a"\r\nContent-Type: text/plain\r\n\r\nhello',
    });
    expect(cut.status).toBe(400);
    expect(await json(cut)).toMatchObject({ statusCode: '400' });
    const noBoundary = await fetch(api(`/object/rv/${ALICE}/mp.bin`), {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'multipart/form-data' },
      body: 'whatever',
    });
    expect(noBoundary.status).toBe(400);
    expect(await json(noBoundary)).toMatchObject({ statusCode: '400' });
    expect((await alice.storage.from('rv').exists(`${ALICE}/mp.bin`)).data).toBe(false);
    expect(await rowBlobs()).toEqual(await blobs());
  });

  it('odd Range headers never answer 500', async () => {
    expect((await alice.storage.from('rv').upload(`${ALICE}/range.txt`, '0123456789', { upsert: true })).error).toBeNull();
    const statuses: Record<string, number> = {};
    for (const range of ['bytes=abc', 'bytes=5-2', 'bytes=-', 'bytes=-0', 'bytes=99999999999999999999-', 'bytes=0-99999999999999999999', 'bytes=0-1,3-4', 'items=0-1', 'bytes=-3', 'bytes= 1-2']) {
      const r = await fetch(api(`/object/rv/${ALICE}/range.txt`), { headers: { authorization: `Bearer ${aliceToken}`, range } });
      statuses[range] = r.status;
      await r.arrayBuffer();
    }
    expect(statuses).toEqual({
      'bytes=abc': 200, 'bytes=5-2': 416, 'bytes=-': 416, 'bytes=-0': 416, 'bytes=99999999999999999999-': 416, 'bytes=0-99999999999999999999': 206,
      'bytes=0-1,3-4': 200, 'items=0-1': 200, 'bytes=-3': 206, 'bytes= 1-2': 200,
    });
  });

  it('downloads the client abandons release their file descriptors', async () => {
    expect((await alice.storage.from('rv').upload(`${ALICE}/big.bin`, Buffer.alloc(8 * 1024 * 1024, 7), { upsert: true })).error).toBeNull();
    const { readdir } = await import('node:fs/promises');
    const fds = async () => (await readdir('/proc/self/fd')).length;
    const abandon = () =>
      new Promise<void>((resolve, reject) => {
        const req = http.get(api(`/object/rv/${ALICE}/big.bin`), { headers: { authorization: `Bearer ${aliceToken}` } }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
      });
    await abandon(); // warm up pools
    await new Promise((r) => setTimeout(r, 200));
    const before = await fds();
    for (let i = 0; i < 10; i++) await abandon();
    await new Promise((r) => setTimeout(r, 500));
    expect(await fds()).toBeLessThanOrEqual(before + 2);
  });

  it('remove refuses more than 1000 paths', async () => {
    const r = await fetch(api('/object/rv'), { method: 'DELETE', headers: authJson(), body: JSON.stringify({ prefixes: Array.from({ length: 1001 }, (_, i) => `${ALICE}/${i}`) }) });
    expect(r.status).toBe(400);
  });

  it('concurrent upserts of one key leave exactly one blob, the row\'s', async () => {
    const files = alice.storage.from('rv');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => files.upload(`${ALICE}/race.bin`, Buffer.alloc(200_000 + i, i), { upsert: true })));
    expect(results.map((r) => r.error)).toEqual(Array(8).fill(null));
    expect(await rowBlobs()).toEqual(await blobs());
  });
});
