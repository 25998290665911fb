/**
 * The telegram blob backend: the storage end-to-end suite (test/helpers/storage-suite.ts) against
 * a local fake Bot API (test/helpers/fake-telegram.ts) whose limits are scaled down to the chunk
 * size and which floods (429) now and then; then what only this backend has: objects of many
 * chunks, ranges across chunk boundaries, flood control honoured, the Bot API's size limits,
 * an unreachable Bot API during writes and deletes, shared documents of copies, and TUS.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import pg from 'pg';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../config/load.ts';
import { startFakeTelegram, type FakeTelegram } from '../test/helpers/fake-telegram.ts';
import { createTestDatabase, testToken, type TestDatabase } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { storageSuite } from '../test/helpers/storage-suite.ts';
import { TelegramBackend } from './backend/telegram.ts';
import { cleanupStorage } from './cleanup.ts';

const CHUNK = 256 * 1024;

function telegramEnv(fake: FakeTelegram, chunk = CHUNK): Record<string, string> {
  return {
    STORAGE_BACKEND: 'telegram',
    TELEGRAM_API_URL: fake.url,
    TELEGRAM_BOT_TOKEN: fake.token,
    TELEGRAM_CHANNEL_ID: fake.channelId,
    TELEGRAM_CHUNK_SIZE: String(chunk),
  };
}

/** The message ids the manifest names (every state), sorted. */
async function manifestMessages(q: pg.Pool | pg.Client): Promise<number[]> {
  const { rows } = await q.query<{ m: string }>('select distinct message_id as m from storage.telegram_chunks order by 1');
  return rows.map((r) => Number(r.m));
}
const channelMessages = (fake: FakeTelegram) => [...fake.messages.keys()].sort((a, b) => a - b);

let suiteFake: FakeTelegram | undefined;

storageSuite({
  name: 'telegram',
  async setup() {
    // Telegram's limits scaled down to the chunk size: a chunk one byte larger would be refused.
    suiteFake = await startFakeTelegram({ uploadLimit: CHUNK, downloadLimit: CHUNK, floodEvery: 25, retryAfter: 1 });
    return telegramEnv(suiteFake);
  },
  async teardown() {
    expect(suiteFake?.floods).toBeGreaterThan(0); // the suite met flood control and waited it out
    await suiteFake?.close();
  },
  async leaveStaged(config: Config) {
    // A write that died after its first chunk: a staged manifest naming a message in the channel.
    const backend = new TelegramBackend(config.storage.telegram!, config.postgres.url);
    const doc = await backend.api.sendDocument(suiteFake!.channelId, Buffer.from('half an upload'), 'half');
    const c = new pg.Client({ connectionString: config.postgres.url });
    await c.connect();
    const id = randomUUID();
    await c.query(`insert into storage.telegram_blobs (id, key) values ($1, 'docs/x/@y')`, [id]);
    await c.query(`insert into storage.telegram_chunks values ($1, 0, $2, $3, 14)`, [id, doc.messageId, doc.fileId]);
    await c.end();
    backend.close();
    return id;
  },
  async age(config: Config, { blob, staged }) {
    const c = new pg.Client({ connectionString: config.postgres.url });
    await c.connect();
    await c.query(`update storage.telegram_blobs set updated_at = now() - interval '2 hours' where key = $1 or id::text = $2`, [blob ?? '', staged ?? '']);
    await c.end();
  },
  async expectConsistent(config: Config) {
    const c = new pg.Client({ connectionString: config.postgres.url });
    await c.connect();
    try {
      expect(channelMessages(suiteFake!)).toEqual(await manifestMessages(c));
    } finally {
      await c.end();
    }
  },
});

