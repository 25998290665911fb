/**
 * The Telegram blob backend (STORAGE_BACKEND=telegram): object bytes are documents the bot sends
 * to TELEGRAM_CHANNEL_ID, cut into chunks of TELEGRAM_CHUNK_SIZE bytes (under the Bot API's
 * 20 MB getFile download and 50 MB upload limits) and read back chunk by chunk, streaming, with
 * ranges. The chunk manifest lives in Postgres (sql/0021_telegram_storage_backups.sql:
 * storage.telegram_blobs and storage.telegram_chunks), so `list`, `head` and reconciliation never
 * ask Telegram anything. Protocol notes: docs/telegram-storage.md.
 *
 * - A write is a 'staged' manifest row first; each chunk's message is recorded as soon as Telegram
 *   answers, so a failed or abandoned write leaves only messages the manifest names, which the
 *   write itself (or later the cleanup job, through listStaged/removeStaged) deletes.
 * - `commit` flips the row to 'committed'; blobs are never modified after.
 * - A copy is a new manifest naming the same documents; a message is deleted only when no chunk
 *   names it any more (purges take one advisory lock, so two of them cannot each keep a message
 *   for the other). A delete marks the rows 'deleting' first: if Telegram cannot be reached the
 *   rows stay, listed as staged, and cleanup deletes the messages later.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { byteMeter } from './meter.ts';
import { readChunked, sendChunked, TelegramApi } from './telegram-api.ts';
import { BlobNotFound, type BlobInfo, type BlobRange, type PutOptions, type StagedBlob, type StagedInfo, type StorageBackend, type WrittenBlob } from './types.ts';

export interface TelegramBackendOptions {
  apiUrl: string;
  botToken: string;
  channelId: string;
  chunkSize: number;
}

/** Advisory lock key held by purges (an arbitrary constant owned by this backend). */
const PURGE_LOCK = 7_270_614_117;
const STAGED_ID = /^[0-9a-f-]{36}$/;

interface ChunkRow {
  index: number;
  message_id: string;
  file_id: string;
  size: number;
}

export class TelegramBackend implements StorageBackend {
  readonly kind = 'telegram';
  readonly api: TelegramApi;
  private readonly channelId: string;
  private readonly chunkSize: number;
  private readonly pool: pg.Pool;

