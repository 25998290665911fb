/**
 * Storage correctness (issue 12), each against the embedded gateway and against the storage
 * service served alone (as compose runs it), with supabase-js where a client is involved:
 *
 * - a refused upload (size limit, MIME type, RLS; raw, multipart or streamed) leaves the client's
 *   keep-alive connections usable: refused upload → download, in a loop, every answer right;
 * - tokens whose role is not an API role, and requests with neither apikey nor Authorization,
 *   are refused with a 4xx in storage's shape on every route, never a 500;
 * - object names over 1024 bytes and control characters in bucket ids or names are 400s, and
 *   every name up to 1024 bytes is stored and found again (the fs backend splits long segments);
 * - list validates its body; list-v2 lists, folds folders and paginates as a model of the rows says.
 *
 * (Postgres unavailable → 503: unavailable.test.ts.)
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveOne, type RunningStack } from '../cli/stack.ts';
import { type TestDatabase, testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { createBackend, type StorageBackend } from './backend/index.ts';
import { cleanupStorage } from './cleanup.ts';
import { DRAIN_LIMIT } from './http/release-body.ts';
import { rowBlobKeys, storedBlobKeys } from '../test/helpers/storage-suite.ts';

const ALICE = '77777777-7777-4777-8777-77777777777a';
const BOB = '77777777-7777-4777-8777-77777777777b';

let t: TestStack;
let db: TestDatabase;
let direct: RunningStack;
let backend: StorageBackend;
let aliceToken: string;

/** The two ways to reach the service: `api(path)` is the URL of a storage path, `client(key, token)` a supabase-js client. */
interface Entry {
  name: string;
  api(path: string): string;
  client(key: string, token?: string): SupabaseClient;
}
let entries: Entry[];

const json = async (r: Response) => (await r.json()) as Record<string, unknown>;
const storageShaped = { statusCode: expect.any(String), code: expect.any(String), error: expect.any(String), message: expect.any(String) };

beforeAll(async () => {
  t = await startTestStack({
    env: { STORAGE_BACKEND: 'fs', STORAGE_CLEANUP_INTERVAL: '0' },
    sql: `
    insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types) values
      ('limits', 'limits', false, 1000, array['text/plain']),
      ('hd', 'hd', false, null, null),
      ('hdpub', 'hdpub', true, null, null);
    create policy "hd own folder" on storage.objects for all to authenticated
      using (bucket_id = 'hd' and (storage.foldername(name))[1] = auth.uid()::text)
      with check (bucket_id = 'hd' and (storage.foldername(name))[1] = auth.uid()::text);
  `,
  });
  db = t.db;
  direct = await serveOne('storage', { ...db.config, host: '127.0.0.1', ports: { ...db.config.ports, storage: 0 } }, pino({ level: 'silent' }));
  backend = await createBackend(db.config);
  aliceToken = await testToken({ role: 'authenticated', sub: ALICE });
  const options = (token?: string, rewrite?: (url: string) => string) => ({
    auth: { persistSession: false },
    global: {
      ...(token ? { headers: { Authorization: `Bearer ${token}` } } : {}),
      ...(rewrite ? { fetch: (input: string | URL | Request, init?: RequestInit) => fetch(rewrite(String(input instanceof Request ? input.url : input)), init) } : {}),
    },
  });
  entries = [
    { name: 'gateway', api: (p) => `${t.stack.url}/storage/v1${p}`, client: (key, token) => createClient(t.stack.url, key, options(token)) },
    {
      name: 'storage service',
      api: (p) => `${direct.url}${p}`,
      // supabase-js speaks to /storage/v1: the service alone serves the same paths without the prefix.
      client: (key, token) => createClient(direct.url, key, options(token, (u) => u.replace(`${direct.url}/storage/v1`, direct.url))),
    },
  ];
  const admin = entries[0].client(db.config.serviceRoleKey);
  expect((await admin.storage.from('limits').upload('ok.txt', 'fine', { contentType: 'text/plain' })).error).toBeNull();
  expect((await admin.storage.from('hdpub').upload('open.txt', 'public bytes')).error).toBeNull();
  const alice = entries[0].client(db.config.anonKey, aliceToken);
  expect((await alice.storage.from('hd').upload(`${ALICE}/mine.txt`, 'mine')).error).toBeNull();
});

