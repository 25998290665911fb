/**
 * The realtime service: Phoenix channels over WebSockets at `/realtime/v1/websocket`, as
 * @supabase/realtime-js uses them — heartbeats, joins, broadcast (self/ack, JSON and binary
 * frames), presence (presence_state, presence_diff, cleanup on leave and disconnect), token
 * refresh and expiry, plus the REST broadcast endpoints. One process keeps channel state in
 * memory. Database changes (postgres_changes) are not streamed yet: a join that asks for them
 * is accepted and told so with a system message.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { FastifyRequest } from 'fastify';
import { bearerToken, createJwtVerifier, JwtError, type JwtClaims } from '../gateway/jwt.ts';
import type { Service, ServiceContext } from '../gateway/service.ts';
import { createServiceApp } from '../services/fastify.ts';
import { decode, encode, encodeUserBroadcast, type PhxMessage, type Vsn } from './phoenix.ts';

const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_CHANNELS_PER_CONNECTION = 100;
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

interface Connection {
  ws: WebSocket;
  vsn: Vsn;
  claims: JwtClaims;
  channels: Map<string, Channel>;
}

interface Channel {
  conn: Connection;
  topic: string;
  joinRef: string | null;
  claims: JwtClaims;
  self: boolean;
  ack: boolean;
  presenceKey: string;
  expiry?: NodeJS.Timeout;
}

interface PresenceEntry {
  channel: Channel;
  meta: Record<string, unknown>;
}

function tokenError(err: unknown): string {
  if (err instanceof JwtError) {
    if (err.code === 'jwt_expired') return 'Token has expired';
    if (err.code === 'jwt_invalid_signature') return 'Failed to validate JWT signature';
  }
  return 'The token provided is not a valid JWT';
}

/** A stable integer id for a postgres_changes binding (echoed in events' `ids`). */
function bindingId(binding: unknown): number {
  let h = 0;
  for (const ch of JSON.stringify(binding)) h = (Math.imul(31, h) + ch.charCodeAt(0)) | 0;
  return h >>> 0;
}

