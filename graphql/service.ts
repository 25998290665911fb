/**
 * The GraphQL service: PostGraphile v5 over `GRAPHILE_SCHEMA`, at `/graphql/v1` (Supabase's path)
 * and `/graphql` (with the Ruru playground on GET in a browser). Every operation runs as the
 * caller exactly as REST does — the JWT verified by the shared module, then `role` and
 * `request.jwt.claims` set transaction-locally — so one set of RLS policies governs both.
 * The schema follows DDL while the stack runs (watch mode). PostGraphile is loaded and the schema
 * built on the first GraphQL request (graphql/engine.ts), not at start: until then /health reports
 * graphql up with `detail.schema: "not loaded yet"` (the database is still checked); a build that
 * fails answers 503 SCHEMA_UNAVAILABLE, reports graphql down with the reason, and is retried by the
 * next request.
 *
 * Subscriptions (graphql-ws) share the path: graphql/websocket.ts authenticates connections and
 * graphql/subscriptions.ts adds `<table>Changed` fields for opted-in tables. Limits (body size,
 * depth, cost, statement timeout) answer with GraphQL errors carrying `extensions.code`
 * (graphql/limits.ts, graphql/errors.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { metricsEnabled, observeHttp } from '../core/metrics.ts';
import { createJwtVerifier, type JwtClaims } from '../core/jwt.ts';
import type { GraphqlEngine } from './engine.ts';
import { GRAPHQL_ERRORS, GraphqlServiceError, sendGraphqlError } from './errors.ts';
import { GRAPHQL_PATH, V1_PATH } from './paths.ts';
import type { ComponentHealth, Service, ServiceContext } from '../core/service.ts';
import { callerToken, isApiRole } from '../core/caller.ts';
import { isTenantSuspendedFor } from '../db/tenants.ts';
import { createProtocolAdmission } from '../core/protocol-admission.ts';


export async function createGraphqlService(ctx: ServiceContext): Promise<Service> {
  const { config } = ctx;
  const limits = config.graphql;
  const verifier = createJwtVerifier(limits.jwtSecret, config.jwks);

  /** The caller's claims: anon without a token; an invalid token or a non-API role is refused. */
  async function authenticate(token: string | undefined): Promise<JwtClaims> {
    if (token === undefined) return { role: 'anon' };
    let claims: JwtClaims;
    try {
      claims = await verifier.verify(token);
    } catch (err) {
      throw GRAPHQL_ERRORS.invalidJwt((err as Error).message);
    }
    const role = typeof claims.role === 'string' ? claims.role : 'anon';
    if (!isApiRole(role)) throw GRAPHQL_ERRORS.roleNotAllowed(role);
    // A suspended tenant's callers are refused (REST, storage and realtime run auth.check_request()).
    if (await isTenantSuspendedFor(ctx.pools.admin, claims)) throw GRAPHQL_ERRORS.tenantSuspended();
    return { ...claims, role };
  }

  // The edge saw only the upgrade request; a token in connection_init is admitted here as the
  // edge admits a request's: service_role only from ADMIN_IP_ALLOWLIST, a foreign super-admin's
  // connection audited first (core/protocol-admission.ts).
  const admission = createProtocolAdmission({ trustProxy: config.trustProxy, adminIpAllowlist: config.adminIpAllowlist }, ctx.pools.admin, ctx.log);
  /** The caller of a graphql-ws connection (its connection_init token, else the upgrade's). */
  async function authenticateSocket(token: string | undefined, req: IncomingMessage): Promise<JwtClaims> {
    const claims = await authenticate(token);
    const refusal = await admission.admit(claims, { address: admission.clientAddress(req), method: 'connection_init', path: GRAPHQL_PATH, route: 'graphql-ws' });
    if (refusal === 'address_not_allowed') throw GRAPHQL_ERRORS.addressNotAllowed();
    if (refusal === 'not_audited') throw GRAPHQL_ERRORS.notAudited();
    return claims;
  }

  /** Claims of HTTP requests, verified in `handle` before Grafserv sees the request. */
  const httpClaims = new WeakMap<IncomingMessage, JwtClaims>();

  /** The engine being built or built; undefined before the first request and after a failed build. */
  let engine: Promise<GraphqlEngine> | undefined;
  let loaded = false;
  /** Why the last build failed (cleared when one succeeds). */
  let buildFailure: string | undefined;
  let closed = false;
  function load(): Promise<GraphqlEngine> {
    if (closed) return Promise.reject(GRAPHQL_ERRORS.schemaUnavailable('the service is closing'));
    engine ??= import('./engine.ts')
      .then((m) => m.buildGraphqlEngine(ctx, (req) => httpClaims.get(req), authenticateSocket))
      .then(
        (built) => {
          loaded = true;
          buildFailure = undefined;
          return built;
        },
        (err: Error) => {
          engine = undefined;
          buildFailure = err.message;
          ctx.log.error({ err }, 'graphql: the schema could not be built');
          throw GRAPHQL_ERRORS.schemaUnavailable('see the server log');
        },
      );
    return engine;
  }

  /** `/graphql/v1…` is served as `/graphql…`; returns the path without the query. */
  const toGraphqlPath = (req: IncomingMessage) => {
    const url = req.url ?? '/';
    if (url === V1_PATH || url.startsWith(`${V1_PATH}?`) || url.startsWith(`${V1_PATH}/`)) req.url = GRAPHQL_PATH + url.slice(V1_PATH.length);
    const q = req.url!.indexOf('?');
    return q === -1 ? req.url! : req.url!.slice(0, q);
  };

  async function health(): Promise<ComponentHealth> {
    // The schema is cached once built: only a query tells whether requests can reach the database.
    await ctx.pools.request.query('select 1');
    if (buildFailure !== undefined) return { status: 'down', error: `the GraphQL schema could not be built: ${buildFailure}` };
    if (!loaded) return { status: 'up', detail: { schema: engine ? 'loading' : 'not loaded yet (built on the first GraphQL request)' } };
    return { status: 'up' };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === '/health') {
      // Compose: the gateway's /health asks this; down (503) while the database is unreachable.
      const up = await health().then((h) => h.status === 'up', () => false);
      res.writeHead(up ? 200 : 503, { 'content-type': 'application/json' }).end(up ? '{"status":"up"}' : '{"status":"down"}');
      return;
    }
    const path = toGraphqlPath(req);
    if (Number(req.headers['content-length'] ?? 0) > limits.maxBodyBytes) {
      res.setHeader('connection', 'close');
      return sendGraphqlError(res, GRAPHQL_ERRORS.tooLarge(limits.maxBodyBytes));
    }
    try {
      // The caller is the Bearer token, else the API key, as at the edge and over graphql-ws.
      httpClaims.set(req, await authenticate(callerToken(req.headers)));
    } catch (err) {
      if (err instanceof GraphqlServiceError) return sendGraphqlError(res, err);
      throw err;
    }
    let built: GraphqlEngine;
    try {
      built = await load();
    } catch (err) {
      if (err instanceof GraphqlServiceError) return sendGraphqlError(res, err);
      throw err;
    }
    built.handler(req, res, () => sendGraphqlError(res, GRAPHQL_ERRORS.notFound(path)));
  }

  return {
    name: 'graphql',
    handle(req, res) {
      if (metricsEnabled()) {
        const started = performance.now();
        const method = req.method ?? 'GET';
        const label = graphqlRouteLabel(req.url ?? '/');
        res.once('finish', () => observeHttp('graphql', label, method, res.statusCode, (performance.now() - started) / 1000));
      }
      handle(req, res).catch((err: Error) => {
        ctx.log.error({ err }, 'graphql: request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"message":"Internal error"}]}');
        else res.destroy();
      });
    },
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      const path = toGraphqlPath(req);
      if (path !== GRAPHQL_PATH) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      load().then(
        (built) => built.sockets.upgrade(req, socket, head),
        () => socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'),
      );
    },
    health,
    close: async () => {
      closed = true;
      const built = await engine?.catch(() => undefined);
      await built?.release();
    },
  };
}

/** GraphQL's route templates in the HTTP metrics (core/metrics.ts). */
function graphqlRouteLabel(url: string): string {
  const path = url.split('?')[0];
  if (path === '/health') return '/health';
  if (path.startsWith('/ruru-static/')) return '/ruru-static/*';
  return path === GRAPHQL_PATH || path === V1_PATH || path.startsWith(`${V1_PATH}/`) ? GRAPHQL_PATH : 'not_found';
}
