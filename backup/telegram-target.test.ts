/**
 * A Telegram channel as the backup target (BACKUP_TARGET=telegram:, backup/telegram-store.ts),
 * against the fake Bot API (test/helpers/fake-telegram.ts) with small upload and download limits
 * and flood control (every 13th request answered 429 with retry_after):
 * - backup → every document under the limits, the catalog pinned → a new process (a fresh store of
 *   the same target) lists it, verifies it and restores it into a fresh DATA_DIR → the stack serves
 *   the same rows and bytes;
 * - retention (BACKUP_KEEP): older backups leave the catalog and their messages the channel;
 * - two writers merge their catalogs; a write that fails midway leaves no message;
 * - a channel whose pinned message is something else is refused, not overwritten.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseBackupTarget } from '../config/load.ts';
import { startFakeTelegram, type FakeTelegram } from '../test/helpers/fake-telegram.ts';
import { expectServesBackup, seedNotesAndFiles, startBackupStack, type BackupStack } from '../test/helpers/backup-stack.ts';
import { freePort } from '../test/helpers/net.ts';
import { TelegramApi } from '../storage/backend/telegram-api.ts';
import { readJson } from '../storage/backend/archive.ts';
import type { BackupResult } from './create.ts';
import { isDump, listBackups } from './manifest.ts';
import { restoreBackup } from './restore.ts';
import { backupFor } from './run.ts';
import { openStore } from './store.ts';
import { CATALOG_NAME, INLINE_MAX } from './telegram-store.ts';
import { verifyBackup } from './verify.ts';

const LIMIT = 512 * 1024;
const CHUNK = 256 * 1024;

let root: string;
let fake: FakeTelegram;
let a: BackupStack;
let first: BackupResult;
let tg: Record<string, string>;

async function stackEnv(name: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return { DATA_DIR: path.join(root, name), POSTGRESQL_PORT: String(await freePort()), PORT: String(await freePort()), HOST: '127.0.0.1', LOG_LEVEL: 'silent', STORAGE_CLEANUP_INTERVAL: '0', ...tg, ...extra };
}

const backupNow = async (s: BackupStack, keep?: number) => {
  const store = await openStore(s.config.backup.target);
  try {
    return await backupFor(keep ? { ...s.config, backup: { ...s.config.backup, keep } } : s.config, { url: s.config.postgres.url, store, backend: s.backend });
  } finally {
    await store.close();
  }
};

beforeAll(async () => {
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY', 'BACKUP_TARGET', 'BACKUP_SCHEDULE']) delete process.env[name];
  root = await mkdtemp(path.join(os.tmpdir(), 'nm-backup-tg-'));
  await chmod(root, 0o755);
  fake = await startFakeTelegram({ uploadLimit: LIMIT, downloadLimit: LIMIT, floodEvery: 13, retryAfter: 1 });
  tg = { BACKUP_TARGET: 'telegram:', TELEGRAM_API_URL: fake.url, TELEGRAM_BOT_TOKEN: fake.token, TELEGRAM_CHANNEL_ID: fake.channelId, TELEGRAM_CHUNK_SIZE: String(CHUNK) };
  a = await startBackupStack(await stackEnv('a'));
  await seedNotesAndFiles(a);
  // One object larger than a document may be: its archived copy is cut into chunks too.
  expect((await a.admin.storage.from('files').upload('big.bin', randomBytes(3 * CHUNK + 1000))).error).toBeNull();
}, 120_000);
afterAll(async () => {
  await a?.close();
  await fake?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('Telegram backup target', () => {
  it('BACKUP_TARGET=telegram: (TELEGRAM_CHANNEL_ID) or telegram:<chat>; a missing bot token or channel is a clear problem', async () => {
    expect(a.config.backup.target).toEqual({ kind: 'telegram', channelId: fake.channelId, apiUrl: fake.url, botToken: fake.token, chunkSize: CHUNK });
    expect(parseBackupTarget('telegram:@nm_backups', { TELEGRAM_BOT_TOKEN: '1:x' })).toMatchObject({ kind: 'telegram', channelId: '@nm_backups' });
    expect(parseBackupTarget('telegram://-100777', { TELEGRAM_BOT_TOKEN: '1:x' })).toMatchObject({ kind: 'telegram', channelId: '-100777' });
    expect(() => parseBackupTarget('telegram:', {})).toThrow(/names no Telegram channel[\s\S]*needs TELEGRAM_BOT_TOKEN/);
    expect(() => parseBackupTarget('telegram:not a chat', { TELEGRAM_BOT_TOKEN: '1:x' })).toThrow(/"telegram:not a chat" names no Telegram channel/);
  });

  it('backs up into the channel: documents under the Bot API limits, the catalog pinned, 429s waited out', async () => {
    first = await backupNow(a);
    const m = first.manifest;
    expect(first.location).toBe(`telegram:${fake.channelId}/backups/${first.id}`);
    expect(m.rows['public.notes']).toBe(500);
    expect(m.objects).toHaveLength(21);
    expect(!isDump(m) && m.base.size).toBeGreaterThan(LIMIT); // the base backup took several documents
    for (const bytes of fake.messages.values()) expect(bytes.length).toBeLessThanOrEqual(CHUNK);
    expect(fake.floods).toBeGreaterThan(0);
    const pinned = fake.messages.get(fake.pinned.at(-1)!)!;
    const catalog = JSON.parse(pinned.toString('utf8')) as { kind: string; files: Record<string, { size: number; inline?: string; chunks?: unknown[] }> };
    expect(catalog.kind).toBe('nextmavens-backup-catalog');
    expect(catalog.files[`backups/${first.id}/base.tar.zst`].chunks!.length).toBeGreaterThan(1);
    // Blob sidecars are small enough to live in the catalog: no message each.
    const sidecars = Object.entries(catalog.files).filter(([n]) => n.startsWith('blobs/') && n.endsWith('.json'));
    expect(sidecars).toHaveLength(21);
    for (const [, e] of sidecars) expect(e.size <= INLINE_MAX && e.inline !== undefined && e.chunks === undefined).toBe(true);
  });

  it('a new process lists, verifies and restores it from the channel alone: the same rows and bytes', async () => {
    const store = await openStore(parseBackupTarget('telegram:', tg));
    expect(await listBackups(store)).toEqual([first.id]);
    const verified = await verifyBackup({ config: a.config, store });
    expect(verified).toMatchObject({ ok: true, backup: first.id, objects: 21, problems: [] });
    const again = await openStore(parseBackupTarget('telegram:', tg));
    expect(await readJson<{ ok: boolean }>(again, `backups/${first.id}/verified.json`)).toMatchObject({ ok: true });

    const env = await stackEnv('b');
    const result = await restoreBackup({ config: await loadConfig(env), store: again, env });
    expect(result).toMatchObject({ id: first.id, objects: 21, copied: 21 });
    const b = await startBackupStack(env);
    try {
      await expectServesBackup(b, first.manifest);
    } finally {
      await b.close();
    }
  }, 120_000);

  it('BACKUP_KEEP: older backups leave the catalog and their messages the channel', async () => {
    const store = await openStore(a.config.backup.target);
    const firstMessages = await messagesOf(store, `backups/${first.id}/`);
    expect(firstMessages.length).toBeGreaterThan(1);
    for (const id of firstMessages) expect(fake.messages.has(id)).toBe(true);
    await a.pool.query(`insert into public.notes (body) values ('second')`);
    const second = await backupNow(a, 1);
    expect(await listBackups(await openStore(a.config.backup.target))).toEqual([second.id]);
    for (const id of firstMessages) expect(fake.messages.has(id), `message ${id}`).toBe(false);
    // Only the latest catalog is left in the channel.
    const catalogs = [...fake.messages.values()].filter((b) => b.toString('utf8', 0, 80).includes('"kind":"nextmavens-backup-catalog"'));
    expect(catalogs).toHaveLength(1);
    // The blobs both backups share are kept.
    const kept = await openStore(a.config.backup.target);
    for (const o of second.manifest.objects) expect(await kept.exists(o.file), o.key).toBe(true);
  }, 120_000);

  it('two processes writing one channel: the later catalog keeps the earlier one\'s files', async () => {
    const one = await openStore(a.config.backup.target);
    const two = await openStore(a.config.backup.target);
    await one.write('audit/one.jsonl', PassThrough.from([Buffer.from('{"a":1}\n')]) as Readable);
    await two.write('audit/two.jsonl', PassThrough.from([randomBytes(INLINE_MAX * 2)]) as Readable);
    const fresh = await openStore(a.config.backup.target);
    const names: string[] = [];
    for await (const f of fresh.list('audit/')) names.push(f.name);
    expect(names).toEqual(['audit/one.jsonl', 'audit/two.jsonl']);
    expect((await readJson<{ a: number }>(fresh, 'audit/one.jsonl')).a).toBe(1);
    await fresh.remove(names);
  });

  it('a write that fails midway leaves no message behind and nothing in the catalog', async () => {
    const store = await openStore(a.config.backup.target);
    const before = new Set(fake.messages.keys());
    const failing = Readable.from(
      (async function* () {
        yield randomBytes(CHUNK + 1000); // one whole document is sent before the source fails
        throw new Error('source failed');
      })(),
    );
    await expect(store.write('backups/broken/base.tar.zst', failing)).rejects.toThrow('source failed');
    expect(new Set(fake.messages.keys())).toEqual(before);
    expect(await store.exists('backups/broken/base.tar.zst')).toBe(false);
    expect(await (await openStore(a.config.backup.target)).exists('backups/broken/base.tar.zst')).toBe(false);
  });

  it('refuses a channel whose pinned message is not its catalog', async () => {
    const other = await startFakeTelegram();
    try {
      const api = new TelegramApi({ apiUrl: other.url, botToken: other.token });
      const doc = await api.sendDocument(other.channelId, Buffer.from('rules of the channel'), 'rules.txt');
      await api.pinMessage(other.channelId, doc.messageId);
      const target = parseBackupTarget('telegram:', { TELEGRAM_API_URL: other.url, TELEGRAM_BOT_TOKEN: other.token, TELEGRAM_CHANNEL_ID: other.channelId });
      await expect(openStore(target)).rejects.toThrow(`pinned message is not a NextMavens backup catalog (${CATALOG_NAME})`);
      expect(other.messages.size).toBe(1);
    } finally {
      await other.close();
    }
  });
});

/** The message ids of every file under `prefix`, from the pinned catalog. */
async function messagesOf(store: Awaited<ReturnType<typeof openStore>>, prefix: string): Promise<number[]> {
  const pinned = JSON.parse(fake.messages.get(fake.pinned.at(-1)!)!.toString('utf8')) as { files: Record<string, { chunks?: { messageId: number }[] }> };
  const names: string[] = [];
  for await (const f of store.list(prefix)) names.push(f.name);
  return names.flatMap((n) => (pinned.files[n].chunks ?? []).map((c) => c.messageId));
}
