/**
 * The embedded gateway: one HTTP server that does in-process what Traefik does in compose,
 * from the same route table and edge policy — request id, CORS first, the apikey/JWT check, the
 * allowlist of sensitive requests, the rate limit of the route's group, its body limit, prefix
 * stripping — and then hands the request to the service's own handler. Paths no route matches go
 * to the gateway app (/health, /verify, the dashboard, /metrics, 404). One log line per request
 * (and, given `requestLog`, one entry kept in Postgres).
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { applyCors } from './cors.ts';
import { EDGE_POLICY, matchRoute, websocketRoute, type BufferedGroup, type RouteDef, type ServiceName } from './routes.ts';
import type { Service } from '../core/service.ts';
import type { JwtVerifier } from '../core/jwt.ts';
import { verifyRequest, type Denial, type EdgeIdentity } from '../core/caller.ts';
import { denialFor, edgeRefusal, identityHeaders } from './verify.ts';
import type { SuperAdminAudit } from '../core/super-admin-audit.ts';
import { createEdgeGuard, rateKey, type EdgeGuard } from './edge.ts';
import { rateLimitHeaders, type RateLimits } from './rate-limit.ts';
import { countStreamedBody, declaredTooLarge } from './body-limit.ts';
import { requestLogFields, type RequestLogFields } from './request-log.ts';

export interface EmbeddedGatewayOptions {
  services: Record<ServiceName, Service>;
  gatewayApp: FastifyInstance;
  verifier: JwtVerifier;
  log: Logger;
  corsOrigins: readonly string[];
  /** The largest body of each buffered group (MAX_BODY_BYTES, GRAPHQL_MAX_BODY_BYTES). */
  bodyLimits: Record<BufferedGroup, number>;
  /** Per-group rate limits (gateway/rate-limit.ts); undefined: none. */
  rateLimits?: RateLimits;
  /** Writes a foreign super-admin's request to the audit log first (core/super-admin-audit.ts). */
  audit?: SuperAdminAudit;
  /** The client address and the allowlist; default: the peer address, no allowlist. */
  guard?: EdgeGuard;
  /** Each request's log entry also goes here (gateway/request-log-sink.ts: kept for the admin dashboard). */
  requestLog?: (fields: RequestLogFields) => void;
}

const REQUEST_ID = 'x-request-id';
const ASSERTED_HEADERS = EDGE_POLICY.authResponseHeaders.map((h) => h.toLowerCase());

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

const sendDenial = (res: ServerResponse, d: Denial) => sendJson(res, d.status, d.body, d.headers);

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

/**
 * Who calls, and may they: identity headers come only from the verifier (client copies are
 * dropped); key-checked routes refuse a bad key; on the others a valid token still names the
 * caller (its role for the allowlist, its tenant for the rate limit). Then the allowlist,
 * the group's rate limit, and a foreign super-admin's request into the audit log.
 */
async function admit(opts: EmbeddedGatewayOptions, guard: EdgeGuard, req: IncomingMessage, res: ServerResponse | undefined, route: RouteDef, path: string, ip: string): Promise<{ identity?: EdgeIdentity; denied?: Denial }> {
  for (const h of ASSERTED_HEADERS) delete req.headers[h];
  const result = await verifyRequest(opts.verifier, req.headers, req.url);
  if (route.auth === 'apikey' && !result.ok) return { denied: denialFor(route.service, result, req.headers) };
  const identity = result.ok ? result.identity : undefined;
  if (!guard.adminAllowed(path, identity?.role, ip)) return { identity, denied: edgeRefusal(route.service, { kind: 'address_not_allowed' }, req.headers) };
  const decision = await opts.rateLimits?.consume(route.group, rateKey(identity, ip));
  if (decision) {
    const headers = rateLimitHeaders(decision);
    if (!decision.allowed) {
      const refusal = edgeRefusal(route.service, { kind: 'rate_limited', limit: decision.limit, retryAfter: decision.resetSeconds }, req.headers);
      return { identity, denied: { ...refusal, headers: { ...headers, ...refusal.headers } } };
    }
    if (res) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  }
  if (identity && opts.audit && !(await opts.audit(identity, { method: req.method ?? 'GET', path, route: route.name, ip }))) {
    return { identity, denied: edgeRefusal(route.service, { kind: 'not_audited' }, req.headers) };
  }
  if (route.auth === 'apikey' && identity) for (const [name, value] of Object.entries(identityHeaders(identity))) req.headers[name.toLowerCase()] = value;
  return { identity };
}

