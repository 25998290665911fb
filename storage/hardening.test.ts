/**
 * Storage correctness (issue 12), each against the embedded gateway and against the storage
 * service served alone (as compose runs it), with supabase-js where a client is involved:
 *
 * - a refused upload (size limit, MIME type, RLS; raw, multipart or streamed) leaves the client's
 *   keep-alive connections usable: refused upload → download, in a loop, every answer right.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveOne, type RunningStack } from '../cli/stack.ts';
import { type TestDatabase, testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { createBackend, type StorageBackend } from './backend.ts';
import { DRAIN_LIMIT } from './release-body.ts';
import { rowBlobKeys, storedBlobKeys } from './storage-suite.ts';

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