describe('the telegram backend itself', () => {
  let fake: FakeTelegram;
  let db: TestDatabase;
  let backend: TelegramBackend;
  const put = (key: string, bytes: Buffer) => backend.put(key, Readable.from([bytes]), { maxBytes: Infinity });
  const read = async (key: string, range?: { start: number; end: number }) => Buffer.concat(await (await backend.get(key, range)).toArray());
  const md5 = (b: Buffer) => `"${createHash('md5').update(b).digest('hex')}"`;

  beforeAll(async () => {
    fake = await startFakeTelegram({ uploadLimit: 1024, downloadLimit: 1024 });
    db = await createTestDatabase(telegramEnv(fake, 1024));
    backend = new TelegramBackend(db.config.storage.telegram!, db.url);
    await backend.init();
  });
  afterAll(async () => {
    backend?.close();
    await db?.drop();
    await fake?.close();
  });

  it('splits an object into chunks under the limits and streams it back whole and by ranges across chunk boundaries', async () => {
    const bytes = randomBytes(4321);
    expect(await put('b/big.bin/@1', bytes)).toEqual({ size: 4321, etag: md5(bytes) });
    const { rows } = await db.admin.query(`select c.index, c.size from storage.telegram_chunks c join storage.telegram_blobs b on b.id = c.blob_id where b.key = 'b/big.bin/@1' order by 1`);
    expect(rows).toEqual([0, 1, 2, 3, 4].map((index) => ({ index, size: index < 4 ? 1024 : 225 })));
    expect((await read('b/big.bin/@1')).equals(bytes)).toBe(true);
    for (const [start, end] of [[0, 0], [1023, 1024], [500, 3500], [4000, 4320], [1024, 2047], [4320, 9999]]) {
      expect((await read('b/big.bin/@1', { start, end })).equals(bytes.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
    }
    expect(await backend.head('b/big.bin/@1')).toMatchObject({ size: 4321 });
    // An empty object has no chunk at all (Telegram refuses empty documents).
    expect(await put('b/empty/@1', Buffer.alloc(0))).toMatchObject({ size: 0 });
    expect((await read('b/empty/@1')).length).toBe(0);
  });

  it('a chunk over the Bot API\'s limits is refused by Telegram: the chunk size is what keeps writes under them', async () => {
    const tooBig = new TelegramBackend({ ...db.config.storage.telegram!, chunkSize: 1500 }, db.url);
    try {
      await expect(tooBig.put('b/too-big/@1', Readable.from([randomBytes(2000)]), { maxBytes: Infinity })).rejects.toThrow(/413|Too Large/);
    } finally {
      tooBig.close();
    }
    expect(await backend.head('b/too-big/@1')).toBeNull();
    expect(channelMessages(fake)).toEqual(await manifestMessages(db.admin)); // the first, accepted chunk is gone again
  });

  it('honours 429 retry_after on uploads, downloads and deletes', async () => {
    fake.options.floodEvery = 3;
    fake.options.retryAfter = 1;
    const before = fake.floods;
    const started = Date.now();
    try {
      const bytes = randomBytes(2500);
      await put('b/flooded/@1', bytes);
      expect((await read('b/flooded/@1')).equals(bytes)).toBe(true);
      await backend.delete(['b/flooded/@1']);
    } finally {
      fake.options.floodEvery = 0;
    }
    const floods = fake.floods - before;
    expect(floods).toBeGreaterThanOrEqual(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(floods * 1000 - 50); // each retry_after waited out
    expect(await backend.head('b/flooded/@1')).toBeNull();
    expect(channelMessages(fake)).toEqual(await manifestMessages(db.admin));
  });

  it('a write the Bot API fails midway leaves no blob; a delete it cannot reach is finished by the cleanup job', async () => {
    const sentBefore = fake.calls.sendDocument ?? 0;
    const body = Readable.from(
      (async function* () {
        for (let i = 0; i < 5; i++) {
          // Telegram goes away once two chunks are in the channel.
          while (i === 2 && (fake.calls.sendDocument ?? 0) < sentBefore + 2) await new Promise((r) => setTimeout(r, 5));
          if (i === 2) fake.down = true;
          yield randomBytes(1024);
        }
      })(),
    );
    try {
      await expect(backend.put('b/broken/@1', body, { maxBytes: Infinity })).rejects.toThrow(/502|Bad Gateway/);
    } finally {
      fake.down = false;
    }
    // The purge could not reach Telegram either: the staged manifest still names the sent messages…
    const leftover = await db.admin.query(`select c.message_id from storage.telegram_chunks c join storage.telegram_blobs b on b.id = c.blob_id where b.state = 'staged'`);
    expect(leftover.rowCount).toBe(2);
    expect(await backend.head('b/broken/@1')).toBeNull();

    await put('b/doomed/@1', randomBytes(1500));
    fake.down = true;
    try {
      await expect(backend.delete(['b/doomed/@1'])).rejects.toThrow();
    } finally {
      fake.down = false;
    }
    expect(await backend.head('b/doomed/@1')).toBeNull(); // gone for readers at once
    // …and the cleanup job, past its grace period, deletes those messages.
    const report = await cleanupStorage(backend, db.admin, { graceMs: 0 });
    expect(report.staleStaged).toBe(2);
    expect(channelMessages(fake)).toEqual(await manifestMessages(db.admin));
    expect((await db.admin.query(`select 1 from storage.telegram_blobs where state <> 'committed'`)).rowCount).toBe(0);
  });

  it('copies share documents: deleting either keeps the other readable, deleting both deletes the messages', async () => {
    const bytes = randomBytes(2200);
    await put('b/orig/@1', bytes);
    const messages = fake.messages.size;
    await backend.copy('b/orig/@1', 'b/copy/@1');
    expect(fake.messages.size).toBe(messages); // no upload
    await backend.delete(['b/orig/@1']);
    expect((await read('b/copy/@1')).equals(bytes)).toBe(true);
    await Promise.all([backend.delete(['b/copy/@1']), backend.copy('b/copy/@1', 'b/copy2/@1').catch(() => undefined)]);
    await backend.delete(['b/copy2/@1']);
    expect(fake.messages.size).toBe(messages - 3);
    expect(channelMessages(fake)).toEqual(await manifestMessages(db.admin));
    await expect(backend.copy('b/orig/@1', 'b/x/@1')).rejects.toThrow(/not found/);
  });
});

describe('TUS uploads on the telegram backend', () => {
  let fake: FakeTelegram;
  let t: TestStack;

  beforeAll(async () => {
    fake = await startFakeTelegram({ uploadLimit: 64 * 1024, downloadLimit: 64 * 1024 });
    t = await startTestStack({
      env: telegramEnv(fake, 64 * 1024),
      sql: `insert into storage.buckets (id, name) values ('vault', 'vault');
            create policy "own" on storage.objects for all to authenticated using ((storage.foldername(name))[1] = auth.uid()::text) with check ((storage.foldername(name))[1] = auth.uid()::text);`,
    });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('a resumable upload lands in the channel in chunks and downloads whole', async () => {
    const sub = randomUUID();
    const token = await testToken({ role: 'authenticated', sub });
    const bytes = randomBytes(300 * 1024);
    await new Promise<void>((resolve, reject) => {
      new tus.Upload(bytes, {
        endpoint: `${t.stack.url}/storage/v1/upload/resumable`,
        headers: { authorization: `Bearer ${token}` },
        chunkSize: 100 * 1024,
        metadata: { bucketName: 'vault', objectName: `${sub}/big.bin`, contentType: 'application/octet-stream' },
        retryDelays: [],
        onSuccess: () => resolve(),
        onError: reject,
      }).start();
    });
    expect(fake.messages.size).toBe(5);
    const res = await fetch(`${t.stack.url}/storage/v1/object/vault/${sub}/big.bin`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    const part = await fetch(`${t.stack.url}/storage/v1/object/vault/${sub}/big.bin`, { headers: { authorization: `Bearer ${token}`, range: 'bytes=65530-65545' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(65530, 65546))).toBe(true);
  });
});