afterAll(async () => {
  backend?.close?.();
  await direct?.close();
  await t?.close();
});

describe('a refused upload does not break the next request', () => {
  const SIZE_ERROR = 'The object exceeded the maximum allowed size';
  const MIME_ERROR = 'mime type image/png is not supported';

  /** The upload bodies storage-js sends: a Buffer (raw, Content-Length), a Blob (multipart), a ReadableStream (raw, chunked). */
  function body(kind: 'buffer' | 'blob' | 'stream', size: number, type: string): Buffer | Blob | ReadableStream<Uint8Array> {
    const bytes = Buffer.alloc(size, 97);
    if (kind === 'buffer') return bytes;
    if (kind === 'blob') return new Blob([bytes], { type });
    return new ReadableStream({
      start(controller) {
        for (let i = 0; i < size; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024));
        controller.close();
      },
    });
  }

  it('size, MIME and RLS refusals, raw, multipart and streamed, below and above the drain limit: each next download succeeds at once', async () => {
    const failures: string[] = [];
    for (const entry of entries) {
      const admin = entry.client(db.config.serviceRoleKey);
      const alice = entry.client(db.config.anonKey, aliceToken);
      for (const size of [200_000, DRAIN_LIMIT - 4096, 3 * DRAIN_LIMIT]) {
        for (const kind of ['buffer', 'blob', 'stream'] as const) {
          for (let round = 0; round < 2; round++) {
            const cases = [
              { reason: 'size', client: admin, bucket: 'limits', key: 'big.txt', type: 'text/plain', expected: SIZE_ERROR, next: () => admin.storage.from('limits').download('ok.txt'), text: 'fine' },
              { reason: 'mime', client: admin, bucket: 'limits', key: 'pic.png', type: 'image/png', expected: MIME_ERROR, next: () => admin.storage.from('limits').download('ok.txt'), text: 'fine' },
              { reason: 'rls', client: alice, bucket: 'hd', key: `${BOB}/not-mine.txt`, type: 'text/plain', expected: 'new row violates row-level security policy', next: () => alice.storage.from('hd').download(`${ALICE}/mine.txt`), text: 'mine' },
            ];
            for (const c of cases) {
              const label = `${entry.name} ${kind} ${size} ${c.reason}`;
              const started = Date.now();
              const up = await c.client.storage.from(c.bucket).upload(c.key, body(kind, size, c.type), { contentType: c.type });
              if (up.error?.message !== c.expected) failures.push(`${label}: upload answered ${up.error?.message ?? 'success'}`);
              const next = await c.next();
              const got = next.error ? `error ${next.error.message}` : await next.data!.text();
              if (got !== c.text) failures.push(`${label}: next download got ${got}`);
              // A stalled connection would show as a wait for the server's keep-alive timeout (5 s).
              if (Date.now() - started > 3000) failures.push(`${label}: took ${Date.now() - started} ms`);
            }
          }
        }
      }
    }
    expect(failures).toEqual([]);
    const { rows } = await db.admin.query(`select name from storage.objects where name in ('big.txt', 'pic.png', $1)`, [`${BOB}/not-mine.txt`]);
    expect(rows).toEqual([]);
    expect(await storedBlobKeys(backend)).toEqual(await rowBlobKeys(db));
  }, 120_000);
});

