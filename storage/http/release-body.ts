/**
 * What happens to the body of a refused request. Uploads are refused before their body is read
 * (bucket size limit, MIME type, RLS) or part-way through it (the size limit), and an answer
 * sent while the body is still arriving leaves those bytes in front of the client's next request
 * on the same keep-alive connection: Node's http server stops reading once the handler stops
 * (busboy or the backend no longer pulls), the connection stalls until the keep-alive timeout
 * cuts it, and the next request undici sent on it fails with `fetch failed`.
 *
 * So every error answer of the storage service releases the unread body: a body that declares at
 * most DRAIN_LIMIT bytes is read to its end and dropped, and the connection stays usable; a larger
 * or undeclared (chunked) one is answered with `Connection: close`, so no client reuses the
 * connection, and read (at most DRAIN_LIMIT) while the answer goes out, after which Node closes it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The most a refused request's body is read after the answer (bytes). */
export const DRAIN_LIMIT = 1024 * 1024;

const released = new WeakSet<IncomingMessage>();

/** Detaches whatever was reading `req` (busboy, a backend write) and drains or closes, as above. Call before the answer's headers are written. */
export function releaseUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || req.destroyed || released.has(req)) return;
  released.add(req);
  const declared = Number(req.headers['content-length']);
  const drainable = req.headers['transfer-encoding'] === undefined && Number.isFinite(declared) && declared <= DRAIN_LIMIT;
  if (!drainable && !res.headersSent) res.setHeader('connection', 'close');
  req.unpipe();
  let read = 0;
  req.on('data', (chunk: Buffer) => {
    read += chunk.length;
    // More than it declared cannot happen (the parser enforces Content-Length): this bounds chunked bodies.
    if (read > DRAIN_LIMIT) {
      req.pause();
      if (res.writableFinished) req.socket.destroy();
      else res.once('finish', () => req.socket.destroy());
    }
  });
  req.resume();
}
