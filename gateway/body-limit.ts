/**
 * Request body limits at the edge, before the service reads anything: a declared Content-Length
 * over the limit is refused outright; a body without one (chunked) is counted as it arrives, and
 * at the first byte over the limit the service stops receiving it and `onOver` answers.
 */
import type { IncomingMessage } from 'node:http';

/** Is the declared length over `limit`? (Node refuses requests with both Content-Length and chunked.) */
export function declaredTooLarge(req: IncomingMessage, limit: number): boolean {
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) > limit;
}

/**
 * Counts the bytes of a body without Content-Length. The count sits where the HTTP parser hands
 * data to the request stream (`push`), so it sees every byte before any reader does; past
 * `limit`, nothing more reaches the reader (which therefore never sees the body end) and `onOver`
 * runs once.
 */
export function countStreamedBody(req: IncomingMessage, limit: number, onOver: () => void): void {
  if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] === undefined) return;
  let seen = 0;
  let over = false;
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (over) return false;
    if (chunk !== null && chunk !== undefined) {
      seen += typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Uint8Array).length;
      if (seen > limit) {
        over = true;
        onOver();
        return false;
      }
    }
    return push(chunk, encoding);
  };
}
