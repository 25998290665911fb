/**
 * A Telegram channel as a backup target (BACKUP_TARGET=telegram: or telegram:<chat>): the same
 * files as a directory or S3 target (backup/store.ts), each sent as documents of
 * TELEGRAM_CHUNK_SIZE bytes by the bot, cut and read back like the telegram storage backend's
 * objects (sendChunked / readChunked of storage/backend/telegram-api.ts). Files of at most
 * INLINE_MAX bytes (blob sidecars, manifests of small backups, verified.json) are kept in the
 * catalog itself instead of a message of their own.
 *
 * Bots cannot list a channel's messages, so the target keeps a **catalog** — every file's size,
 * time and chunks (message and file ids) — as a JSON document pinned in the channel: the bot token
 * and the channel are all a restore on a new machine needs. Protocol notes: docs/telegram-storage.md.
 *
 * - The catalog is sent again (and pinned, the previous one deleted) after every file outside
 *   `blobs/` — a backup's manifest is written last, so a finished backup is always in it — after
 *   every removal, and at least every FLUSH_EVERY_MS while blobs are written: a backup that dies
 *   midway leaves at most that long of blob messages outside the catalog.
 * - A flush first looks at the pinned message: if another process pinned a newer catalog, this
 *   one's additions and removals are applied onto that one rather than overwriting it.
 * - A removal drops the files from the catalog first, then deletes their messages (deleteMessages
 *   skips the ones Telegram no longer lets the bot delete): a catalog never names a deleted message.
 * - Flood control (HTTP 429 retry_after) is the client's (TelegramApi).
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BackupTarget } from '../config/load.ts';
import { readChunked, sendChunked, TelegramApi, type SentChunk } from '../storage/backend/telegram-api.ts';
import type { BackupStore, StoredFile } from './store.ts';

/** Files up to this many bytes live in the catalog (base64), not in messages of their own. */
export const INLINE_MAX = 16 * 1024;
const FLUSH_EVERY_MS = 60_000;
/** The pinned document's name: how the target recognises its catalog. */
export const CATALOG_NAME = 'nextmavens-backup-catalog.json';

interface CatalogEntry {
  size: number;
  modified: string;
  /** The file's documents, in order (absent for an inline file). */
  chunks?: SentChunk[];
  /** The bytes of a small file, base64. */
  inline?: string;
}

/** The pinned document: the catalog, or (when the catalog is larger than one chunk) the chunks it was sent as. */
type Pinned = { format: 1; kind: 'nextmavens-backup-catalog'; files: Record<string, CatalogEntry> } | { format: 1; kind: 'nextmavens-backup-catalog-parts'; parts: SentChunk[] };

type TelegramTarget = Extract<BackupTarget, { kind: 'telegram' }>;

export class TelegramCatalogError extends Error {}

const notFound = (location: string, name: string) => Object.assign(new Error(`${location}: no file ${name}`), { code: 'ENOENT' });
const asBuffer = (c: unknown) => (Buffer.isBuffer(c) ? c : Buffer.from(c as string));

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(asBuffer(c));
  return Buffer.concat(parts);
}

