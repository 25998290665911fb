/**
 * A REST answer written straight to Node's response, for the requests rest/service.ts serves
 * without Fastify: byte for byte what Fastify's reply.send sends for the same answer
 * (node_modules/fastify/lib/reply.js onSendEnd) — lower-cased header names, `text/plain` when
 * the engine named no type, Content-Length of the body, `0` for an empty answer except to HEAD
 * and on 204/304, no body on HEAD and 204.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RestResponse } from './api-request.ts';

/** A request that carries no body (no length, or length 0, and not chunked): nothing to parse or limit. */
export function hasNoBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined;
}

/** The methods whose body Fastify 5 parses (its `bodywith` set, node_modules/fastify/fastify.js); GET, HEAD and TRACE it never reads. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Reads a body of a declared Content-Length of at most `limit` bytes whole and hands it to
 * `done` as Fastify's catch-all parser (`parseAs: 'buffer'`) would hand it to the handler
 * (node_modules/fastify/lib/handle-request.js): for POST, PUT, PATCH, DELETE and OPTIONS, with a
 * Content-Type or without; for any other method the body is drained unread and `done` gets
 * none. A body cut short by the client ends in `aborted`. False, reading nothing, for a chunked
 * body or one over the limit: Fastify answers those.
 */
export function readDeclaredBody(req: IncomingMessage, limit: number, done: (body: Buffer | undefined) => void, aborted: () => void): boolean {
  const length = req.headers['content-length'];
  if (length === undefined || req.headers['transfer-encoding'] !== undefined || !/^\d+$/.test(length) || Number(length) > limit) return false;
  if (!BODY_METHODS.has(req.method ?? 'GET')) {
    done(undefined);
    return true;
  }
  const chunks: Buffer[] = [];
  let ended = false;
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.once('end', () => {
    ended = true;
    done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
  req.once('close', () => ended || aborted());
  req.once('error', () => undefined); // the close that follows ends it
  return true;
}

export function sendRestResponse(req: IncomingMessage, res: ServerResponse, answer: RestResponse): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(answer.headers)) headers[name.toLowerCase()] = value;
  const { status } = answer;
  if (answer.statusText !== undefined) res.statusMessage = answer.statusText;
  if (answer.body === undefined || status === 204 || req.method === 'HEAD') {
    if (status >= 200 && status !== 204 && status !== 304 && req.method !== 'HEAD') headers['content-length'] = '0';
    res.writeHead(status, headers);
    res.end();
    return;
  }
  headers['content-type'] ??= 'text/plain; charset=utf-8';
  headers['content-length'] = String(Buffer.byteLength(answer.body));
  res.writeHead(status, headers);
  res.end(answer.body);
}
