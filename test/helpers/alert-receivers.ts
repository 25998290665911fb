/**
 * A local stand-in for what alerts are sent to: the Telegram Bot API (`POST /bot<token>/sendMessage`,
 * answered as Telegram does) and webhook receivers (any other path). It keeps every request's
 * path, headers and raw body; `failNext(n, prefix)` answers the next n requests whose path starts
 * with `prefix` with 500 (counted in `failed`), so retries show.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export interface AlertReceivers {
  url: string;
  received: ReceivedRequest[];
  /** Telegram sendMessage bodies received for `token`. */
  telegram(token: string): { chat_id: string; text: string }[];
  at(path: string): ReceivedRequest[];
  failNext(n: number, prefix?: string): void;
  /** Requests answered 500 by failNext. */
  failed: string[];
  close(): Promise<void>;
}

export async function startAlertReceivers(): Promise<AlertReceivers> {
  const received: ReceivedRequest[] = [];
  let failing = 0;
  let failPrefix = '/';
  const failed: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failing > 0 && (req.url ?? '/').startsWith(failPrefix)) {
        failing--;
        failed.push(req.url ?? '/');
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"ok":false,"description":"Internal Server Error"}');
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        json = undefined;
      }
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, raw, json });
      if (/^\/bot[^/]+\/sendMessage$/.test(path)) {
        const body = json as { chat_id?: string; text?: string } | undefined;
        if (!body?.chat_id || !body.text) {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, result: { message_id: received.length, chat: { id: body.chat_id }, text: body.text } }));
        return;
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    telegram: (token) => received.filter((r) => r.path === `/bot${token}/sendMessage`).map((r) => r.json),
    at: (path) => received.filter((r) => r.path === path),
    failNext(n, prefix = '/') {
      failing = n;
      failPrefix = prefix;
    },
    failed,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
