/**
 * The storage end-to-end suite, run once per blob backend (storage/storage.test.ts: fs,
 * storage/storage-s3.test.ts: s3 against an in-process s3rver, storage/storage-telegram.test.ts:
 * telegram against a local fake Bot API). Everything goes through the official
 * client (@supabase/storage-js inside supabase-js) against the embedded stack: buckets, uploads
 * (raw and multipart), downloads, ranges, list, info, remove, move, copy, signed URLs, public
 * buckets, limits, RLS on storage.objects for two users of two tenants, aborted uploads, and the
 * cleanup job — and after each group, that the backend's blobs are exactly the rows' blobs.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../../cli/stack.ts';
import type { Config } from '../../config/load.ts';
import { blobKey, createBackend, type StorageBackend } from '../../storage/backend/index.ts';
import { s3Key } from '../../storage/backend/s3.ts';
import { cleanupStorage, startCleanupJob } from '../../storage/cleanup.ts';
import { type TestDatabase, testToken } from './db.ts';
import { startTestStack, type TestStack } from './stack.ts';

export interface SuiteBackend {
  name: 'fs' | 's3' | 'telegram';
  /** Starts what the backend needs and returns the stack's extra environment. */
  setup(): Promise<Record<string, string>>;
  teardown?(): Promise<void>;
  /** Ages a blob or staged write so it is older than any grace period (fs: mtime), when the backend can. */
  age?(config: Config, what: { blob?: string; staged?: string }): Promise<void>;
  /** Leaves an unfinished staged write behind and returns its id, when the backend can. */
  leaveStaged?(config: Config): Promise<string>;
  /** What else must hold whenever rows and blobs agree (telegram: the channel holds exactly the manifest's messages). */
  expectConsistent?(config: Config): Promise<void>;
}

const ALICE = '11111111-1111-4111-8111-11111111111a';
const BOB = '11111111-1111-4111-8111-11111111111b';
const TENANT_A = '00000000-0000-4000-8000-00000000000a';
const TENANT_B = '00000000-0000-4000-8000-00000000000b';

const tokenFor = (sub: string, tenant: string) =>
  testToken({ role: 'authenticated', sub, tenant_id: tenant });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every blob the backend holds, by key (sorted). */
export async function storedBlobKeys(backend: StorageBackend): Promise<string[]> {
  const keys: string[] = [];
  for await (const b of backend.list()) keys.push(b.key);
  return keys.sort();
}

/** The blob key of every storage.objects row (sorted): equal to storedBlobKeys when consistent. */
export async function rowBlobKeys(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.admin.query<{ bucket_id: string; name: string; version: string }>('select bucket_id, name, version from storage.objects');
  return rows.map(blobKey).sort();
}

