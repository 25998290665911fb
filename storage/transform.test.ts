/**
 * Image transforms through supabase-js (download / getPublicUrl / createSignedUrl with
 * `transform`) on a PNG generated with sharp; output checked with sharp's own metadata.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { type TestDatabase, testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

/** A JSON response body, loosely typed for assertions. */
const json = async (r: Response) => (await r.json()) as Record<string, string | number>;

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let admin: SupabaseClient;
let alice: SupabaseClient;
let bob: SupabaseClient;
let aliceToken: string;
const ALICE = '33333333-3333-4333-8333-33333333333a';
const BOB = '33333333-3333-4333-8333-33333333333b';
const PHOTO = `${ALICE}/photo.png`;

const tokenFor = (sub: string) => testToken({ role: 'authenticated', sub });
const clientFor = (token: string) =>
  createClient(stack.url, db.config.anonKey, { auth: { persistSession: false }, global: { headers: { Authorization: `Bearer ${token}` } } });

async function meta(body: Blob | Response | null | undefined) {
  const buf = Buffer.from(await body!.arrayBuffer());
  const m = await sharp(buf).metadata();
  return { width: m.width, height: m.height, format: m.format, compression: m.compression };
}

beforeAll(async () => {
  t = await startTestStack({
    sql: `
    insert into storage.buckets (id, name, public) values ('imgs', 'imgs', false), ('pub', 'pub', true);
    create policy "own folder" on storage.objects for all to authenticated
      using (bucket_id = 'imgs' and (storage.foldername(name))[1] = auth.uid()::text)
      with check (bucket_id = 'imgs' and (storage.foldername(name))[1] = auth.uid()::text);
  `,
  });
  ({ db, stack } = t);
  admin = createClient(stack.url, db.config.serviceRoleKey, { auth: { persistSession: false } });
  aliceToken = await tokenFor(ALICE);
  alice = clientFor(aliceToken);
  bob = clientFor(await tokenFor(BOB));
  const png = await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 200, g: 40, b: 40 } } }).png().toBuffer();
  expect((await alice.storage.from('imgs').upload(PHOTO, png, { contentType: 'image/png' })).error).toBeNull();
  expect((await admin.storage.from('pub').upload('photo.png', png, { contentType: 'image/png', cacheControl: '120' })).error).toBeNull();
  expect((await alice.storage.from('imgs').upload(`${ALICE}/notes.txt`, Buffer.from('not an image'), { contentType: 'text/plain' })).error).toBeNull();
  expect((await alice.storage.from('imgs').upload(`${ALICE}/broken.png`, Buffer.from('definitely not a png'), { contentType: 'image/png' })).error).toBeNull();
});

afterAll(() => t?.close());

