/**
 * The embedded gateway: one HTTP server that does in-process what Traefik does in compose,
 * from the same route table and edge policy — request id, CORS first, the apikey/JWT check,
 * body-size limit on buffered routes, prefix stripping — and then hands the request to the
 * service's own handler. Paths no route matches go to the gateway app (/health, /verify, 404).
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { applyCors } from './cors.ts';
import { EDGE_POLICY, matchRoute, websocketRoute, type RouteDef, type ServiceName } from './routes.ts';
import type { Service } from '../core/service.ts';
import type { JwtVerifier } from '../core/jwt.ts';
import { verifyRequest, type Denial } from '../core/caller.ts';
import { denialFor, identityHeaders } from './verify.ts';

export interface EmbeddedGatewayOptions {
  services: Record<ServiceName, Service>;
  gatewayApp: FastifyInstance;
  verifier: JwtVerifier;
  log: Logger;
  corsOrigins: readonly string[];
  maxBodyBytes: number;
}

const REQUEST_ID = 'x-request-id';
const ASSERTED_HEADERS = EDGE_POLICY.authResponseHeaders.map((h) => h.toLowerCase());

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** The path the service sees: the prefix removed (always starting with `/`), the query kept. */
export function stripPrefix(url: string, prefix: string | undefined): string {
  if (!prefix || !url.startsWith(prefix)) return url;
  const rest = url.slice(prefix.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export function createEmbeddedGateway(opts: EmbeddedGatewayOptions): http.Server {
  const { services, gatewayApp, verifier, log } = opts;

  /** Identity headers come only from the verifier: never trust copies sent by the client. */
  async function admit(req: IncomingMessage, route: RouteDef): Promise<Denial | undefined> {
    for (const h of ASSERTED_HEADERS) delete req.headers[h];
    if (route.auth !== 'apikey') return undefined;
    const result = await verifyRequest(verifier, req.headers, req.url);
    if (!result.ok) return denialFor(route.service, result, req.headers);
    for (const [name, value] of Object.entries(identityHeaders(result.identity))) req.headers[name.toLowerCase()] = value;
    return undefined;
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const id = (typeof req.headers[REQUEST_ID] === 'string' && req.headers[REQUEST_ID]) || randomUUID();
    req.headers[REQUEST_ID] = id;
    res.setHeader(REQUEST_ID, id);
    const path = pathOf(req.url ?? '/');
    const route = matchRoute(path);
    res.on('finish', () =>
      log.info(
        { reqId: id, method: req.method, path, route: route?.name ?? 'gateway', status: res.statusCode, ms: Math.round(performance.now() - started) },
        'request',
      ),
    );
    if (applyCors(req, res, opts.corsOrigins)) return;
    if (!route) return gatewayApp.routing(req, res);

    const denied = await admit(req, route);
    if (denied) return sendJson(res, denied.status, denied.body, denied.headers);
    const length = Number(req.headers['content-length'] ?? 0);
    if (route.bufferBody && length > opts.maxBodyBytes) {
      return sendJson(res, 413, { code: 'payload_too_large', message: `Request body exceeds ${opts.maxBodyBytes} bytes` });
    }
    req.url = stripPrefix(req.url ?? '/', route.stripPrefix);
    services[route.service].handle(req, res);
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const route = matchRoute(pathOf(req.url ?? '/'));
    const service = route && services[route.service];
    const refuse = (status: number, body: unknown) => {
      const payload = JSON.stringify(body);
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`,
      );
    };
    if (!route || !service?.upgrade) return refuse(404, { code: 'not_found', message: 'No WebSocket endpoint here' });
    const denied = await admit(req, websocketRoute(route));
    if (denied) return refuse(denied.status, denied.body);
    req.url = stripPrefix(req.url ?? '/', route.stripPrefix);
    service.upgrade(req, socket, head);
  }

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch((err: Error) => {
      log.error({ err }, 'gateway error');
      if (!res.headersSent) sendJson(res, 500, { code: 'internal_error', message: 'Internal gateway error' });
      else res.destroy();
    });
  });
  server.on('upgrade', (req, socket, head) => {
    onUpgrade(req, socket, head).catch((err: Error) => {
      log.error({ err }, 'gateway upgrade error');
      socket.destroy();
    });
  });
  return server;
}