/**
 * The body limit of a buffered route, set up before anything is awaited so that no byte of the
 * body goes uncounted: a declared length over it is refused at once (returns true); a streamed
 * body is cut at the limit, answered 413 then or, still during admission, as soon as it is over.
 */
function limitBody(opts: EmbeddedGatewayOptions, req: IncomingMessage, res: ServerResponse, route: RouteDef): boolean {
  if (!route.bufferBody || !(route.group in opts.bodyLimits)) return false;
  const limit = opts.bodyLimits[route.group as BufferedGroup];
  const refusal = () => edgeRefusal(route.service, { kind: 'too_large', limit }, req.headers);
  if (declaredTooLarge(req, limit)) {
    res.shouldKeepAlive = false;
    sendDenial(res, refusal());
    return true;
  }
  countStreamedBody(req, limit, () => {
    if (res.headersSent) return void res.destroy();
    // The service never sees the rest of the body nor its end; the connection closes after the 413.
    res.shouldKeepAlive = false;
    res.once('finish', () => req.destroy());
    sendDenial(res, refusal());
  });
  return false;
}

export function createEmbeddedGateway(opts: EmbeddedGatewayOptions): http.Server {
  const { services, gatewayApp, log } = opts;
  const guard = opts.guard ?? createEdgeGuard({ trustProxy: false, adminIpAllowlist: [] });

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const id = (typeof req.headers[REQUEST_ID] === 'string' && req.headers[REQUEST_ID]) || randomUUID();
    req.headers[REQUEST_ID] = id;
    res.setHeader(REQUEST_ID, id);
    const url = req.url ?? '/';
    const path = pathOf(url);
    const route = matchRoute(path);
    const ip = guard.clientAddress(req);
    let identity: EdgeIdentity | undefined;
    res.on('finish', () => {
      const fields = requestLogFields({ reqId: id, method: req.method, url, route, status: res.statusCode, started, identity, ip });
      log.info(fields, 'request');
      opts.requestLog?.(fields);
    });
    if (applyCors(req, res, opts.corsOrigins)) return;
    if (!route) {
      if (!guard.adminAllowed(path, undefined, ip)) return sendDenial(res, edgeRefusal(undefined, { kind: 'address_not_allowed' }, req.headers));
      return gatewayApp.routing(req, res);
    }
    if (limitBody(opts, req, res, route)) return;
    const admitted = await admit(opts, guard, req, res, route, path, ip);
    identity = admitted.identity;
    if (res.headersSent) return; // a streamed body already over its limit
    if (admitted.denied) return sendDenial(res, admitted.denied);
    req.url = stripPrefix(url, route.stripPrefix);
    services[route.service].handle(req, res);
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = pathOf(req.url ?? '/');
    const route = matchRoute(path);
    const service = route && services[route.service];
    const refuse = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const payload = JSON.stringify(body);
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n${extra}Connection: close\r\n\r\n${payload}`,
      );
    };
    if (!route || !service?.upgrade) return refuse(404, { code: 'not_found', message: 'No WebSocket endpoint here' });
    const { denied } = await admit(opts, guard, req, undefined, websocketRoute(route), path, guard.clientAddress(req));
    if (denied) return refuse(denied.status, denied.body, denied.headers);
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
