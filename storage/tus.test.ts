/**
 * TUS resumable uploads with tus-js-client (Node) through the gateway: chunked upload of a
 * Buffer and of a stream, interrupted and resumed, committed through the normal upload path
 * (RLS insert as the caller); denied before any byte for a user without insert permission;
 * uploads belong to their creator; MIME and size limits at creation.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createClient } from '@supabase/supabase-js';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { type TestDatabase, testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let endpoint: string;
let alice: string;
let bob: string;
const ALICE = '55555555-5555-4555-8555-55555555555a';
const BOB = '55555555-5555-4555-8555-55555555555b';
const CHUNK = 64 * 1024;
const tokenFor = (sub: string) => testToken({ role: 'authenticated', sub });

interface Outcome {
  url: string | null;
  error?: tus.DetailedError;
  status?: number;
  body?: string;
}

/** Runs a tus upload to completion, to an error, or until `stopAfterChunks` chunks (then aborts). */
function runUpload(body: Buffer | Readable, token: string, metadata: Record<string, string>, opts: { uploadUrl?: string; upsert?: boolean; stopAfterChunks?: number; onResumeOffset?: (n: number) => void } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    let chunks = 0;
    let first = true;
    const upload: tus.Upload = new tus.Upload(body, {
      endpoint,
      uploadUrl: opts.uploadUrl,
      headers: { authorization: `Bearer ${token}`, 'x-upsert': String(opts.upsert ?? false) },
      chunkSize: CHUNK,
      uploadSize: Buffer.isBuffer(body) ? undefined : (body as Readable & { size?: number }).size,
      metadata,
      retryDelays: [],
      onChunkComplete(chunkSize, accepted) {
        if (first) opts.onResumeOffset?.(accepted - chunkSize); // where this run started
        first = false;
        chunks += 1;
        if (opts.stopAfterChunks && chunks >= opts.stopAfterChunks) void upload.abort().then(() => resolve({ url: upload.url }));
      },
      onSuccess: () => resolve({ url: upload.url }),
      onError: (error) => {
        const e = error as tus.DetailedError;
        resolve({ url: upload.url, error: e, status: e.originalResponse?.getStatus(), body: e.originalResponse?.getBody() });
      },
    });
    upload.start();
  });
}

