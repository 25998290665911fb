/**
 * The few Telegram Bot API methods the telegram blob backend (telegram.ts) and the Telegram backup
 * target (backup/telegram-store.ts) need, over fetch: `sendDocument` (multipart upload of one chunk
 * to the channel), `getFile` + the file download (with a Range header), `deleteMessages`, and
 * `pinChatMessage` + `getChat` (the backup target's catalog). Protocol notes: docs/telegram-storage.md.
 * Both cut a stream into documents and read it back the same way: sendChunked, readChunked.
 *
 * Every call honours the Bot API's flood control: an HTTP 429 answer carries
 * `parameters.retry_after` (seconds), and the call is repeated after that long, up to
 * MAX_RETRIES times; other failures are TelegramApiError with Telegram's code and description
 * (never the bot token, which is part of every URL).
 */
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

export interface TelegramApiOptions {
  apiUrl: string;
  botToken: string;
  /** Longest wait honoured for one 429 (seconds); a longer retry_after fails the call. */
  maxRetryAfter?: number;
}

export interface SentDocument {
  messageId: number;
  fileId: string;
  size: number;
}

interface ApiAnswer<T> {
  ok: boolean;
  result?: T;
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

export class TelegramApiError extends Error {
  readonly code: number;
  constructor(method: string, code: number, description: string) {
    super(`Telegram ${method} failed (${code}): ${description}`);
    this.name = 'TelegramApiError';
    this.code = code;
  }
}

const MAX_RETRIES = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TelegramApi {
  private readonly base: string;
  private readonly fileBase: string;
  private readonly maxRetryAfter: number;
  /** 429 answers waited out so far (tests and logs). */
  retries = 0;

  constructor(opts: TelegramApiOptions) {
    this.base = `${opts.apiUrl}/bot${opts.botToken}`;
    this.fileBase = `${opts.apiUrl}/file/bot${opts.botToken}`;
    this.maxRetryAfter = opts.maxRetryAfter ?? 120;
  }

  /** Runs `send` until its answer is not a 429 (waiting retry_after each time): the first successful HTTP answer. */
  private async request(method: string, send: () => Promise<Response>): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await send();
      } catch (err) {
        // A connection failure: retried, briefly.
        if (attempt >= 2) throw new TelegramApiError(method, 0, (err as Error).message);
        await sleep(250 * (attempt + 1));
        continue;
      }
      if (res.ok) return res;
      const answer = (await res.json().catch(() => ({ ok: false, error_code: res.status, description: res.statusText }))) as ApiAnswer<unknown>;
      const retryAfter = answer.parameters?.retry_after;
      if (res.status === 429 && attempt < MAX_RETRIES && typeof retryAfter === 'number' && retryAfter <= this.maxRetryAfter) {
        this.retries++;
        await sleep(Math.max(0, retryAfter) * 1000);
        continue;
      }
      throw new TelegramApiError(method, answer.error_code ?? res.status, answer.description ?? 'no description');
    }
  }

  /** `request`, then the Bot API answer's result. */
  private async call<T>(method: string, send: () => Promise<Response>): Promise<T> {
    const res = await this.request(method, send);
    const answer = (await res.json()) as ApiAnswer<T>;
    if (!answer.ok) throw new TelegramApiError(method, answer.error_code ?? res.status, answer.description ?? 'no description');
    return answer.result as T;
  }

  private json<T>(method: string, body: Record<string, unknown>): Promise<T> {
    return this.call<T>(method, () => fetch(`${this.base}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
  }

  /** Sends `bytes` as a document to `chatId`, silently. */
  async sendDocument(chatId: string, bytes: Buffer, fileName: string): Promise<SentDocument> {
    const message = await this.call<{ message_id: number; document?: { file_id: string; file_size?: number } }>('sendDocument', () => {
      const form = new FormData();
      form.set('chat_id', chatId);
      form.set('disable_notification', 'true');
      form.set('document', new Blob([bytes], { type: 'application/octet-stream' }), fileName);
      return fetch(`${this.base}/sendDocument`, { method: 'POST', body: form });
    });
    if (!message.document) throw new TelegramApiError('sendDocument', 0, 'the answer has no document');
    return { messageId: message.message_id, fileId: message.document.file_id, size: message.document.file_size ?? bytes.length };
  }

  /**
   * The bytes of a document from `start` to `end` (inclusive, relative to the document), as a
   * stream: getFile names a download path, fetched with a Range header (a server that ignores it
   * and sends everything is cut to the range here).
   */
  async download(fileId: string, start: number, end: number): Promise<Readable> {
    const file = await this.json<{ file_path?: string }>('getFile', { file_id: fileId });
    if (!file.file_path) throw new TelegramApiError('getFile', 0, 'the answer has no file_path');
    const url = `${this.fileBase}/${file.file_path}`;
    const res = await this.request('download', () => fetch(url, { headers: { range: `bytes=${start}-${end}` } }));
    const body = Readable.fromWeb(res.body as WebReadableStream);
    if (res.status === 206) return body;
    return body.pipe(sliceBytes(start, end));
  }

  /** Pins message `messageId` of `chatId`, silently (the bot needs the right to pin / edit messages). */
  async pinMessage(chatId: string, messageId: number): Promise<void> {
    await this.json('pinChatMessage', { chat_id: chatId, message_id: messageId, disable_notification: true });
  }

  /** The latest pinned message of `chatId` (getChat's `pinned_message`): its id and document, if any. */
  async pinnedMessage(chatId: string): Promise<{ messageId: number; document?: { fileId: string; fileName?: string; size?: number } } | undefined> {
    const chat = await this.json<{ pinned_message?: { message_id: number; document?: { file_id: string; file_name?: string; file_size?: number } } }>('getChat', { chat_id: chatId });
    const m = chat.pinned_message;
    if (!m) return undefined;
    return { messageId: m.message_id, document: m.document && { fileId: m.document.file_id, fileName: m.document.file_name, size: m.document.file_size } };
  }

  /** Deletes messages of `chatId` (at most 100 per call); ones already gone are not an error. */
  async deleteMessages(chatId: string, messageIds: number[]): Promise<void> {
    for (let i = 0; i < messageIds.length; i += 100) {
      try {
        await this.json('deleteMessages', { chat_id: chatId, message_ids: messageIds.slice(i, i + 100) });
      } catch (err) {
        // "message to delete not found" / "message can't be deleted" for ones already gone.
        if (!(err instanceof TelegramApiError && err.code === 400 && /not found/i.test(err.message))) throw err;
      }
    }
  }
}

/** One document of a chunked stream: its message, file and byte count. */
export interface SentChunk {
  messageId: number;
  fileId: string;
  size: number;
}

/**
 * Sends `source` to `chatId` as documents of `chunkSize` bytes (the last one shorter), in order,
 * one at a time; `sent` is awaited after each (to record it before the next is sent). The
 * documents are named `<name>.<index>`.
 */
export async function sendChunked(api: TelegramApi, chatId: string, source: AsyncIterable<Buffer> | Iterable<Buffer>, chunkSize: number, name: string, sent: (chunk: SentChunk, index: number) => Promise<void>): Promise<void> {
  let index = 0;
  const send = async (bytes: Buffer) => {
    const doc = await api.sendDocument(chatId, bytes, `${name}.${index}`);
    await sent({ messageId: doc.messageId, fileId: doc.fileId, size: bytes.length }, index++);
  };
  let parts: Buffer[] = [];
  let buffered = 0;
  for await (const chunk of source) {
    parts.push(chunk);
    buffered += chunk.length;
    while (buffered >= chunkSize) {
      const all = Buffer.concat(parts, buffered);
      await send(all.subarray(0, chunkSize));
      parts = [all.subarray(chunkSize)];
      buffered = all.length - chunkSize;
    }
  }
  if (buffered > 0) await send(Buffer.concat(parts, buffered));
}

/**
 * Bytes `start`..`end` (inclusive) of a stream sent by sendChunked, read chunk by chunk. The first
 * piece is opened before this returns, so an unreachable Bot API fails the call, not the body.
 */
export async function readChunked(api: TelegramApi, chunks: { fileId: string; size: number }[], start: number, end: number): Promise<Readable> {
  // The pieces of the chunks the range overlaps, relative to each chunk.
  const pieces: { fileId: string; from: number; to: number }[] = [];
  let offset = 0;
  for (const c of chunks) {
    const from = Math.max(start, offset);
    const to = Math.min(end, offset + c.size - 1);
    if (from <= to) pieces.push({ fileId: c.fileId, from: from - offset, to: to - offset });
    offset += c.size;
  }
  if (!pieces.length) return Readable.from([]);
  const first = await api.download(pieces[0].fileId, pieces[0].from, pieces[0].to);
  return Readable.from(
    (async function* () {
      yield* first;
      for (const p of pieces.slice(1)) yield* await api.download(p.fileId, p.from, p.to);
    })(),
  );
}

/** A pass-through keeping only bytes `start`..`end` (inclusive) of what flows through it. */
function sliceBytes(start: number, end: number) {
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void) {
      const from = Math.max(0, start - offset);
      const to = Math.min(chunk.length, end + 1 - offset);
      offset += chunk.length;
      done(null, from < to ? chunk.subarray(from, to) : undefined);
    },
  });
}