export async function createRealtimeService(ctx: ServiceContext): Promise<Service> {
  const verifier = createJwtVerifier(ctx.config.realtime.jwtSecret, ctx.config.jwks);
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const topics = new Map<string, Set<Channel>>();
  const presence = new Map<string, Map<string, PresenceEntry[]>>();
  const connections = new Set<Connection>();

  async function verify(token: string): Promise<JwtClaims> {
    const claims = await verifier.verify(token);
    if (typeof claims.role !== 'string' || typeof claims.exp !== 'number') throw new Error('Fields `role` and `exp` are required in JWT');
    return claims;
  }

  function send(conn: Connection, msg: PhxMessage): void {
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    if (conn.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      conn.ws.close(1008, 'slow consumer: too many pending messages');
      return;
    }
    conn.ws.send(encode(msg, conn.vsn));
  }

  const reply = (conn: Connection, m: PhxMessage, status: 'ok' | 'error', response: unknown) =>
    send(conn, { join_ref: m.join_ref, ref: m.ref, topic: m.topic, event: 'phx_reply', payload: { status, response } });

  const system = (ch: Channel, status: 'ok' | 'error', message: string, extension = 'system') =>
    send(ch.conn, { join_ref: ch.joinRef, ref: null, topic: ch.topic, event: 'system', payload: { extension, status, message, channel: ch.topic.slice('realtime:'.length) } });

  // -------------------------------------------------------------------------- presence

  const metasOf = (entries: PresenceEntry[]) => entries.map((e) => e.meta);

  function presenceState(topic: string): Record<string, { metas: Record<string, unknown>[] }> {
    const out: Record<string, { metas: Record<string, unknown>[] }> = {};
    for (const [key, entries] of presence.get(topic) ?? []) if (entries.length) out[key] = { metas: metasOf(entries) };
    return out;
  }

  function presenceDiff(topic: string, joins: Record<string, unknown>, leaves: Record<string, unknown>): void {
    for (const ch of topics.get(topic) ?? []) send(ch.conn, { join_ref: null, ref: null, topic, event: 'presence_diff', payload: { joins, leaves } });
  }

  function untrack(ch: Channel): void {
    const byKey = presence.get(ch.topic);
    const entries = byKey?.get(ch.presenceKey);
    if (!byKey || !entries) return;
    const left = entries.filter((e) => e.channel === ch);
    if (!left.length) return;
    const remaining = entries.filter((e) => e.channel !== ch);
    if (remaining.length) byKey.set(ch.presenceKey, remaining);
    else byKey.delete(ch.presenceKey);
    presenceDiff(ch.topic, {}, { [ch.presenceKey]: { metas: metasOf(left) } });
  }

  function track(ch: Channel, payload: unknown): void {
    const byKey = presence.get(ch.topic) ?? presence.set(ch.topic, new Map()).get(ch.topic)!;
    const entries = byKey.get(ch.presenceKey) ?? [];
    const previous = entries.find((e) => e.channel === ch);
    const meta: Record<string, unknown> = { ...(payload as Record<string, unknown>), phx_ref: randomUUID().replace(/-/g, '').slice(0, 20) };
    if (previous) meta.phx_ref_prev = previous.meta.phx_ref;
    byKey.set(ch.presenceKey, [...entries.filter((e) => e.channel !== ch), { channel: ch, meta }]);
    presenceDiff(ch.topic, { [ch.presenceKey]: { metas: [meta] } }, previous ? { [ch.presenceKey]: { metas: [previous.meta] } } : {});
  }

  // -------------------------------------------------------------------------- channels

  function leave(ch: Channel, notify: boolean): void {
    clearTimeout(ch.expiry);
    untrack(ch);
    topics.get(ch.topic)?.delete(ch);
    if (!topics.get(ch.topic)?.size) topics.delete(ch.topic);
    ch.conn.channels.delete(ch.topic);
    if (notify) send(ch.conn, { join_ref: ch.joinRef, ref: ch.joinRef, topic: ch.topic, event: 'phx_close', payload: {} });
  }

  function watchExpiry(ch: Channel): void {
    clearTimeout(ch.expiry);
    const exp = ch.claims.exp as number;
    const ms = Math.max(0, exp * 1000 - Date.now());
    ch.expiry = setTimeout(() => {
      system(ch, 'error', `Token has expired ${Math.round((Date.now() - exp * 1000) / 1000)} seconds ago`);
      leave(ch, true);
    }, Math.min(ms, 2 ** 31 - 1));
  }

  /** Fans a broadcast out to a topic; `from` is skipped unless it asked for self. */
  function broadcast(topic: string, event: string, payload: unknown, from?: Channel): void {
    for (const ch of topics.get(topic) ?? []) {
      if (ch === from && !ch.self) continue;
      if (ch.conn.vsn === '2.0.0') {
        if (ch.conn.ws.readyState === ch.conn.ws.OPEN && ch.conn.ws.bufferedAmount <= MAX_BUFFERED_BYTES) ch.conn.ws.send(encodeUserBroadcast(topic, event, payload));
      } else if (!Buffer.isBuffer(payload)) {
        send(ch.conn, { join_ref: null, ref: null, topic, event: 'broadcast', payload: { type: 'broadcast', event, payload } });
      }
    }
  }

  async function join(conn: Connection, m: PhxMessage): Promise<void> {
    const p = (m.payload ?? {}) as { config?: Record<string, any>; access_token?: string };
    const name = m.topic.slice('realtime:'.length);
    if (!name) return reply(conn, m, 'error', { reason: 'TopicNameRequired: You must provide a topic name' });
    if (conn.channels.size >= MAX_CHANNELS_PER_CONNECTION && !conn.channels.has(m.topic)) return reply(conn, m, 'error', { reason: 'ChannelRateLimitReached: Too many channels' });
    const config = p.config ?? {};
    if (config.private === true || config.private === 'true') {
      return reply(conn, m, 'error', { reason: 'Unauthorized: private channels are not supported yet by this server' });
    }
    let claims = conn.claims;
    if (typeof p.access_token === 'string' && !p.access_token.startsWith('sb_')) {
      try {
        claims = await verify(p.access_token);
      } catch (err) {
        return reply(conn, m, 'error', { reason: `InvalidJWTToken: ${tokenError(err)}` });
      }
    }
    const existing = conn.channels.get(m.topic);
    if (existing) leave(existing, true);
    const broadcastCfg = config.broadcast ?? {};
    const presenceCfg = config.presence ?? {};
    const ch: Channel = {
      conn,
      topic: m.topic,
      joinRef: m.join_ref,
      claims,
      self: broadcastCfg.self === true || broadcastCfg.self === 'true',
      ack: broadcastCfg.ack === true || broadcastCfg.ack === 'true',
      presenceKey: typeof presenceCfg.key === 'string' && presenceCfg.key ? presenceCfg.key : randomUUID(),
    };
    conn.channels.set(m.topic, ch);
    (topics.get(m.topic) ?? topics.set(m.topic, new Set()).get(m.topic)!).add(ch);
    const changes = Array.isArray(config.postgres_changes) ? config.postgres_changes : [];
    reply(conn, m, 'ok', { postgres_changes: changes.map((b: Record<string, unknown>) => ({ ...b, id: bindingId(b) })) });
    if (changes.length) system(ch, 'error', 'postgres_changes are not streamed yet by this server', 'postgres_changes');
    send(conn, { join_ref: ch.joinRef, ref: null, topic: m.topic, event: 'presence_state', payload: presenceState(m.topic) });
    watchExpiry(ch);
  }

  async function handle(conn: Connection, m: PhxMessage): Promise<void> {
    if (m.topic === 'phoenix' && m.event === 'heartbeat') return reply(conn, m, 'ok', {});
    if (m.event === 'phx_join') return join(conn, m);
    const ch = conn.channels.get(m.topic);
    if (m.event === 'phx_leave') {
      reply(conn, m, 'ok', {});
      if (ch) leave(ch, true);
      return;
    }
    if (!ch) return reply(conn, m, 'error', { reason: 'unmatched topic' });
    const payload = (m.payload ?? {}) as Record<string, unknown>;
    switch (m.event) {
      case 'broadcast':
        if (typeof payload.event === 'string') broadcast(ch.topic, payload.event, payload.payload, ch);
        if (ch.ack) reply(conn, m, 'ok', {});
        return;
      case 'presence':
        if (payload.event === 'track') {
          if (!payload.payload || typeof payload.payload !== 'object' || Array.isArray(payload.payload)) {
            return reply(conn, m, 'error', { reason: 'Presence track payload must be a map' });
          }
          track(ch, payload.payload);
        } else if (payload.event === 'untrack') untrack(ch);
        return reply(conn, m, 'ok', {});
      case 'access_token': {
        const token = payload.access_token;
        if (typeof token !== 'string' || token.startsWith('sb_')) return;
        try {
          ch.claims = await verify(token);
          watchExpiry(ch);
        } catch (err) {
          system(ch, 'error', tokenError(err));
          leave(ch, true);
        }
        return;
      }
      default:
        return reply(conn, m, 'ok', {});
    }
  }

  // -------------------------------------------------------------------------- transport

  function refuse(socket: Duplex, status: number, error: string): void {
    const body = JSON.stringify({ error });
    socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Not Found'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname !== '/websocket' && url.pathname !== '/socket/websocket') return refuse(socket, 404, 'Not found');
    const token = (req.headers['x-api-key'] as string | undefined) ?? url.searchParams.get('apikey');
    if (!token) return refuse(socket, 401, 'API key is missing');
    let claims: JwtClaims;
    try {
      claims = await verify(token);
    } catch (err) {
      return refuse(socket, 401, (err as Error).message.startsWith('Fields') ? (err as Error).message : tokenError(err));
    }
    const vsn: Vsn = url.searchParams.get('vsn') === '2.0.0' ? '2.0.0' : '1.0.0';
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: Connection = { ws, vsn, claims, channels: new Map() };
      connections.add(conn);
      ws.on('message', (data, isBinary) => {
        const m = decode(data as Buffer, isBinary, vsn);
        if (m) handle(conn, m).catch((err) => ctx.log.error({ err }, 'realtime: message failed'));
      });
      ws.on('close', () => {
        for (const ch of [...conn.channels.values()]) leave(ch, false);
        connections.delete(conn);
      });
      ws.on('error', () => undefined);
    });
  }

  // REST broadcast endpoints.
  const app = createServiceApp({ name: 'realtime', log: ctx.log, logRequests: !ctx.embedded });
  async function restCaller(req: FastifyRequest): Promise<boolean> {
    const token = bearerToken(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined) ?? (req.headers.apikey as string | undefined);
    if (!token) return false;
    return verifier.verify(token).then(() => true, () => false);
  }
  app.post('/api/broadcast', async (req, reply) => {
    if (!(await restCaller(req))) return reply.code(401).send({ message: 'Unauthorized' });
    const messages = (req.body as { messages?: unknown })?.messages;
    if (!Array.isArray(messages)) return reply.code(422).send({ errors: { messages: ['is invalid'] } });
    for (const msg of messages as { topic?: string; event?: string; payload?: unknown; private?: boolean }[]) {
      if (typeof msg.topic !== 'string' || typeof msg.event !== 'string' || msg.private) continue;
      broadcast(`realtime:${msg.topic}`, msg.event, msg.payload ?? {});
    }
    return reply.code(202).send();
  });
  app.post('/api/broadcast/:topic/events/:event', async (req, reply) => {
    if (!(await restCaller(req))) return reply.code(401).send({ message: 'Unauthorized' });
    const { topic, event } = req.params as { topic: string; event: string };
    if ((req.query as Record<string, string>).private === 'true') return reply.code(403).send({ message: 'Unauthorized' });
    broadcast(`realtime:${topic}`, event, req.body ?? {});
    return reply.code(202).send();
  });
  app.get('/health', async () => ({ status: 'up', connections: connections.size }));
  app.setNotFoundHandler((_req, reply) => reply.code(501).send({ message: 'This realtime endpoint is not implemented yet in this build of NextMavens Stack' }));
  await app.ready();

  return {
    name: 'realtime',
    handle: (req, res) => app.routing(req, res),
    upgrade: (req, socket, head) => {
      upgrade(req, socket, head).catch(() => socket.destroy());
    },
    health: async () => ({ status: 'up' }),
    async close() {
      for (const conn of connections) conn.ws.close(1001, 'server shutting down');
      wss.close();
      await app.close();
    },
  };
}