describe('who may call', () => {
  /** One request per kind of route, with `headers`; every answer must be a storage-shaped 4xx. */
  async function everyRoute(entry: Entry, headers: Record<string, string>) {
    const jsonHeaders = { ...headers, 'content-type': 'application/json' };
    const requests: [string, string, RequestInit][] = [
      ['list buckets', '/bucket', { headers }],
      ['get bucket', '/bucket/hd', { headers }],
      ['create bucket', '/bucket', { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ id: 'nope' }) }],
      ['empty bucket', '/bucket/hd/empty', { method: 'POST', headers }],
      ['list', '/object/list/hd', { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ prefix: '' }) }],
      ['list-v2', '/object/list-v2/hd', { method: 'POST', headers: jsonHeaders, body: '{}' }],
      ['upload', `/object/hd/${ALICE}/x.txt`, { method: 'POST', headers: { ...headers, 'content-type': 'text/plain' }, body: 'x' }],
      ['authenticated download', `/object/authenticated/hd/${ALICE}/mine.txt`, { headers }],
      ['sign', `/object/sign/hd/${ALICE}/mine.txt`, { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ expiresIn: 60 }) }],
      ['move', '/object/move', { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ bucketId: 'hd', sourceKey: `${ALICE}/mine.txt`, destinationKey: `${ALICE}/moved.txt` }) }],
      ['remove', '/object/hd', { method: 'DELETE', headers: jsonHeaders, body: JSON.stringify({ prefixes: [`${ALICE}/mine.txt`] }) }],
      ['signed upload URL', `/object/upload/sign/hd/${ALICE}/y.txt`, { method: 'POST', headers }],
      ['render', `/render/image/authenticated/hd/${ALICE}/mine.txt?width=5`, { headers }],
    ];
    const answers: Record<string, [number, Record<string, unknown>]> = {};
    for (const [name, path, init] of requests) {
      const r = await fetch(entry.api(path), init);
      answers[name] = [r.status, await json(r)];
    }
    const tus = await fetch(entry.api('/upload/resumable'), {
      method: 'POST',
      headers: { ...headers, 'tus-resumable': '1.0.0', 'upload-length': '1', 'upload-metadata': `bucketName ${btoa('hd')},objectName ${btoa(`${ALICE}/t.txt`)}` },
    });
    answers.tus = [tus.status, await json(tus)];
    return answers;
  }

  it('tokens whose role is not an API role are refused on every route (4xx, storage shape), as the apikey or as the bearer', async () => {
    for (const role of ['postgres', 'supabase_admin', 'SERVICE_ROLE', 'no_such_role']) {
      const token = await testToken({ role, sub: ALICE });
      for (const entry of entries) {
        for (const headers of [{ authorization: `Bearer ${token}`, apikey: db.config.anonKey }, { apikey: token }] as Record<string, string>[]) {
          for (const [name, [status, body]] of Object.entries(await everyRoute(entry, headers))) {
            const label = `${role} ${entry.name} ${Object.keys(headers).join('+')} ${name}`;
            expect(status, label).toBeGreaterThanOrEqual(400);
            expect(status, label).toBeLessThan(500);
            expect(body, label).toMatchObject({ ...storageShaped, message: `Role "${role}" is not allowed` });
          }
        }
        // Through supabase-js: the error, never a 500.
        const client = entry.client(db.config.anonKey, token);
        const { data, error } = await client.storage.listBuckets();
        expect(data, `${role} ${entry.name}`).toBeNull();
        expect(error, `${role} ${entry.name}`).toMatchObject({ status: 400, message: `Role "${role}" is not allowed` });
      }
    }
    // Nothing happened: the object is where it was.
    expect((await entries[0].client(db.config.anonKey, aliceToken).storage.from('hd').exists(`${ALICE}/mine.txt`)).data).toBe(true);
  });

  it('a request with neither apikey nor Authorization is refused on every route (listBuckets included); the anon key alone is the anon role', async () => {
    for (const entry of entries) {
      for (const [name, [status, body]] of Object.entries(await everyRoute(entry, {}))) {
        expect(status, `${entry.name} ${name}`).toBeGreaterThanOrEqual(400);
        expect(status, `${entry.name} ${name}`).toBeLessThan(500);
        expect(body, `${entry.name} ${name}`).toMatchObject({ ...storageShaped, code: 'AccessDenied', message: 'No API key found in request' });
      }
      const bare = await fetch(entry.api('/bucket'));
      expect(bare.status, entry.name).toBe(400);
      // The anon key, as a header or in the query: the anon role, which RLS shows no bucket.
      for (const init of [{ headers: { apikey: db.config.anonKey } }, {}]) {
        const path = 'headers' in init ? '/bucket' : `/bucket?apikey=${db.config.anonKey}`;
        const r = await fetch(entry.api(path), init);
        expect(r.status, `${entry.name} ${path}`).toBe(200);
        expect(await r.json()).toEqual([]);
      }
      // A service_role key as the apikey alone is service_role.
      const asService = await fetch(entry.api('/bucket'), { headers: { apikey: db.config.serviceRoleKey } });
      expect(((await asService.json()) as { id: string }[]).map((b) => b.id)).toEqual(['hd', 'hdpub', 'limits']);
      // Public objects and the public-read routes stay open, as URLs in a page must.
      const pub = await fetch(entry.api('/object/public/hdpub/open.txt'));
      expect(pub.status, entry.name).toBe(200);
      expect(await pub.text()).toBe('public bytes');
      const plain = await fetch(entry.api('/object/hdpub/open.txt'));
      expect(await plain.text()).toBe('public bytes');
    }
  });
});