export function storageSuite(kind: SuiteBackend): void {
  describe(`storage on the ${kind.name} backend`, () => {
    let t: TestStack;
    let db: TestDatabase;
    let stack: RunningStack;
    let backend: StorageBackend;
    let admin: SupabaseClient;
    let alice: SupabaseClient;
    let bob: SupabaseClient;

    async function as(sub: string, tenant: string): Promise<SupabaseClient> {
      const token = await tokenFor(sub, tenant);
      return createClient(stack.url, db.config.anonKey, { auth: { persistSession: false }, global: { headers: { Authorization: `Bearer ${token}` } } });
    }

    const blobs = () => storedBlobKeys(backend);
    const rowBlobs = () => rowBlobKeys(db);
    async function staged(): Promise<string[]> {
      const ids: string[] = [];
      for await (const s of backend.listStaged()) ids.push(s.id);
      return ids;
    }
    /** Every row has its blob, every blob its row, nothing is left staged. */
    async function expectConsistent() {
      expect(await blobs()).toEqual(await rowBlobs());
      expect(await staged()).toEqual([]);
      await kind.expectConsistent?.(db.config);
    }

    beforeAll(async () => {
      const env = await kind.setup();
      // Policies as a Supabase app writes them: users own the files under their own folder,
      // and everyone in a tenant reads the tenant's shared folder.
      t = await startTestStack({
        env,
        sql: `
        create policy "own folder" on storage.objects for all to authenticated
          using (bucket_id in ('docs', 'archive') and (storage.foldername(name))[1] = auth.uid()::text)
          with check (bucket_id in ('docs', 'archive') and (storage.foldername(name))[1] = auth.uid()::text);
        create policy "tenant shared read" on storage.objects for select to authenticated
          using (bucket_id = 'docs' and (storage.foldername(name))[1] = 'shared' and (storage.foldername(name))[2] = auth.tenant_id()::text);
      `,
      });
      ({ db, stack } = t);
      expect(db.config.storage.backend).toBe(kind.name);
      backend = await createBackend(db.config);
      admin = createClient(stack.url, db.config.serviceRoleKey, { auth: { persistSession: false } });
      alice = await as(ALICE, TENANT_A);
      bob = await as(BOB, TENANT_B);
    });

    afterAll(async () => {
      backend?.close?.();
      await t?.close();
      await kind.teardown?.();
    });

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

      it('keys with every allowed special character round-trip', async () => {
        const key = `${ALICE}/odd names/a b+c=d;e:f,g$h'(i)*j!k@l&m.txt`;
        expect((await alice.storage.from('docs').upload(key, Buffer.from('odd'))).error).toBeNull();
        expect(await (await alice.storage.from('docs').download(key)).data?.text()).toBe('odd');
        expect((await alice.storage.from('docs').remove([key])).data).toHaveLength(1);
      });

      it('refuses duplicates without upsert, replaces with upsert and update', async () => {
        const key = `${ALICE}/notes/hello.txt`;
        const dup = await alice.storage.from('docs').upload(key, Buffer.from('again'));
        expect(dup.error?.message).toBe('The resource already exists');
        expect((await alice.storage.from('docs').upload(key, Buffer.from('v2'), { upsert: true })).error).toBeNull();
        expect(await (await alice.storage.from('docs').download(key)).data?.text()).toBe('v2');
        expect((await alice.storage.from('docs').update(key, Buffer.from('v3'))).error).toBeNull();
        expect(await (await alice.storage.from('docs').download(key)).data?.text()).toBe('v3');
        await expectConsistent(); // the replaced versions' blobs are gone
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
        expect(etag).toMatch(/^"[0-9a-f]{32}"$/); // the MD5 of the bytes, whatever the backend
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
        await expectConsistent(); // refused writes left nothing
      });

      it('public buckets, size and MIME limits, invalid keys', async () => {
        expect((await admin.storage.from('avatars').upload('cat.png', Buffer.from('png!'), { contentType: 'image/png' })).error).toBeNull();
        const url = admin.storage.from('avatars').getPublicUrl('cat.png').data.publicUrl;
        const res = await fetch(url);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe('png!');
        const big = await admin.storage.from('avatars').upload('big.png', Buffer.alloc(3000), { contentType: 'image/png' });
        expect(big.error?.message).toBe('The object exceeded the maximum allowed size');
        const bigMultipart = await admin.storage.from('avatars').upload('big2.png', new Blob([Buffer.alloc(3000)], { type: 'image/png' }));
        expect(bigMultipart.error?.message).toBe('The object exceeded the maximum allowed size');
        const gif = await admin.storage.from('avatars').upload('x.txt', Buffer.from('t'), { contentType: 'text/plain' });
        expect(gif.error?.message).toMatch(/mime type text\/plain is not supported/);
        const traversal = await admin.storage.from('avatars').upload('../../etc/passwd', Buffer.from('x'), { contentType: 'image/png' });
        expect(traversal.error).not.toBeNull();
        await expectConsistent(); // nothing staged or orphaned is left behind
      });

      it('long names: up to 1024 bytes wherever the backend can hold them, a clean 400 where it cannot', async () => {
        const files = alice.storage.from('docs');
        /** A name of exactly `bytes` bytes under Alice's folder: `unit` repeated, a `/` every `segment` bytes. */
        const name = (bytes: number, unit = 'p', segment = 200) => {
          let n = `${ALICE}/`;
          while (n.length < bytes) n += (n.length - ALICE.length) % (segment + 1) === 0 ? '/' : unit;
          return n.slice(0, bytes).replace(/\/+$/, 'q').replace(/ $/, 'q');
        };
        // S3 keys are `<bucket>/<name>/@<version>` escaped (s3Key) and at most 1024 bytes: what is left for a plain name.
        const s3Room = 1024 - Buffer.byteLength(s3Key(blobKey({ bucket_id: 'docs', name: '', version: randomUUID() })));
        // fs: anything up to 1024 bytes, one long segment or spaces (encoded %20) included, in file names split to fit.
        const unlimited = kind.name !== 's3'; // fs and telegram (keys in Postgres) hold any 1024-byte name
        const fits = unlimited ? [name(1024), name(1024, 'p', 2000), name(1024, 'a ', 2000)] : [name(s3Room)];
        const refused = unlimited ? [] : [name(s3Room + 1), name(1024), name(s3Room, 'a ')];
        for (const n of fits) {
          expect(Buffer.byteLength(n), n).toBe(n === fits[0] && !unlimited ? s3Room : 1024);
          expect((await files.upload(n, 'long')).error, `${n.length}`).toBeNull();
          expect(await (await files.download(n)).data?.text()).toBe('long');
        }
        for (const n of refused) {
          expect((await files.upload(n, 'long')).error, `${n.length}`).toMatchObject({ status: 400, message: 'Invalid key: the object name is longer than this storage backend accepts' });
        }
        await expectConsistent();
        expect((await files.remove(fits)).data).toHaveLength(fits.length);
        await expectConsistent();
      });

      it('signed URLs work until they expire and only for their path', async () => {
        const signed = await alice.storage.from('docs').createSignedUrl(`${ALICE}/a.json`, 60);
        expect(signed.error).toBeNull();
        const res = await fetch(signed.data!.signedUrl);
        expect(await res.text()).toBe('{"a":1}');
        const other = signed.data!.signedUrl.replace('a.json', 'notes/hello.txt');
        expect((await fetch(other)).status).toBe(400);
      });
    });

    describe('move and copy', () => {
      const docs = () => alice.storage.from('docs');
      const text = async (c: SupabaseClient, bucket: string, key: string) => (await (await c.storage.from(bucket).download(key)).data?.text()) ?? null;

      it('move renames within a bucket: same id, new key, old key gone, bytes and metadata kept', async () => {
        expect((await docs().upload(`${ALICE}/m/a.txt`, Buffer.from('move me'), { contentType: 'text/plain', metadata: { k: 1 } })).error).toBeNull();
        const before = await docs().info(`${ALICE}/m/a.txt`);
        const moved = await docs().move(`${ALICE}/m/a.txt`, `${ALICE}/m/b.txt`);
        expect(moved.error).toBeNull();
        expect(moved.data).toMatchObject({ message: 'Successfully moved' });
        expect(await text(alice, 'docs', `${ALICE}/m/b.txt`)).toBe('move me');
        expect((await docs().exists(`${ALICE}/m/a.txt`)).data).toBe(false);
        const after = await docs().info(`${ALICE}/m/b.txt`);
        expect(after.data).toMatchObject({ id: before.data!.id, size: 7, contentType: 'text/plain', metadata: { k: 1 }, etag: before.data!.etag });
        await expectConsistent();
      });

      it('copy duplicates within a bucket and across buckets (destinationBucket); refuses an existing destination without upsert', async () => {
        expect((await admin.storage.createBucket('archive')).error).toBeNull();
        const copied = await docs().copy(`${ALICE}/m/b.txt`, `${ALICE}/m/c.txt`);
        expect(copied.error).toBeNull();
        expect(copied.data).toEqual({ path: `docs/${ALICE}/m/c.txt` });
        expect(await text(alice, 'docs', `${ALICE}/m/c.txt`)).toBe('move me');
        expect(await text(alice, 'docs', `${ALICE}/m/b.txt`)).toBe('move me');
        expect((await docs().info(`${ALICE}/m/c.txt`)).data).toMatchObject({ size: 7, contentType: 'text/plain', metadata: { k: 1 } });

        const across = await docs().copy(`${ALICE}/m/c.txt`, `${ALICE}/kept.txt`, { destinationBucket: 'archive' });
        expect(across.data).toEqual({ path: `archive/${ALICE}/kept.txt` });
        expect(await text(alice, 'archive', `${ALICE}/kept.txt`)).toBe('move me');

        const plain = await docs().copy(`${ALICE}/m/b.txt`, `${ALICE}/m/d.md`, { copyMetadata: false, metadata: { mimetype: 'text/markdown' } });
        expect(plain.error).toBeNull();
        expect((await docs().info(`${ALICE}/m/d.md`)).data).toMatchObject({ size: 7, contentType: 'text/markdown', metadata: {} });
        expect((await docs().remove([`${ALICE}/m/d.md`])).data).toHaveLength(1);

        const again = await docs().copy(`${ALICE}/m/b.txt`, `${ALICE}/m/c.txt`);
        expect(again.error?.message).toBe('The resource already exists');

        // Overwriting the copy later leaves the original's bytes alone (blobs are never shared mutably).
        expect((await docs().update(`${ALICE}/m/c.txt`, Buffer.from('changed'))).error).toBeNull();
        expect(await text(alice, 'docs', `${ALICE}/m/b.txt`)).toBe('move me');
        await expectConsistent();
      });

      it('move across buckets; a destination bucket\'s limits apply', async () => {
        const moved = await docs().move(`${ALICE}/m/c.txt`, `${ALICE}/moved.txt`, { destinationBucket: 'archive' });
        expect(moved.error).toBeNull();
        expect(await text(alice, 'archive', `${ALICE}/moved.txt`)).toBe('changed');
        expect((await docs().exists(`${ALICE}/m/c.txt`)).data).toBe(false);
        const tooStrict = await admin.storage.from('docs').copy(`${ALICE}/m/b.txt`, 'x.png', { destinationBucket: 'avatars' });
        expect(tooStrict.error?.message).toMatch(/mime type text\/plain is not supported/);
        const missing = await docs().move(`${ALICE}/m/b.txt`, `${ALICE}/x.txt`, { destinationBucket: 'nope' });
        expect(missing.error?.message).toBe('Bucket not found');
        await expectConsistent();
      });

      it('RLS: cross-tenant moves and copies are denied and change nothing', async () => {
        const src = `${ALICE}/m/b.txt`;
        // Bob cannot see Alice's file: not found, for move and copy alike.
        const bobMove = await bob.storage.from('docs').move(src, `${BOB}/stolen.txt`);
        expect(bobMove.error?.message).toBe('Object not found');
        const bobCopy = await bob.storage.from('docs').copy(src, `${BOB}/stolen.txt`);
        expect(bobCopy.error?.message).toBe('Object not found');
        // Alice cannot move or copy her file into Bob's folder: the policies' WITH CHECK refuses.
        const intoBob = await docs().move(src, `${BOB}/gift.txt`);
        expect(intoBob.error?.message).toMatch(/row-level security/);
        const copyIntoBob = await docs().copy(src, `${BOB}/gift.txt`);
        expect(copyIntoBob.error?.message).toMatch(/row-level security/);
        // Tenant B cannot copy tenant A's shared file; Alice (tenant A) can copy it into her folder…
        expect((await bob.storage.from('docs').copy(`shared/${TENANT_A}/memo.txt`, `${BOB}/memo.txt`)).error?.message).toBe('Object not found');
        expect((await docs().copy(`shared/${TENANT_A}/memo.txt`, `${ALICE}/memo.txt`)).error).toBeNull();
        // …but not move it: SELECT alone is not enough, move needs UPDATE on the source.
        const moveShared = await docs().move(`shared/${TENANT_A}/memo.txt`, `${ALICE}/memo2.txt`);
        expect(moveShared.error).not.toBeNull();
        expect(await text(alice, 'docs', `shared/${TENANT_A}/memo.txt`)).toBe('for tenant A');
        expect(await text(alice, 'docs', src)).toBe('move me');
        expect((await admin.storage.from('docs').exists(`${BOB}/stolen.txt`)).data).toBe(false);
        expect((await admin.storage.from('docs').exists(`${BOB}/gift.txt`)).data).toBe(false);
        await expectConsistent();
      });
    });

    describe('consistency', () => {
      const docs = () => alice.storage.from('docs');
      const text = async (c: SupabaseClient, bucket: string, key: string) => (await (await c.storage.from(bucket).download(key)).data?.text()) ?? null;

      /** Sends `prefix` as the start of a `total`-byte upload body, then cuts the connection. */
      async function abortedUpload(key: string, headers: Record<string, string>, prefix: Buffer, total: number) {
        const token = await tokenFor(ALICE, TENANT_A);
        const url = new URL(`${stack.url}/storage/v1/object/docs/${key}`);
        await new Promise<void>((resolve) => {
          const req = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-length': String(total), ...headers } });
          req.on('error', () => resolve());
          req.on('response', () => resolve()); // (the server must not answer success)
          req.flushHeaders();
          const src = Readable.from((function* () {
            for (let i = 0; i < prefix.length; i += 64 * 1024) yield prefix.subarray(i, i + 64 * 1024);
          })());
          src.on('data', (chunk) => {
            if (!req.write(chunk)) {
              src.pause();
              req.once('drain', () => src.resume());
            }
          });
          src.on('end', () => setTimeout(() => req.destroy(), 300));
        });
      }

      async function settled(check: () => Promise<boolean>) {
        for (let i = 0; i < 100 && !(await check()); i++) await sleep(50);
        await sleep(300);
        expect(await check()).toBe(true);
      }

      it('an upload cut mid-body leaves neither a row nor a blob (raw and multipart)', async () => {
        const body = Buffer.alloc(12 * 1024 * 1024, 1); // past one S3 part: the multipart upload has begun
        await abortedUpload(`${ALICE}/cut.bin`, { 'content-type': 'application/octet-stream' }, body, 32 * 1024 * 1024);
        const boundary = 'xxBOUNDARYxx';
        const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="cacheControl"\r\n\r\n3600\r\n--${boundary}\r\nContent-Disposition: form-data; name=""; filename="cut2.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
        await abortedUpload(`${ALICE}/cut2.bin`, { 'content-type': `multipart/form-data; boundary=${boundary}` }, Buffer.concat([head, body]), 32 * 1024 * 1024);
        const noRow = async () => (await db.admin.query(`select 1 from storage.objects where name like $1`, [`${ALICE}/cut%`])).rowCount === 0;
        await settled(async () => (await noRow()) && (await staged()).length === 0 && JSON.stringify(await blobs()) === JSON.stringify(await rowBlobs()));
        // The service is unharmed.
        expect((await docs().upload(`${ALICE}/after-cut.txt`, Buffer.from('fine'))).error).toBeNull();
        await expectConsistent();
      });
      it('the cleanup job deletes blobs no row references and stale staged writes, once past the grace period', async () => {
        const orphan = blobKey({ bucket_id: 'docs', name: `${ALICE}/orphan.txt`, version: randomUUID() });
        await backend.put(orphan, Readable.from([Buffer.from('nobody owns me')]), { maxBytes: 100 });
        const stale = await kind.leaveStaged?.(db.config);
        const keep = await rowBlobs();

        // Young leftovers survive a run (they may belong to a request in flight)…
        expect(await cleanupStorage(backend, db.admin, { graceMs: 60_000 })).toMatchObject({ orphanBlobs: 0, staleStaged: 0 });
        expect(await blobs()).toContain(orphan);
        // …old ones do not; blobs with rows always survive, however old.
        const report = await cleanupStorage(backend, db.admin, { graceMs: 0 });
        expect(report).toMatchObject({ orphanBlobs: 1, staleStaged: stale ? 1 : 0, foreign: 0 });
        expect(report.scanned).toBe(keep.length + 1);
        await expectConsistent();
        expect(await rowBlobs()).toEqual(keep);
        expect(await text(alice, 'docs', `${ALICE}/m/b.txt`)).toBe('move me');
      });

      it.runIf(!!kind.age)('the service\'s job runs at start and collects aged leftovers', async () => {
        const orphan = blobKey({ bucket_id: 'docs', name: `${ALICE}/old-orphan.txt`, version: randomUUID() });
        await backend.put(orphan, Readable.from([Buffer.from('old')]), { maxBytes: 100 });
        const young = blobKey({ bucket_id: 'docs', name: `${ALICE}/young-orphan.txt`, version: randomUUID() });
        await backend.put(young, Readable.from([Buffer.from('young')]), { maxBytes: 100 });
        const stale = await kind.leaveStaged?.(db.config);
        await kind.age!(db.config, { blob: orphan, staged: stale });
        const job = startCleanupJob(backend, db.admin, 3600, pino({ level: 'silent' }));
        try {
          await settled(async () => !(await blobs()).includes(orphan) && (await staged()).length === 0);
        } finally {
          await job.stop();
        }
        expect(await blobs()).toContain(young); // within the default grace period
        await backend.delete([young]);
        await expectConsistent();
      });
    });

    describe('remove', () => {
      it('remove deletes rows and blobs; buckets with objects cannot be deleted until emptied', async () => {
        const removed = await alice.storage.from('docs').remove([`${ALICE}/a.json`]);
        expect(removed.data?.map((o) => o.name)).toEqual([`${ALICE}/a.json`]);
        expect((await alice.storage.from('docs').exists(`${ALICE}/a.json`)).data).toBe(false);
        await expectConsistent();
        const busy = await admin.storage.deleteBucket('docs');
        expect(busy.error?.message).toMatch(/not empty/);
        expect((await admin.storage.emptyBucket('docs')).error).toBeNull();
        expect((await admin.storage.deleteBucket('docs')).error).toBeNull();
        await expectConsistent();
      });
    });
  });
}
