/**
 * The WebSocket transport at `/realtime/v1/websocket` (docs/protocols.md §1.1–1.3): the upgrade (the
 * API key is checked before the handshake), Phoenix frames in and out, heartbeats, the message
 * rate limits (message-rate.ts) and the per-socket queue: messages are handled one at a time, in
 * order, as a Phoenix socket does; a socket with too many waiting is closed.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { JwtClaims } from '../core/jwt.ts';
import { tenantOf } from '../core/caller.ts';
import type { ChannelBroker } from './channels.ts';
import type { ChannelMessages } from './channel-messages.ts';
import { reply, type Connection } from './connection.ts';
import type { MessageRate } from './message-rate.ts';
import { decode, type Vsn } from './phoenix.ts';
import { tokenRefusal, type RealtimeTokens } from './tokens.ts';
import { counters } from '../core/metrics.ts';

export const MAX_MESSAGE_BYTES = 256 * 1024;
/** Client messages waiting behind a slow one (a join checking policies) before the socket is closed. */
const MAX_QUEUED_MESSAGES = 1000;

export interface SocketTransportDeps {
  broker: ChannelBroker;
  messages: ChannelMessages;
  tokens: RealtimeTokens;
  rate: MessageRate;
  log: Logger;
  /** The client's address of an upgrade request (core/client-guard.ts). */
  clientAddress(req: IncomingMessage): string;
}

export interface SocketTransport {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
  /** Closes every socket (their channels left without notice) and the server. */
  close(): void;
}

function refuse(socket: Duplex, status: number, error: string): void {
  const body = JSON.stringify({ error });
  socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Not Found'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export function createSocketTransport(deps: SocketTransportDeps): SocketTransport {
  const { broker, messages, rate, log } = deps;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  function accept(conn: Connection): void {
    const { ws } = conn;
    broker.connections.add(conn);
    ws.on('message', (data, isBinary) => {
      const m = decode(data as Buffer, isBinary, conn.vsn);
      if (!m) return; // not a Phoenix message: ignored
      if (m.topic === 'phoenix' && m.event === 'heartbeat') return reply(conn, m, 'ok', {});
      if (!rate.admit(conn.rate, conn.tenant)) {
        // Over the limit: the message is dropped; a push that expects a reply is told why.
        counters.realtimeDrops.inc();
        if (m.ref !== null && m.ref !== undefined) reply(conn, m, 'error', { reason: 'ClientRateLimitReached: Too many messages per second' });
        return;
      }
      if (++conn.queued > MAX_QUEUED_MESSAGES) {
        ws.close(1008, 'too many pending messages');
        return;
      }
      conn.queue = conn.queue.then(() =>
        messages
          .handle(conn, m)
          .catch((err) => {
            log.error({ err }, 'realtime: message failed');
            if (m.event === 'phx_join') reply(conn, m, 'error', { reason: 'UnknownErrorOnChannel: the channel could not be joined' });
          })
          .finally(() => void conn.queued--),
      );
    });
    ws.on('close', () => {
      for (const ch of [...conn.channels.values()]) messages.leave(ch, false);
      broker.connections.delete(conn);
    });
    ws.on('error', () => undefined);
  }

  return {
    async upgrade(req, socket, head) {
      const url = new URL(req.url ?? '/', 'http://local');
      if (url.pathname !== '/websocket' && url.pathname !== '/socket/websocket') return refuse(socket, 404, 'Not found');
      const token = (req.headers['x-api-key'] as string | undefined) ?? url.searchParams.get('apikey');
      if (!token) return refuse(socket, 401, 'API key is missing');
      let claims: JwtClaims;
      try {
        claims = await deps.tokens.channel(token);
      } catch (err) {
        return refuse(socket, 401, tokenRefusal(err, token).message);
      }
      const vsn: Vsn = url.searchParams.get('vsn') === '2.0.0' ? '2.0.0' : '1.0.0';
      wss.handleUpgrade(req, socket, head, (ws) =>
        accept({ ws, socket, vsn, claims, channels: new Map(), queue: Promise.resolve(), queued: 0, rate: rate.socket(), tenant: tenantOf(claims), address: deps.clientAddress(req) }),
      );
    },
    close() {
      for (const conn of broker.connections) {
        for (const ch of [...conn.channels.values()]) messages.leave(ch, false);
        conn.ws.close(1001, 'server shutting down');
      }
      wss.close();
    },
  };
}