describe('names', () => {
  it('an object name over 1024 bytes is a 400 InvalidKey; names up to 1024 bytes, long segments included, are stored, listed, found by cleanup and removed', async () => {
    const files = entries[0].client(db.config.serviceRoleKey).storage.from('hd');
    const long = (n: number) => `long/${'x'.repeat(n - 5)}`;
    const tooLong = await files.upload(long(1025), 'x');
    expect(tooLong.error?.message).toBe('Invalid key: the object name is longer than 1024 bytes');
    const raw = await fetch(entries[1].api(`/object/hd/${long(2000)}`), { method: 'POST', headers: { authorization: `Bearer ${db.config.serviceRoleKey}`, 'content-type': 'text/plain' }, body: 'x' });
    expect(raw.status).toBe(400);
    expect(await json(raw)).toMatchObject({ statusCode: '400', code: 'InvalidKey' });
    // 1024 bytes in one segment, and a segment whose file name triples when encoded (spaces).
    const names = [long(1024), `spaces/${'a b '.repeat(250)}end`, `deep/${'seg-'.repeat(60)}/${'y'.repeat(700)}`];
    for (const name of names) {
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(1024);
      expect((await files.upload(name, `bytes of ${name.length}`)).error, name.slice(0, 20)).toBeNull();
      expect(await (await files.download(name)).data?.text()).toBe(`bytes of ${name.length}`);
    }
    expect((await files.list('long')).data?.map((o) => o.name)).toEqual([long(1024).slice(5)]);
    // The backend lists exactly the rows' blobs: the split file names map back to their keys.
    expect(await storedBlobKeys(backend)).toEqual(await rowBlobKeys(db));
    expect(await cleanupStorage(backend, db.admin, { graceMs: 0 })).toMatchObject({ orphanBlobs: 0, foreign: 0 });
    expect((await files.remove(names)).data).toHaveLength(names.length);
    expect(await storedBlobKeys(backend)).toEqual(await rowBlobKeys(db));
  });

  it('NUL and other control characters in bucket ids and object names are 400s in storage\'s shape, on every route', async () => {
    const auth = { authorization: `Bearer ${db.config.serviceRoleKey}` };
    const jsonAuth = { ...auth, 'content-type': 'application/json' };
    for (const entry of entries) {
      for (const bad of ['a%00b', 'a%01b', 'a%1Fb', 'a%7Fb']) {
        const requests: [string, RequestInit][] = [
          [`/bucket/${bad}`, { headers: auth }],
          [`/bucket/${bad}`, { method: 'PUT', headers: jsonAuth, body: '{"public":true}' }],
          [`/bucket/${bad}`, { method: 'DELETE', headers: auth }],
          [`/bucket/${bad}/empty`, { method: 'POST', headers: auth }],
          [`/object/${bad}/x.txt`, { headers: auth }],
          [`/object/info/${bad}/x.txt`, { headers: auth }],
          [`/object/public/${bad}/x.txt`, {}],
          [`/object/${bad}/x.txt`, { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'x' }],
          [`/object/list/${bad}`, { method: 'POST', headers: jsonAuth, body: '{"prefix":""}' }],
          [`/object/list-v2/${bad}`, { method: 'POST', headers: jsonAuth, body: '{}' }],
          [`/object/sign/${bad}/x.txt`, { method: 'POST', headers: jsonAuth, body: '{"expiresIn":60}' }],
          [`/object/sign/${bad}`, { method: 'POST', headers: jsonAuth, body: '{"expiresIn":60,"paths":["x"]}' }],
          [`/object/${bad}`, { method: 'DELETE', headers: jsonAuth, body: '{"prefixes":["x"]}' }],
          [`/object/upload/sign/${bad}/x.txt`, { method: 'POST', headers: auth }],
          [`/render/image/authenticated/${bad}/x.png?width=5`, { headers: auth }],
        ];
        const id = decodeURIComponent(bad);
        for (const body of [{ bucketId: id, sourceKey: 'a', destinationKey: 'b' }, { bucketId: 'hd', sourceKey: 'a', destinationKey: 'b', destinationBucket: id }]) {
          for (const op of ['move', 'copy']) requests.push([`/object/${op}`, { method: 'POST', headers: jsonAuth, body: JSON.stringify(body) }]);
        }
        requests.push(['/bucket', { method: 'POST', headers: jsonAuth, body: JSON.stringify({ id, name: id }) }]);
        requests.push([`/object/hd`, { method: 'DELETE', headers: jsonAuth, body: JSON.stringify({ prefixes: [`${ALICE}/${id}.txt`] }) }]);
        requests.push([`/object/sign/hd`, { method: 'POST', headers: jsonAuth, body: JSON.stringify({ expiresIn: 60, paths: [`x${id}`] }) }]);
        requests.push([`/object/list/hd`, { method: 'POST', headers: jsonAuth, body: JSON.stringify({ prefix: id }) }]);
        requests.push([`/object/list-v2/hd`, { method: 'POST', headers: jsonAuth, body: JSON.stringify({ prefix: id }) }]);
        const form = new FormData();
        form.append('bucket', id);
        form.append('file', new Blob(['x']), 'x.txt');
        requests.push(['/storage/upload', { method: 'POST', headers: auth, body: form }]);
        for (const [path, init] of requests) {
          const r = await fetch(entry.api(path), init);
          const label = `${entry.name} ${init.method ?? 'GET'} ${path} ${init.body ?? ''}`;
          expect(r.status, label).toBe(400);
          expect(await json(r), label).toMatchObject({ ...storageShaped, statusCode: '400' });
        }
        const tus = await fetch(entry.api('/upload/resumable'), {
          method: 'POST',
          headers: { ...auth, 'tus-resumable': '1.0.0', 'upload-length': '1', 'upload-metadata': `bucketName ${Buffer.from(id).toString('base64')},objectName ${btoa('x.txt')}` },
        });
        expect(tus.status, `${entry.name} tus ${bad}`).toBe(400);
      }
    }
    const { rows } = await db.admin.query(`select id from storage.buckets order by id`);
    expect(rows.map((r) => r.id)).toEqual(['hd', 'hdpub', 'limits']);
  });
});