const download = async (key: string, token: string) => {
  const res = await fetch(`${stack.url}/storage/v1/object/vault/${key}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type'), cache: res.headers.get('cache-control') };
};
const tusFiles = async () => (await readdir(path.join(db.config.dataDir, 'storage', 'tus')).catch(() => [] as string[])).filter((f) => !f.startsWith('.'));

beforeAll(async () => {
  t = await startTestStack({
    sql: `
    insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types) values ('vault', 'vault', false, 1000000, array['application/*', 'image/*']);
    create policy "own folder" on storage.objects for all to authenticated
      using (bucket_id = 'vault' and (storage.foldername(name))[1] = auth.uid()::text)
      with check (bucket_id = 'vault' and (storage.foldername(name))[1] = auth.uid()::text);
  `,
  });
  ({ db, stack } = t);
  endpoint = `${stack.url}/storage/v1/upload/resumable`;
  alice = await tokenFor(ALICE);
  bob = await tokenFor(BOB);
});

afterAll(() => t?.close());

describe('TUS resumable uploads', () => {
  it('uploads a Buffer in chunks, interrupted and resumed, into the same object a normal upload makes', async () => {
    const data = randomBytes(5 * CHUNK + 1234);
    const meta = { bucketName: 'vault', objectName: `${ALICE}/big.bin`, contentType: 'application/octet-stream', cacheControl: '3600', metadata: JSON.stringify({ via: 'tus' }) };
    const partial = await runUpload(data, alice, meta, { stopAfterChunks: 2 });
    expect(partial.error).toBeUndefined();
    expect(partial.url).toMatch(new RegExp(`^${stack.url}/storage/v1/upload/resumable/[0-9a-f]+$`));
    // Not an object yet.
    expect((await download(`${ALICE}/big.bin`, alice)).status).toBe(400);
    const head = await fetch(partial.url!, { method: 'HEAD', headers: { authorization: `Bearer ${alice}`, 'tus-resumable': '1.0.0' } });
    expect(Number(head.headers.get('upload-offset'))).toBe(2 * CHUNK);

    let resumedAt = -1;
    const rest = await runUpload(data, alice, meta, { uploadUrl: partial.url!, onResumeOffset: (n) => (resumedAt = n) });
    expect(rest.error).toBeUndefined();
    expect(resumedAt).toBe(2 * CHUNK);
    const got = await download(`${ALICE}/big.bin`, alice);
    expect(got.status).toBe(200);
    expect(got.bytes.equals(data)).toBe(true);
    expect(got.type).toBe('application/octet-stream');
    expect(got.cache).toBe('max-age=3600');
    const { rows } = await db.admin.query(`select owner_id, user_metadata, (metadata->>'size')::int as size from storage.objects where name = $1`, [`${ALICE}/big.bin`]);
    expect(rows[0]).toEqual({ owner_id: ALICE, user_metadata: { via: 'tus' }, size: data.length });
    expect(await tusFiles()).toEqual([]); // the staged TUS file is gone once committed
  });

  it('uploads a stream; x-upsert replaces, without it a second upload is a 409 before any byte', async () => {
    const meta = { bucketName: 'vault', objectName: `${ALICE}/stream.bin`, contentType: 'application/x-test' };
    const data = randomBytes(3 * CHUNK);
    const s = Object.assign(Readable.from([data.subarray(0, CHUNK), data.subarray(CHUNK)]), { size: data.length });
    expect((await runUpload(s, alice, meta)).error).toBeUndefined();
    expect((await download(`${ALICE}/stream.bin`, alice)).bytes.equals(data)).toBe(true);
    const dup = await runUpload(Buffer.from('v2'), alice, meta);
    expect(dup.status).toBe(409);
    expect(JSON.parse(dup.body!)).toMatchObject({ code: 'KeyAlreadyExists' });
    expect((await runUpload(Buffer.from('v2'), alice, meta, { upsert: true })).error).toBeUndefined();
    expect((await download(`${ALICE}/stream.bin`, alice)).bytes.toString()).toBe('v2');
  });

  it('denies a user without insert permission at creation, before any byte is accepted', async () => {
    const before = await tusFiles();
    const denied = await runUpload(randomBytes(CHUNK), bob, { bucketName: 'vault', objectName: `${ALICE}/evil.bin`, contentType: 'application/octet-stream' });
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body!)).toMatchObject({ code: 'AccessDenied', message: 'new row violates row-level security policy' });
    expect(denied.url).toBeNull();
    expect(await tusFiles()).toEqual(before);
    const anon = await runUpload(randomBytes(10), db.config.anonKey, { bucketName: 'vault', objectName: `${ALICE}/anon.bin` });
    expect(anon.status).toBe(403);
    const badJwt = await runUpload(randomBytes(10), 'not-a-jwt', { bucketName: 'vault', objectName: `${ALICE}/x.bin` });
    expect(badJwt.status).toBe(403);
  });

  it('an unfinished upload belongs to its creator: others cannot resume, inspect or delete it', async () => {
    const partial = await runUpload(randomBytes(3 * CHUNK), alice, { bucketName: 'vault', objectName: `${ALICE}/mine.bin` }, { stopAfterChunks: 1 });
    const hijack = await runUpload(randomBytes(3 * CHUNK), bob, { bucketName: 'vault', objectName: `${ALICE}/mine.bin` }, { uploadUrl: partial.url! });
    expect(hijack.status).toBe(403);
    for (const method of ['HEAD', 'DELETE']) {
      const res = await fetch(partial.url!, { method, headers: { authorization: `Bearer ${bob}`, 'tus-resumable': '1.0.0' } });
      expect(res.status, method).toBe(403);
    }
    const terminate = await fetch(partial.url!, { method: 'DELETE', headers: { authorization: `Bearer ${alice}`, 'tus-resumable': '1.0.0' } });
    expect(terminate.status).toBe(204);
  });

  it('checks bucket, key, MIME type and size at creation', async () => {
    const cases: [Record<string, string>, number, string][] = [
      [{ bucketName: 'nope', objectName: `${ALICE}/a.bin` }, 404, 'NoSuchBucket'],
      [{ bucketName: 'vault', objectName: `${ALICE}/../x` }, 400, 'InvalidKey'],
      [{ bucketName: 'vault', objectName: `${ALICE}/a.txt`, contentType: 'text/plain' }, 415, 'InvalidMimeType'],
      [{ bucketName: 'vault' }, 400, 'InvalidRequest'],
    ];
    for (const [meta, status, code] of cases) {
      const r = await runUpload(Buffer.from('x'), alice, meta);
      expect(r.status, JSON.stringify(meta)).toBe(status);
      expect(JSON.parse(r.body!).code).toBe(code);
    }
    const big = await runUpload(randomBytes(1_000_001), alice, { bucketName: 'vault', objectName: `${ALICE}/huge.bin` });
    expect(big.status).toBe(413);
    // OPTIONS needs no token and describes the server; GET is not an endpoint.
    const options = await fetch(endpoint, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('tus-version')).toContain('1.0.0');
    expect(options.headers.get('tus-extension')).toContain('creation');
    expect((await fetch(endpoint, { headers: { authorization: `Bearer ${alice}` } })).status).toBeGreaterThanOrEqual(400);
  });
});