  constructor(opts: TelegramBackendOptions, databaseUrl: string) {
    this.api = new TelegramApi({ apiUrl: opts.apiUrl, botToken: opts.botToken });
    this.channelId = opts.channelId;
    this.chunkSize = opts.chunkSize;
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 4, idleTimeoutMillis: 30_000, application_name: 'nextmavens storage (telegram)' });
    this.pool.on('error', () => undefined);
  }

  async init(): Promise<void> {
    await this.pool.query('select 1 from storage.telegram_blobs limit 0');
  }

  async stage(key: string, body: Readable, opts: PutOptions): Promise<StagedBlob> {
    const id = randomUUID();
    await this.pool.query(`insert into storage.telegram_blobs (id, key) values ($1, $2)`, [id, key]);
    const meter = byteMeter(opts.maxBytes);
    try {
      await pipeline(body, meter, (source: AsyncIterable<Buffer>) =>
        sendChunked(this.api, this.channelId, source, this.chunkSize, id, (doc, index) =>
          // Recorded at once: from here on the manifest names the message, whatever happens next.
          this.pool.query(
            `with c as (insert into storage.telegram_chunks (blob_id, index, message_id, file_id, size) values ($1, $2, $3, $4, $5))
             update storage.telegram_blobs set updated_at = now() where id = $1`,
            [id, index, doc.messageId, doc.fileId, doc.size],
          ).then(() => undefined),
        ),
      );
    } catch (err) {
      await this.purge([id]).catch(() => undefined); // else the cleanup job will
      throw err;
    }
    const etag = meter.etag();
    await this.pool.query(`update storage.telegram_blobs set size = $2, etag = $3, updated_at = now() where id = $1`, [id, meter.size, etag]);
    return {
      key,
      size: meter.size,
      etag,
      commit: async () => {
        const { rowCount } = await this.pool.query(`update storage.telegram_blobs set state = 'committed', updated_at = now() where id = $1 and state = 'staged'`, [id]);
        if (!rowCount) throw new Error(`telegram: staged blob ${id} is gone`);
      },
      abort: () => this.purge([id]),
    };
  }

  async put(key: string, body: Readable, opts: PutOptions): Promise<WrittenBlob> {
    const staged = await this.stage(key, body, opts);
    try {
      await staged.commit();
    } catch (err) {
      await staged.abort().catch(() => undefined);
      throw err;
    }
    return { size: staged.size, etag: staged.etag };
  }

  private async chunks(key: string): Promise<{ size: number; chunks: ChunkRow[] } | undefined> {
    const { rows } = await this.pool.query<{ size: string; chunks: ChunkRow[] }>(
      `select b.size, coalesce(json_agg(json_build_object('index', c.index, 'message_id', c.message_id, 'file_id', c.file_id, 'size', c.size) order by c.index)
                                filter (where c.blob_id is not null), '[]') as chunks
         from storage.telegram_blobs b left join storage.telegram_chunks c on c.blob_id = b.id
        where b.key = $1 and b.state = 'committed' group by b.id`,
      [key],
    );
    return rows[0] && { size: Number(rows[0].size), chunks: rows[0].chunks };
  }

  async get(key: string, range?: BlobRange): Promise<Readable> {
    const blob = await this.chunks(key);
    if (!blob) throw new BlobNotFound(key);
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? blob.size - 1, blob.size - 1);
    return readChunked(this.api, blob.chunks.map((c) => ({ fileId: c.file_id, size: c.size })), start, end);
  }

  async head(key: string): Promise<BlobInfo | null> {
    const { rows } = await this.pool.query<{ size: string; updated_at: Date }>(`select size, updated_at from storage.telegram_blobs where key = $1 and state = 'committed'`, [key]);
    return rows[0] ? { key, size: Number(rows[0].size), lastModified: rows[0].updated_at } : null;
  }

  async delete(keys: string[]): Promise<void> {
    if (!keys.length) return;
    const { rows } = await this.pool.query<{ id: string }>(
      `update storage.telegram_blobs set state = 'deleting', updated_at = now() where key = any($1) and state = 'committed' returning id`,
      [keys],
    );
    if (rows.length) await this.purge(rows.map((r) => r.id));
  }

  /** Deletes the manifests of `ids` and every message no other chunk names; on failure nothing changes (retried by cleanup). */
  private async purge(ids: string[], opts: { stagedOnly?: boolean } = {}): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      await client.query('select pg_advisory_xact_lock($1)', [PURGE_LOCK]);
      if (opts.stagedOnly) {
        ids = (await client.query<{ id: string }>(`select id from storage.telegram_blobs where id = any($1) and state <> 'committed' for update`, [ids])).rows.map((r) => r.id);
      }
      const { rows } = await client.query<{ message_id: string }>(
        `with gone as (delete from storage.telegram_chunks where blob_id = any($1) returning message_id)
         select distinct g.message_id from gone g
          where not exists (select 1 from storage.telegram_chunks c where c.message_id = g.message_id and c.blob_id <> all($1))`,
        [ids],
      );
      await client.query(`delete from storage.telegram_blobs where id = any($1)`, [ids]);
      if (rows.length) await this.api.deleteMessages(this.channelId, rows.map((r) => Number(r.message_id)));
      await client.query('commit');
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async copy(from: string, to: string): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      // FOR SHARE: a concurrent delete (which marks the row 'deleting') waits, or this sees the row gone.
      const { rows } = await client.query<{ id: string }>(`select id from storage.telegram_blobs where key = $1 and state = 'committed' for share`, [from]);
      if (!rows[0]) throw new BlobNotFound(from);
      const id = randomUUID();
      await client.query(
        `insert into storage.telegram_blobs (id, key, state, size, etag) select $2, $3, 'committed', size, etag from storage.telegram_blobs where id = $1`,
        [rows[0].id, id, to],
      );
      await client.query(
        `insert into storage.telegram_chunks (blob_id, index, message_id, file_id, size) select $2, index, message_id, file_id, size from storage.telegram_chunks where blob_id = $1`,
        [rows[0].id, id],
      );
      await client.query('commit');
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    let after = '';
    for (;;) {
      const { rows } = await this.pool.query<{ key: string; size: string; updated_at: Date }>(
        `select key, size, updated_at from storage.telegram_blobs where state = 'committed' and key > $1 order by key limit 1000`,
        [after],
      );
      for (const r of rows) yield { key: r.key, size: Number(r.size), lastModified: r.updated_at };
      if (rows.length < 1000) return;
      after = rows.at(-1)!.key;
    }
  }

  async *listStaged(): AsyncIterable<StagedInfo> {
    const { rows } = await this.pool.query<{ id: string; updated_at: Date }>(`select id, updated_at from storage.telegram_blobs where state <> 'committed' order by updated_at`);
    for (const r of rows) yield { id: r.id, lastModified: r.updated_at };
  }

  async removeStaged(id: string): Promise<void> {
    if (!STAGED_ID.test(id)) throw new Error(`not a staged upload id: ${id}`);
    await this.purge([id], { stagedOnly: true });
  }

  close(): void {
    void this.pool.end().catch(() => undefined);
  }
}
