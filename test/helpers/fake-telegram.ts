/**
 * A local fake of the Telegram Bot API for the telegram storage backend's tests: sendDocument
 * (multipart), getFile, the file download (with Range), deleteMessages, sendMessage, and
 * pinChatMessage + getChat's pinned_message (the backup target's catalog), for one bot token and
 * one channel. Like Telegram it refuses uploads over `uploadLimit` bytes (413
 * "Request Entity Too Large") and getFile of files over `downloadLimit` (400 "file is too big"),
 * and answers every `floodEvery`-th request with HTTP 429 and `retry_after` (flood control).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface FakeTelegramOptions {
  token?: string;
  channelId?: string;
  uploadLimit?: number;
  downloadLimit?: number;
  /** Every n-th request is refused with 429 (0: never). */
  floodEvery?: number;
  /** The retry_after of those 429s (seconds). */
  retryAfter?: number;
}

export interface FakeTelegram {
  url: string;
  token: string;
  channelId: string;
  /** Message id → document bytes, of the messages in the channel. */
  messages: Map<number, Buffer>;
  /** 429 answers given. */
  floods: number;
  /** Pinned message ids, oldest first (getChat answers the latest that still exists). */
  pinned: number[];
  /** Requests by method. */
  calls: Record<string, number>;
  /** Refuse (500) every request while true: an unreachable Bot API. */
  down: boolean;
  options: Required<FakeTelegramOptions>;
  close(): Promise<void>;
}