describe('image transforms', () => {
  it('download({transform}) resizes as the caller: cover by default, contain and fill, original format', async () => {
    const cover = await alice.storage.from('imgs').download(PHOTO, { transform: { width: 100, height: 100 } });
    expect(cover.error).toBeNull();
    expect(await meta(cover.data)).toMatchObject({ width: 100, height: 100, format: 'png' });
    const contain = await alice.storage.from('imgs').download(PHOTO, { transform: { width: 200, height: 100, resize: 'contain' } });
    expect(await meta(contain.data)).toMatchObject({ width: 133, height: 100 });
    const fill = await alice.storage.from('imgs').download(PHOTO, { transform: { width: 200, height: 100, resize: 'fill' } });
    expect(await meta(fill.data)).toMatchObject({ width: 200, height: 100 });
    const onlyWidth = await alice.storage.from('imgs').download(PHOTO, { transform: { width: 200 } });
    expect(await meta(onlyWidth.data)).toMatchObject({ width: 200, height: 150 });
  });

  it('formats: explicit webp/avif with quality, webp negotiated from Accept, origin keeps PNG', async () => {
    const url = (q: string) => `${stack.url}/storage/v1/render/image/authenticated/imgs/${PHOTO}?${q}`;
    const auth = { authorization: `Bearer ${aliceToken}` };
    const webp = await fetch(url('width=50&format=webp&quality=50'), { headers: auth });
    expect(webp.headers.get('content-type')).toBe('image/webp');
    expect(await meta(webp)).toMatchObject({ width: 50, height: 38, format: 'webp' });
    const avif = await fetch(url('width=64&format=avif'), { headers: auth });
    expect(avif.headers.get('content-type')).toBe('image/avif');
    expect(await meta(avif)).toMatchObject({ width: 64, format: 'heif', compression: 'av1' });
    const negotiated = await fetch(url('width=50'), { headers: { ...auth, accept: 'image/avif,image/webp,*/*' } });
    expect(negotiated.headers.get('content-type')).toBe('image/webp');
    expect(negotiated.headers.get('vary')).toBe('Accept');
    const origin = await fetch(url('width=50&format=origin'), { headers: { ...auth, accept: 'image/webp' } });
    expect(await meta(origin)).toMatchObject({ format: 'png' });
  });

  it('public and signed URLs with transform; the signed token fixes the transformation', async () => {
    const pub = admin.storage.from('pub').getPublicUrl('photo.png', { transform: { width: 80, height: 60 } }).data.publicUrl;
    expect(pub).toContain('/storage/v1/render/image/public/pub/photo.png?width=80&height=60');
    const res = await fetch(pub);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('max-age=120');
    expect(await meta(res)).toMatchObject({ width: 80, height: 60, format: 'png' });
    // A private bucket is not public.
    expect((await fetch(`${stack.url}/storage/v1/render/image/public/imgs/${PHOTO}?width=10`)).status).toBe(400);

    const signed = await alice.storage.from('imgs').createSignedUrl(PHOTO, 60, { transform: { width: 40, height: 40, resize: 'fill' } });
    expect(signed.error).toBeNull();
    expect(signed.data!.signedUrl).toContain('/storage/v1/render/image/sign/imgs/');
    const viaToken = await fetch(`${signed.data!.signedUrl}&width=300`); // query params cannot change a signed transformation
    // The operations applied, in supabase/storage's (imgproxy's) words: fill = force.
    expect(viaToken.headers.get('x-transformations')).toBe('height:40,width:40,resizing_type:force');
    expect(await meta(viaToken)).toMatchObject({ width: 40, height: 40 });
    const elsewhere = signed.data!.signedUrl.replace('photo.png', 'notes.txt');
    expect((await fetch(elsewhere)).status).toBe(400);
  });

  it('caps dimensions, never enlarges, answers 304 for a matching ETag', async () => {
    const huge = await alice.storage.from('imgs').download(PHOTO, { transform: { width: 100000, height: 100000 } });
    expect(await meta(huge.data)).toMatchObject({ width: 400, height: 300 });
    const url = `${stack.url}/storage/v1/render/image/authenticated/imgs/${PHOTO}?width=30`;
    const first = await fetch(url, { headers: { authorization: `Bearer ${aliceToken}` } });
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect((await fetch(url, { headers: { authorization: `Bearer ${aliceToken}`, 'if-none-match': etag } })).status).toBe(304);
  });

  it('clear 4xx for bad parameters, non-images, broken images, and objects RLS hides', async () => {
    const get = (q: string, name = PHOTO) => fetch(`${stack.url}/storage/v1/render/image/authenticated/imgs/${name}?${q}`, { headers: { authorization: `Bearer ${aliceToken}` } });
    for (const q of ['quality=5', 'resize=zoom', 'width=-3', 'width=abc', 'format=bmp']) {
      const res = await get(q);
      expect(res.status, q).toBe(400);
      expect((await json(res)).code, q).toBe('InvalidRequest');
    }
    const text = await get('width=10', `${ALICE}/notes.txt`);
    expect(text.status).toBe(400);
    expect(await json(text)).toMatchObject({ code: 'InvalidImage', message: 'The object is not a PNG, JPEG, WebP, AVIF, GIF or TIFF image (stored as text/plain)' });
    const broken = await get('width=10', `${ALICE}/broken.png`);
    expect(broken.status).toBe(400);
    expect((await json(broken)).code).toBe('InvalidImage');
    const hidden = await bob.storage.from('imgs').download(PHOTO, { transform: { width: 10 } });
    expect(hidden.error).not.toBeNull();
    expect((hidden.error as { status?: number }).status).toBe(400);
    // The authenticated route wants a key or a token; with the anon key, RLS hides the object.
    const anonymous = await fetch(`${stack.url}/storage/v1/render/image/authenticated/imgs/${PHOTO}?width=10`);
    expect(await json(anonymous)).toMatchObject({ code: 'AccessDenied', message: 'No API key found in request' });
    const anonKey = await fetch(`${stack.url}/storage/v1/render/image/authenticated/imgs/${PHOTO}?width=10`, { headers: { apikey: db.config.anonKey } });
    expect((await json(anonKey)).code).toBe('NoSuchKey');
  });

  it('the bytes decide, not the stored type: a PNG uploaded as a Buffer (text/plain) transforms; SVG and text never do', async () => {
    const png = await sharp({ create: { width: 120, height: 80, channels: 3, background: { r: 0, g: 90, b: 200 } } }).png().toBuffer();
    const files = alice.storage.from('imgs');
    // No contentType: storage-js sends a Buffer as text/plain;charset=UTF-8.
    expect((await files.upload(`${ALICE}/as-text.png`, png)).error).toBeNull();
    expect((await files.info(`${ALICE}/as-text.png`)).data?.contentType).toMatch(/^text\/plain/);
    const out = await files.download(`${ALICE}/as-text.png`, { transform: { width: 60 } });
    expect(out.error).toBeNull();
    expect(await meta(out.data)).toMatchObject({ width: 60, height: 40, format: 'png' });
    // format=origin is the format of the bytes; a JPEG stored as octet-stream comes back a JPEG.
    const jpeg = await sharp(png).jpeg().toBuffer();
    expect((await files.upload(`${ALICE}/blob.bin`, jpeg, { contentType: 'application/octet-stream' })).error).toBeNull();
    const origin = await fetch(`${stack.url}/storage/v1/render/image/authenticated/imgs/${ALICE}/blob.bin?width=30&format=origin`, { headers: { authorization: `Bearer ${aliceToken}` } });
    expect(origin.headers.get('content-type')).toBe('image/jpeg');
    expect(await meta(origin)).toMatchObject({ width: 30, format: 'jpeg' });
    // Every format the service transforms is recognised by its signature alone.
    for (const format of ['webp', 'avif', 'gif', 'tiff'] as const) {
      const bytes = await sharp(png).toFormat(format).toBuffer();
      expect((await files.upload(`${ALICE}/sig-${format}`, bytes, { contentType: 'text/plain' })).error, format).toBeNull();
      const res = await fetch(`${stack.url}/storage/v1/render/image/authenticated/imgs/${ALICE}/sig-${format}?width=12&format=origin`, { headers: { authorization: `Bearer ${aliceToken}` } });
      expect(res.status, format).toBe(200);
      expect((await meta(res)).format, format).toBe(format === 'avif' ? 'heif' : format);
    }
    // An SVG is refused whatever it is stored as (never handed to the decoder), and so is text stored as image/png.
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    for (const [name, body, contentType] of [['v.svg', svg, 'image/svg+xml'], ['v.png', svg, 'image/png'], ['t.png', Buffer.from('hello'), 'image/png']] as const) {
      expect((await files.upload(`${ALICE}/${name}`, body, { contentType })).error).toBeNull();
      const res = await fetch(`${stack.url}/storage/v1/render/image/authenticated/imgs/${ALICE}/${name}?width=5`, { headers: { authorization: `Bearer ${aliceToken}` } });
      expect(res.status, name).toBe(400);
      expect((await json(res)).code, name).toBe('InvalidImage');
    }
  });
});
