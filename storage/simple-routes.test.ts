/**
 * The short routes through the gateway: POST /storage/upload (multipart and raw),
 * GET /storage/:file_id, DELETE /storage/:file_id, RLS as the caller, real HTTP statuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { type TestDatabase, testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

/** A JSON response body, loosely typed for assertions. */
const json = async (r: Response) => (await r.json()) as Record<string, string | number>;

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let alice: string;
let bob: string;
const ALICE = '44444444-4444-4444-8444-44444444444a';
const BOB = '44444444-4444-4444-8444-44444444444b';
const bearer = async (sub: string) =>
  `Bearer ${await testToken({ role: 'authenticated', sub })}`;

function form(fields: Record<string, string>, file: Blob, filename = 'file.bin') {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  f.append('file', file, filename);
  return f;
}
const upload = (auth: string | undefined, body: FormData | Buffer, query = '', headers: Record<string, string> = {}) =>
  fetch(`${stack.url}/storage/upload${query}`, { method: 'POST', body, headers: { ...(auth ? { authorization: auth } : {}), ...headers } });
const get = (id: string, auth?: string, headers: Record<string, string> = {}) => fetch(`${stack.url}/storage/${id}`, { headers: { ...(auth ? { authorization: auth } : {}), ...headers } });
const del = (id: string, auth?: string) => fetch(`${stack.url}/storage/${id}`, { method: 'DELETE', headers: auth ? { authorization: auth } : {} });

beforeAll(async () => {
  t = await startTestStack({
    sql: `
    insert into storage.buckets (id, name, public) values ('files', 'files', false), ('open', 'open', true);
    create policy "own folder" on storage.objects for all to authenticated
      using (bucket_id = 'files' and (storage.foldername(name))[1] = auth.uid()::text)
      with check (bucket_id = 'files' and (storage.foldername(name))[1] = auth.uid()::text);
    create policy "authenticated upload to open" on storage.objects for insert to authenticated with check (bucket_id = 'open');
  `,
  });
  ({ db, stack } = t);
  alice = await bearer(ALICE);
  bob = await bearer(BOB);
});

afterAll(() => t?.close());

describe('short storage routes', () => {
  let id: string;

  it('POST /storage/upload (multipart) answers 201 with the file JSON; GET /storage/:id serves the bytes', async () => {
    const res = await upload(alice, form({ bucket: 'files', path: `${ALICE}/docs/hello.txt` }, new Blob(['hello short'], { type: 'text/plain' })));
    expect(res.status).toBe(201);
    const file = await json(res);
    expect(file).toMatchObject({ bucket: 'files', path: `${ALICE}/docs/hello.txt`, key: `files/${ALICE}/docs/hello.txt`, size: 11, content_type: 'text/plain' });
    expect(file.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(file.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(res.headers.get('location')).toBe(`/storage/${file.id}`);
    id = String(file.id);
    const dl = await get(id, alice);
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-type')).toBe('text/plain');
    expect(dl.headers.get('etag')).toBe(file.etag);
    expect(await dl.text()).toBe('hello short');
    const part = await get(id, alice, { range: 'bytes=6-' });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('short');
    // The same object through the storage-js API.
    const same = await fetch(`${stack.url}/storage/v1/object/files/${ALICE}/docs/hello.txt`, { headers: { authorization: alice } });
    expect(await same.text()).toBe('hello short');
  });

  it('path defaults to the filename; raw bodies take ?bucket=&path=; public buckets serve by id without a token', async () => {
    const named = await upload(alice, form({ bucket: 'open' }, new Blob(['by name']), 'named.txt'));
    expect(named.status).toBe(201);
    const n = await json(named);
    expect(n.path).toBe('named.txt');
    expect(await (await get(String(n.id))).text()).toBe('by name');
    const raw = await upload(alice, Buffer.from('{"raw":true}'), `?bucket=open&path=raw/r.json`, { 'content-type': 'application/json' });
    expect(raw.status).toBe(201);
    expect(await json(raw)).toMatchObject({ key: 'open/raw/r.json', content_type: 'application/json', size: 12 });
  });

  it('RLS as the caller: other users cannot upload into, read or delete a folder that is not theirs', async () => {
    const write = await upload(bob, form({ bucket: 'files', path: `${ALICE}/evil.txt` }, new Blob(['x'])));
    expect(write.status).toBe(403);
    expect(await json(write)).toMatchObject({ code: 'AccessDenied', message: 'new row violates row-level security policy' });
    expect((await upload(undefined, form({ bucket: 'open', path: 'anon.txt' }, new Blob(['x'])))).status).toBe(403);
    const read = await get(id, bob);
    expect(read.status).toBe(404);
    expect((await json(read)).code).toBe('NoSuchKey');
    expect((await get(id)).status).toBe(404);
    expect((await del(id, bob)).status).toBe(404);
    expect((await get(id, alice)).status).toBe(200);
  });

  it('clear errors: missing bucket field, unknown bucket, duplicate key, bad key, bad id', async () => {
    const noBucket = await upload(alice, form({ path: `${ALICE}/x.txt` }, new Blob(['x'])));
    expect(noBucket.status).toBe(400);
    expect((await json(noBucket)).message).toMatch(/bucket field is required/);
    expect((await upload(alice, form({ bucket: 'nope', path: `${ALICE}/x.txt` }, new Blob(['x'])))).status).toBe(404);
    const dup = await upload(alice, form({ bucket: 'files', path: `${ALICE}/docs/hello.txt` }, new Blob(['again'])));
    expect(dup.status).toBe(409);
    const replaced = await upload(alice, form({ bucket: 'files', path: `${ALICE}/docs/hello.txt`, upsert: 'true' }, new Blob(['again'])));
    expect(replaced.status).toBe(201);
    expect((await json(replaced)).id).toBe(id);
    expect((await upload(alice, form({ bucket: 'files', path: `${ALICE}/../../etc/passwd` }, new Blob(['x'])))).status).toBe(400);
    const bad = await get('not-a-uuid', alice);
    expect(bad.status).toBe(400);
    expect((await json(bad)).message).toBe('file_id must be a UUID');
    expect((await get('00000000-0000-4000-8000-000000000000', alice)).status).toBe(404);
  });

  it('DELETE /storage/:id removes the row and its bytes', async () => {
    const res = await del(id, alice);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ message: 'Successfully deleted', id, key: `files/${ALICE}/docs/hello.txt` });
    expect((await get(id, alice)).status).toBe(404);
    expect((await del(id, alice)).status).toBe(404);
    const { rows } = await db.admin.query(`select 1 from storage.objects where id = $1`, [id]);
    expect(rows).toEqual([]);
  });
});