export async function telegramStore(t: TelegramTarget): Promise<BackupStore & { readonly api: TelegramApi }> {
  const api = new TelegramApi({ apiUrl: t.apiUrl, botToken: t.botToken });
  const channel = t.channelId;
  const location = `telegram:${channel}`;
  let files = new Map<string, CatalogEntry>();
  /** The messages the current catalog is in (the pinned one first), deleted when it is replaced. */
  let catalogMessages: number[] = [];
  /** Changes since the catalog was last read or written, applied onto a newer one found pinned. */
  const added = new Map<string, CatalogEntry>();
  const removed = new Set<string>();
  let dirty = false;
  let lastFlush = Date.now();
  let flushing: Promise<void> = Promise.resolve();

  /** The pinned catalog and the messages it is in; an empty one when nothing is pinned. */
  async function readPinned(): Promise<{ files: Map<string, CatalogEntry>; messages: number[] }> {
    const pin = await api.pinnedMessage(channel);
    if (!pin) return { files: new Map(), messages: [] };
    if (!pin.document || pin.document.fileName !== CATALOG_NAME) {
      throw new TelegramCatalogError(`${location}: the channel's pinned message is not a NextMavens backup catalog (${CATALOG_NAME}); unpin it or use a channel of its own for backups`);
    }
    let doc = JSON.parse((await readAll(await api.download(pin.document.fileId, 0, Math.max(0, (pin.document.size ?? 1) - 1)))).toString('utf8')) as Pinned;
    const messages = [pin.messageId];
    if (doc.kind === 'nextmavens-backup-catalog-parts') {
      const parts = doc.parts;
      messages.push(...parts.map((p) => p.messageId));
      const total = parts.reduce((n, p) => n + p.size, 0);
      doc = JSON.parse((await readAll(await readChunked(api, parts, 0, total - 1))).toString('utf8')) as Pinned;
    }
    if (doc.format !== 1 || doc.kind !== 'nextmavens-backup-catalog') throw new TelegramCatalogError(`${location}: the pinned catalog is of an unknown format`);
    return { files: new Map(Object.entries(doc.files)), messages };
  }

  async function writeCatalog(): Promise<void> {
    const pin = await api.pinnedMessage(channel);
    if (pin && pin.messageId !== catalogMessages[0]) {
      // Another process wrote the catalog since: ours are the changes, theirs the base.
      const fresh = await readPinned();
      for (const name of removed) fresh.files.delete(name);
      for (const [name, e] of added) fresh.files.set(name, e);
      files = fresh.files;
      catalogMessages = fresh.messages;
    }
    // What this catalog holds of the changes (writes may go on while it is sent).
    const sentAdded = new Map(added);
    const sentRemoved = new Set(removed);
    const body = Buffer.from(JSON.stringify({ format: 1, kind: 'nextmavens-backup-catalog', files: Object.fromEntries(files) } satisfies Pinned));
    const sent: number[] = [];
    try {
      let pinned = body;
      if (body.length > t.chunkSize) {
        const parts: SentChunk[] = [];
        await sendChunked(api, channel, [body], t.chunkSize, `nextmavens-backup-catalog-part-${randomUUID().slice(0, 8)}`, async (c) => void (parts.push(c), sent.push(c.messageId)));
        pinned = Buffer.from(JSON.stringify({ format: 1, kind: 'nextmavens-backup-catalog-parts', parts } satisfies Pinned));
      }
      const doc = await api.sendDocument(channel, pinned, CATALOG_NAME);
      sent.unshift(doc.messageId);
      await api.pinMessage(channel, doc.messageId);
    } catch (err) {
      await api.deleteMessages(channel, sent).catch(() => undefined);
      throw err;
    }
    const previous = catalogMessages;
    catalogMessages = sent;
    for (const [name, e] of sentAdded) if (added.get(name) === e) added.delete(name);
    for (const name of sentRemoved) if (!added.has(name)) removed.delete(name);
    if (previous.length) await api.deleteMessages(channel, previous).catch(() => undefined); // a leftover old catalog is harmless: it is no longer pinned
  }

  /** Writes the catalog if anything changed (one flush at a time). */
  function flush(): Promise<void> {
    const run = flushing.then(async () => {
      if (!dirty) return;
      dirty = false;
      lastFlush = Date.now();
      try {
        await writeCatalog();
      } catch (err) {
        dirty = true;
        throw err;
      }
    });
    flushing = run.catch(() => undefined);
    return run;
  }

  ({ files, messages: catalogMessages } = await readPinned());

  const entry = (name: string) => files.get(name);

  return {
    api,
    location,
    exists: async (name) => files.has(name),

    async write(name, body) {
      const it = (body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      const head: Buffer[] = [];
      let headBytes = 0;
      let ended = false;
      while (headBytes <= INLINE_MAX) {
        const r = await it.next();
        if (r.done) {
          ended = true;
          break;
        }
        const b = asBuffer(r.value);
        head.push(b);
        headBytes += b.length;
      }
      let e: CatalogEntry;
      const modified = new Date().toISOString();
      if (ended) e = { size: headBytes, modified, inline: Buffer.concat(head).toString('base64') };
      else {
        const chunks: SentChunk[] = [];
        const rest = async function* () {
          yield* head;
          for (let r = await it.next(); !r.done; r = await it.next()) yield asBuffer(r.value);
        };
        try {
          await sendChunked(api, channel, rest(), t.chunkSize, name.replaceAll('/', '_'), async (c) => void chunks.push(c));
        } catch (err) {
          await api.deleteMessages(channel, chunks.map((c) => c.messageId)).catch(() => undefined);
          throw err;
        }
        e = { size: chunks.reduce((n, c) => n + c.size, 0), modified, chunks };
      }
      const old = files.get(name);
      files.set(name, e);
      added.set(name, e);
      removed.delete(name);
      dirty = true;
      if (!name.startsWith('blobs/') || Date.now() - lastFlush >= FLUSH_EVERY_MS) await flush();
      if (old?.chunks) {
        if (dirty) await flush(); // the replaced messages go only once no catalog names them
        await api.deleteMessages(channel, old.chunks.map((c) => c.messageId)).catch(() => undefined);
      }
    },

    async read(name) {
      const e = entry(name);
      if (!e) throw notFound(location, name);
      if (e.inline !== undefined) return Readable.from([Buffer.from(e.inline, 'base64')]);
      return readChunked(api, e.chunks ?? [], 0, e.size - 1);
    },

    async *list(prefix): AsyncIterable<StoredFile> {
      for (const [name, e] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (name.startsWith(prefix)) yield { name, size: e.size, lastModified: new Date(e.modified) };
      }
    },

    async remove(names) {
      const gone: number[] = [];
      for (const name of names) {
        const e = files.get(name);
        if (!e) continue;
        files.delete(name);
        added.delete(name);
        removed.add(name);
        dirty = true;
        gone.push(...(e.chunks ?? []).map((c) => c.messageId));
      }
      await flush();
      // deleteMessages skips messages Telegram no longer lets the bot delete: those stay in the channel, out of the catalog.
      if (gone.length) await api.deleteMessages(channel, gone);
    },

    /** Blobs written since the last flush (write and remove flush everything else) go into the catalog now. */
    close: () => flush(),
  };
}