export async function startFakeTelegram(opts: FakeTelegramOptions = {}): Promise<FakeTelegram> {
  const options: Required<FakeTelegramOptions> = {
    token: opts.token ?? `123456:${randomBytes(8).toString('hex')}`,
    channelId: opts.channelId ?? '-1001234567890',
    uploadLimit: opts.uploadLimit ?? 50 * 1024 * 1024,
    downloadLimit: opts.downloadLimit ?? 20 * 1024 * 1024,
    floodEvery: opts.floodEvery ?? 0,
    retryAfter: opts.retryAfter ?? 1,
  };
  const messages = new Map<number, Buffer>();
  const files = new Map<string, number>(); // file_id → message id
  const paths = new Map<string, string>(); // file_path → file_id
  const documents = new Map<number, { file_id: string; file_unique_id: string; file_size: number; file_name: string }>(); // message id → document
  let nextMessage = 1;
  let requests = 0;

  const fake: FakeTelegram = {
    url: '',
    token: options.token,
    channelId: options.channelId,
    messages,
    floods: 0,
    pinned: [],
    calls: {},
    down: false,
    options,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const reply = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const fail = (res: http.ServerResponse, code: number, description: string) => reply(res, code, { ok: false, error_code: code, description });

  async function api(method: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const request = new Request('http://fake' + req.url, { method: req.method, headers: req.headers as Record<string, string>, body: req.method === 'POST' ? (req as unknown as ReadableStream) : undefined, duplex: 'half' } as RequestInit);
    const contentType = req.headers['content-type'] ?? '';
    if (method === 'sendDocument') {
      if (Number(req.headers['content-length'] ?? 0) > options.uploadLimit + 64 * 1024) {
        req.resume();
        return fail(res, 413, 'Request Entity Too Large');
      }
      const form = await request.formData();
      if (form.get('chat_id') !== options.channelId) return fail(res, 400, 'Bad Request: chat not found');
      const doc = form.get('document');
      if (!(doc instanceof Blob)) return fail(res, 400, 'Bad Request: there is no document in the request');
      const bytes = Buffer.from(await doc.arrayBuffer());
      if (bytes.length > options.uploadLimit) return fail(res, 413, 'Request Entity Too Large');
      if (bytes.length === 0) return fail(res, 400, 'Bad Request: file must be non-empty');
      const id = nextMessage++;
      messages.set(id, bytes);
      const fileId = `file-${id}-${randomBytes(4).toString('hex')}`;
      files.set(fileId, id);
      const document = { file_id: fileId, file_unique_id: `u${id}`, file_size: bytes.length, file_name: (doc as File).name };
      documents.set(id, document);
      return reply(res, 200, { ok: true, result: { message_id: id, chat: { id: Number(options.channelId) }, date: Math.floor(Date.now() / 1000), document } });
    }
    const params = contentType.includes('json') ? ((await request.json()) as Record<string, unknown>) : Object.fromEntries(new URL(request.url).searchParams);
    if (method === 'getFile') {
      const id = files.get(String(params.file_id));
      const bytes = id === undefined ? undefined : messages.get(id);
      if (!bytes) return fail(res, 400, 'Bad Request: invalid file_id');
      if (bytes.length > options.downloadLimit) return fail(res, 400, 'Bad Request: file is too big');
      const filePath = `documents/file_${randomBytes(6).toString('hex')}`;
      paths.set(filePath, String(params.file_id));
      return reply(res, 200, { ok: true, result: { file_id: params.file_id, file_unique_id: `u${id}`, file_size: bytes.length, file_path: filePath } });
    }
    if (method === 'deleteMessages' || method === 'deleteMessage') {
      if (String(params.chat_id) !== options.channelId) return fail(res, 400, 'Bad Request: chat not found');
      const ids = method === 'deleteMessage' ? [Number(params.message_id)] : (params.message_ids as number[]);
      if (!Array.isArray(ids) || ids.length < 1 || ids.length > 100) return fail(res, 400, 'Bad Request: message_ids must be 1-100 ids');
      if (method === 'deleteMessage' && !messages.has(ids[0])) return fail(res, 400, 'Bad Request: message to delete not found');
      for (const id of ids) messages.delete(id);
      return reply(res, 200, { ok: true, result: true });
    }
    if (method === 'pinChatMessage') {
      if (String(params.chat_id) !== options.channelId) return fail(res, 400, 'Bad Request: chat not found');
      if (!messages.has(Number(params.message_id))) return fail(res, 400, 'Bad Request: message to pin not found');
      fake.pinned.push(Number(params.message_id));
      return reply(res, 200, { ok: true, result: true });
    }
    if (method === 'getChat') {
      if (String(params.chat_id) !== options.channelId) return fail(res, 400, 'Bad Request: chat not found');
      const pin = fake.pinned.findLast((id) => messages.has(id));
      const pinned_message = pin === undefined ? undefined : { message_id: pin, chat: { id: Number(options.channelId) }, document: documents.get(pin) };
      return reply(res, 200, { ok: true, result: { id: Number(options.channelId), type: 'channel', title: 'fake', pinned_message } });
    }
    if (method === 'sendMessage') {
      return reply(res, 200, { ok: true, result: { message_id: nextMessage++, text: params.text } });
    }
    return fail(res, 404, 'Not Found');
  }

  function download(filePath: string, req: http.IncomingMessage, res: http.ServerResponse) {
    const fileId = paths.get(filePath);
    const id = fileId === undefined ? undefined : files.get(fileId);
    const bytes = id === undefined ? undefined : messages.get(id);
    if (!bytes) return fail(res, 404, 'Not Found');
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (!range) return res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
    if (start > end) return res.writeHead(416).end();
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${bytes.length}`, 'content-length': end - start + 1 }).end(bytes.subarray(start, end + 1));
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const botPrefix = `/bot${options.token}/`;
    const filePrefix = `/file/bot${options.token}/`;
    const method = url.pathname.startsWith(botPrefix) ? url.pathname.slice(botPrefix.length) : url.pathname.startsWith(filePrefix) ? 'download' : undefined;
    if (!method) {
      req.resume();
      return fail(res, 401, 'Unauthorized');
    }
    fake.calls[method] = (fake.calls[method] ?? 0) + 1;
    if (fake.down) {
      req.resume();
      return fail(res, 502, 'Bad Gateway');
    }
    requests++;
    if (options.floodEvery > 0 && requests % options.floodEvery === 0) {
      req.resume();
      fake.floods++;
      return reply(res, 429, { ok: false, error_code: 429, description: `Too Many Requests: retry after ${options.retryAfter}`, parameters: { retry_after: options.retryAfter } });
    }
    if (method === 'download') return download(url.pathname.slice(filePrefix.length), req, res);
    api(method, req, res).catch((err: Error) => fail(res, 500, err.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