describe('listing', () => {
  it('list refuses a body of the wrong types with a 400 and still lists with a right one', async () => {
    const bad = [[], 'x', { prefix: 1 }, { limit: 'ten' }, { limit: 0 }, { limit: 1.5 }, { offset: -1 }, { offset: '2' }, { sortBy: 'name' }, { sortBy: { column: 'size' } },
      { sortBy: { column: 'name', order: 'up' } }, { search: 5 }, { search: 'a\u0000' }];
    for (const entry of entries) {
      for (const body of bad) {
        const r = await fetch(entry.api('/object/list/hd'), { method: 'POST', headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        expect(r.status, `${entry.name} ${JSON.stringify(body)}`).toBe(400);
        expect(await json(r)).toMatchObject({ statusCode: '400', code: 'InvalidRequest' });
      }
      const alice = entry.client(db.config.anonKey, aliceToken);
      const ok = await alice.storage.from('hd').list(ALICE, { limit: 10, offset: 0, sortBy: { column: 'name', order: 'desc' }, search: 'min' });
      expect(ok.error).toBeNull();
      expect(ok.data?.map((o) => o.name)).toEqual(['mine.txt']);
    }
  });

  it('list-v2 pages through objects and folders as the rows say, in each order, only what RLS shows, with a 400 for a bad body or cursor', async () => {
    const admin = entries[0].client(db.config.serviceRoleKey);
    const names = ['a.txt', 'B.txt', 'f/1.txt', 'f/2.txt', 'f/g/3.txt', 'fa.txt', 'folder/x.txt', 'h_/lit.txt', 'hX/miss.txt', 'z/last.txt'].map((n) => `${ALICE}/lv/${n}`);
    for (const n of names) expect((await admin.storage.from('hd').upload(n, n)).error, n).toBeNull();
    // Updated later than created, to tell the two orders apart.
    expect((await admin.storage.from('hd').upload(names[0], 'again', { upsert: true })).error).toBeNull();
    const others = [`${BOB}/lv/hidden.txt`];
    for (const n of others) expect((await admin.storage.from('hd').upload(n, n)).error).toBeNull();

    /** The model: the rows Alice may see, with their folder at the level after `prefix`, in the order asked for. */
    async function model(prefix: string, delimiter: boolean, column: 'name' | 'created_at' | 'updated_at', order: 'asc' | 'desc') {
      const { rows } = await db.admin.query<{ name: string; created_at: Date; updated_at: Date }>(
        `select name, created_at, updated_at from storage.objects where bucket_id = 'hd' and starts_with(name, $1) and (storage.foldername(name))[1] = $2`,
        [prefix, ALICE],
      );
      const byName = new Map<string, { name: string; folder: boolean; at: number }>();
      for (const r of rows) {
        const rest = r.name.slice(prefix.length);
        const slash = rest.indexOf('/');
        if (delimiter && slash >= 0) {
          const folder = prefix + rest.slice(0, slash + 1);
          const at = r.created_at.getTime();
          const seen = byName.get(folder);
          byName.set(folder, { name: folder, folder: true, at: Math.min(at, seen?.at ?? at) });
        } else byName.set(r.name, { name: r.name, folder: false, at: (column === 'updated_at' ? r.updated_at : r.created_at).getTime() });
      }
      const bytes = (s: string) => Buffer.from(s);
      const sorted = [...byName.values()].sort((x, y) => (column !== 'name' && x.at !== y.at ? x.at - y.at : Buffer.compare(bytes(x.name), bytes(y.name))));
      return order === 'asc' ? sorted : sorted.reverse();
    }

    const alice = entries[1].client(db.config.anonKey, aliceToken);
    for (const entry of entries) {
      const files = entry.client(db.config.anonKey, aliceToken).storage.from('hd');
      for (const prefix of [`${ALICE}/lv/`, `${ALICE}/lv/f`, `${ALICE}/lv/h_`, '']) {
        for (const delimiter of [true, false]) {
          for (const column of ['name', 'created_at', 'updated_at'] as const) {
            for (const order of ['asc', 'desc'] as const) {
              const label = `${entry.name} ${prefix} ${delimiter} ${column} ${order}`;
              const expected = await model(prefix, delimiter, column, order);
              const seen: { name: string; folder: boolean }[] = [];
              let cursor: string | undefined;
              let pages = 0;
              for (;;) {
                const { data, error } = await files.listV2({ prefix, with_delimiter: delimiter, sortBy: { column, order }, limit: 3, cursor });
                expect(error, label).toBeNull();
                pages++;
                expect(data!.folders.length + data!.objects.length, label).toBeLessThanOrEqual(3);
                // The page's entries in the model's order: each array in that order, and pages contiguous (checked below).
                const names = new Set([...data!.folders, ...data!.objects].map((e) => e.name));
                const ordered = expected.filter((e) => names.has(e.name)).map((e) => ({ name: e.name, folder: e.folder }));
                expect(ordered.length, label).toBe(names.size);
                expect(data!.folders.map((f) => f.name), label).toEqual(ordered.filter((e) => e.folder).map((e) => e.name));
                expect(data!.objects.map((o) => o.name), label).toEqual(ordered.filter((e) => !e.folder).map((e) => e.name));
                seen.push(...ordered);
                for (const o of data!.objects) expect(o, label).toMatchObject({ id: expect.any(String), created_at: expect.any(String), metadata: { size: expect.any(Number) } });
                // A folder's key is its last segment, as storage-js's listV2 callers read it ('a/b/' → 'b').
                for (const f of data!.folders) expect(f, label).toEqual({ id: null, name: f.name, key: f.name.replace(/\/$/, '').split('/').at(-1) });
                if (!data!.hasNext) {
                  expect(data!.nextCursor, label).toBeUndefined();
                  break;
                }
                cursor = data!.nextCursor;
                expect(cursor, label).toEqual(expect.any(String));
              }
              expect(seen, label).toEqual(expected.map((e) => ({ name: e.name, folder: e.folder })));
              expect(pages, label).toBe(Math.max(1, Math.ceil(expected.length / 3)));
            }
          }
        }
      }
    }
    // Spot checks of the model itself: folders end in '/', in byte order, `_` is literal, Bob's file is not there.
    const top = await alice.storage.from('hd').listV2({ prefix: `${ALICE}/lv/`, with_delimiter: true });
    expect(top.data?.folders.map((f) => f.name)).toEqual(['f/', 'folder/', 'hX/', 'h_/', 'z/'].map((f) => `${ALICE}/lv/${f}`));
    expect(top.data?.objects.map((o) => o.name)).toEqual(['B.txt', 'a.txt', 'fa.txt'].map((f) => `${ALICE}/lv/${f}`));
    expect((await alice.storage.from('hd').listV2({ prefix: `${ALICE}/lv/h_` })).data?.objects.map((o) => o.name)).toEqual([`${ALICE}/lv/h_/lit.txt`]);
    expect((await alice.storage.from('hd').listV2({ prefix: `${BOB}/` })).data).toMatchObject({ hasNext: false, folders: [], objects: [] });
    expect((await entries[0].client(db.config.serviceRoleKey).storage.from('hd').listV2({ prefix: `${BOB}/` })).data?.objects.map((o) => o.name)).toEqual(others);

    for (const entry of entries) {
      for (const body of [{ limit: 0 }, { limit: 'x' }, { with_delimiter: 'yes' }, { prefix: 3 }, { cursor: 5 }, { cursor: 'not a cursor' }, { cursor: Buffer.from('["x","size","asc",null]').toString('base64url') },
        { sortBy: { column: 'last_accessed_at' } }, { sortBy: { column: 'name', order: 'sideways' } }]) {
        const r = await fetch(entry.api('/object/list-v2/hd'), { method: 'POST', headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        expect(r.status, `${entry.name} ${JSON.stringify(body)}`).toBe(400);
        expect(await json(r)).toMatchObject({ statusCode: '400', code: 'InvalidRequest' });
      }
    }
    await admin.storage.from('hd').remove([...names, ...others]);
  }, 60_000);
});
