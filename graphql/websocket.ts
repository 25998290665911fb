/**
 * GraphQL over WebSockets (the graphql-ws protocol, `graphql-transport-ws`) on the GraphQL path.
 * Execution is Grafserv's own graphql-ws configuration (same schema, validation rules, context
 * and error masking as HTTP); this module adds what it lacks: authentication at
 * `connection_init`. The token comes from the connection params (`Authorization: Bearer …`,
 * then `apikey`), else from the upgrade request's headers; none means anon. An invalid token
 * closes the socket with 4403 and the reason, and a valid one closes it (4403 "Token has expired")
 * when it expires. The token is also admitted as the edge admits a request's (graphql/service.ts,
 * core/protocol-admission.ts): ADMIN_IP_ALLOWLIST for service_role, the audit for super-admins.
 * The verified claims are kept per connection for the GraphQL context.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { makeGraphQLWSConfig, type GrafservBase } from 'postgraphile/grafserv';
import { bearerToken, type JwtClaims } from '../core/jwt.ts';

const MAX_CLOSE_REASON_BYTES = 123;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface GraphqlWebSockets {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** The claims verified at connection_init for the connection of `req`. */
  claimsOf(req: IncomingMessage): JwtClaims | undefined;
  close(): Promise<void>;
}

const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

/** The token of a connection: connection params first, then the upgrade request's headers. */
export function connectionToken(params: Record<string, unknown> | undefined, req: IncomingMessage): string | undefined {
  const lower = Object.fromEntries(Object.entries(params ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const fromAuthorization = (v: unknown) => {
    const s = str(v);
    return s && (bearerToken(s) ?? s);
  };
  return (
    fromAuthorization(lower.authorization) ??
    str(lower.apikey) ??
    fromAuthorization(req.headers.authorization) ??
    str(req.headers.apikey)
  );
}

export function createGraphqlWebSockets(
  serv: GrafservBase,
  authenticate: (token: string | undefined, req: IncomingMessage) => Promise<JwtClaims>,
  opts: { maxPayload: number; keepAliveMs?: number },
): GraphqlWebSockets {
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload });
  const claims = new WeakMap<IncomingMessage, JwtClaims>();
  const sockets = new Set<WebSocket>();
  const closeWith = (socket: WebSocket, reason: string) => socket.close(CloseCode.Forbidden, Buffer.from(reason).subarray(0, MAX_CLOSE_REASON_BYTES).toString());

  useServer(
    {
      ...makeGraphQLWSConfig(serv),
      async onConnect(ctx) {
        const { socket, request } = ctx.extra;
        let verified: JwtClaims;
        try {
          verified = await authenticate(connectionToken(ctx.connectionParams, request), request);
        } catch (err) {
          closeWith(socket, (err as Error).message);
          return false;
        }
        claims.set(request, verified);
        // (Timers hold at most ~24.8 days; tokens living longer, like API keys, are not timed.)
        const ttl = typeof verified.exp === 'number' ? verified.exp * 1000 - Date.now() : Infinity;
        if (ttl <= MAX_TIMER_MS) {
          const timer = setTimeout(() => closeWith(socket, 'Token has expired'), Math.max(0, ttl));
          socket.once('close', () => clearTimeout(timer));
        }
        return true;
      },
    },
    wss,
    opts.keepAliveMs,
  );

  wss.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  return {
    upgrade(req, socket, head) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
    claimsOf: (req) => claims.get(req),
    async close() {
      for (const socket of sockets) socket.close(1001, 'server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
