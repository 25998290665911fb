/**
 * The realtime service: Phoenix channels over WebSockets at `/realtime/v1/websocket`, as
 * @supabase/realtime-js uses them — heartbeats, joins, broadcast (self/ack, JSON and binary
 * frames), presence (presence_state, presence_diff, cleanup on leave and disconnect), token
 * refresh and expiry, the REST broadcast endpoints, and postgres_changes streamed from logical
 * replication, delivered only to subscribers whose own role and claims may SELECT the row
 * (checked once per group of identical claims per transaction). One process keeps channel state
 * in memory.
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
import { PUBLICATION, startChangeStream, waitUntilVisible, type ChangeStream, type RowChange, type Transaction } from './changes.ts';
import { matchesFilters, parseChangeFilter, type ChangeFilter } from './filters.ts';
import { withRequestContext } from '../db/request-context.ts';

const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_CHANNELS_PER_CONNECTION = 100;
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

interface Connection {
  ws: WebSocket;
  vsn: Vsn;
  claims: JwtClaims;
  channels: Map<string, Channel>;
}

interface Binding {
  id: number;
  event: string;
  schema: string;
  table: string;
  filters: ChangeFilter[];
}

interface Channel {
  conn: Connection;
  bindings: Binding[];
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
    const changes = Array.isArray(config.postgres_changes) ? (config.postgres_changes as Record<string, unknown>[]) : [];
    const bindings: Binding[] = [];
    for (const b of changes) {
      const event = String(b.event ?? '*').toUpperCase();
      const schema = String(b.schema ?? 'public');
      const table = String(b.table ?? '*');
      let filters: ChangeFilter[];
      try {
        filters = parseChangeFilter(typeof b.filter === 'string' ? b.filter : undefined);
      } catch (err) {
        return reply(conn, m, 'error', { reason: `InvalidFilter: ${(err as Error).message}` });
      }
      if (table !== '*') {
        const { rows } = await ctx.pools.admin.query<{ ok: boolean | null }>(
          `select has_table_privilege($1, c.oid, 'SELECT') as ok from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $2 and c.relname = $3`,
          [claims.role, schema, table],
        ).catch(() => ({ rows: [] as { ok: boolean | null }[] }));
        if (!rows[0]?.ok) return reply(conn, m, 'error', { reason: `Unauthorized: You do not have permissions to read from ${schema}.${table}` });
      }
      bindings.push({ id: bindingId(b), event: ['INSERT', 'UPDATE', 'DELETE'].includes(event) ? event : '*', schema, table, filters });
    }
    const existing = conn.channels.get(m.topic);
    if (existing) leave(existing, true);
    const broadcastCfg = config.broadcast ?? {};
    const presenceCfg = config.presence ?? {};
    const ch: Channel = {
      conn,
      bindings,
      topic: m.topic,
      joinRef: m.join_ref,
      claims,
      self: broadcastCfg.self === true || broadcastCfg.self === 'true',
      ack: broadcastCfg.ack === true || broadcastCfg.ack === 'true',
      presenceKey: typeof presenceCfg.key === 'string' && presenceCfg.key ? presenceCfg.key : randomUUID(),
    };
    conn.channels.set(m.topic, ch);
    (topics.get(m.topic) ?? topics.set(m.topic, new Set()).get(m.topic)!).add(ch);
    reply(conn, m, 'ok', { postgres_changes: changes.map((b, i) => ({ ...b, id: bindings[i].id })) });
    if (bindings.length) {
      const published = await subscribable(bindings);
      if (published) {
        await ensureStream().then(
          () => system(ch, 'ok', 'Subscribed to PostgreSQL', 'postgres_changes'),
          (err) => {
            ctx.log.error({ err }, 'realtime: cannot start the replication stream');
            system(ch, 'error', 'Unable to start the replication stream', 'postgres_changes');
          },
        );
      } else {
        const b = bindings[0];
        system(ch, 'error', `Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [event: ${b.event}, schema: ${b.schema}, table: ${b.table}, filters: [], select: nil]`, 'postgres_changes');
      }
    }
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

  // -------------------------------------------------------------------------- postgres_changes

  let stream: Promise<ChangeStream> | undefined;
  const ensureStream = () =>
    (stream ??= startChangeStream(ctx.config.postgres.url, ctx.config.postgres.replicationSlot, ctx.log, dispatch).catch((err) => {
      stream = undefined;
      throw err;
    }));

  /** Every table a binding names is in the publication (schema-wide bindings: any table). */
  async function subscribable(bindings: Binding[]): Promise<boolean> {
    for (const b of bindings) {
      const { rowCount } = await ctx.pools.admin.query(
        `select 1 from pg_publication_tables where pubname = $1 and ($2 = '*' or schemaname = $2) and ($3 = '*' or tablename = $3)`,
        [PUBLICATION, b.schema, b.table],
      );
      if (!rowCount) return false;
    }
    return true;
  }

  const bindingMatches = (b: Binding, c: RowChange) =>
    (b.schema === '*' || b.schema === c.schema) &&
    (b.table === '*' || b.table === c.table) &&
    (b.event === '*' || b.event === c.type) &&
    matchesFilters(b.filters, c.type === 'DELETE' ? c.oldRecord : c.record);

  /** A row's key as text values, comparable with what visibleKeys returns. */
  const keyOf = (c: RowChange, row: Record<string, unknown> | undefined) =>
    JSON.stringify(c.keyColumns.map((k) => (row?.[k] === null || row?.[k] === undefined ? null : row[k] instanceof Date ? (row[k] as Date).toISOString() : String(row[k]))));

  /** The keys of `changes` (one table) that `claims` may SELECT, in one query. */
  async function visibleKeys(claims: JwtClaims, changes: RowChange[]): Promise<Set<string>> {
    const c0 = changes[0];
    const q = (n: string) => `"${n.replace(/"/g, '""')}"`;
    const table = `${q(c0.schema)}.${q(c0.table)}`;
    const cols = c0.keyColumns.map(q);
    const keys = changes.map((c) => Object.fromEntries(c0.keyColumns.map((k) => [k, c.record?.[k] ?? null])));
    const sql = `select json_build_array(${cols.map((k) => `t.${k}::text`).join(', ')})::text as key from ${table} t
      where (${cols.map((k) => `t.${k}`).join(', ')}) in (select ${cols.map((k) => `r.${k}`).join(', ')} from json_populate_recordset(null::${table}, $1::json) r)`;
    const rows = await withRequestContext(ctx.pools.request, claims, async (client) => (await client.query<{ key: string }>(sql, [JSON.stringify(keys)])).rows, { readOnly: true }).catch((err) => {
      ctx.log.warn({ err }, 'realtime: visibility check failed; not delivering');
      return [] as { key: string }[];
    });
    return new Set(rows.map((r) => JSON.stringify(JSON.parse(r.key))));
  }

  async function dispatch(tx: Transaction): Promise<void> {
    const subscribers = [...connections].flatMap((conn) => [...conn.channels.values()]).filter((ch) => ch.bindings.length);
    if (!subscribers.length) return;
    await waitUntilVisible(ctx.pools.admin, tx.xid);
    // Per (table, claims) group: which rows of this transaction may they see? One query each.
    const visible = new Map<string, Set<string>>();
    const byTable = new Map<string, RowChange[]>();
    for (const c of tx.changes) if (c.type !== 'DELETE') (byTable.get(`${c.schema}.${c.table}`) ?? byTable.set(`${c.schema}.${c.table}`, []).get(`${c.schema}.${c.table}`)!).push(c);
    for (const [table, changes] of byTable) {
      const interested = subscribers.filter((ch) => changes.some((c) => ch.bindings.some((b) => bindingMatches(b, c))));
      const groups = new Map<string, JwtClaims>();
      for (const ch of interested) groups.set(JSON.stringify(ch.claims), ch.claims);
      for (const [claimsKey, claims] of groups) {
        if (!changes[0].keyColumns.length) continue;
        visible.set(`${table}\u0000${claimsKey}`, await visibleKeys(claims, changes));
      }
    }
    for (const c of tx.changes) {
      for (const ch of subscribers) {
        const ids = ch.bindings.filter((b) => bindingMatches(b, c)).map((b) => b.id);
        if (!ids.length) continue;
        const data: Record<string, unknown> = { schema: c.schema, table: c.table, commit_timestamp: tx.commitTimestamp, type: c.type, columns: c.columns, errors: null };
        if (c.type === 'DELETE') {
          // Without the row there is nothing to check RLS against: only its key is revealed.
          data.old_record = Object.fromEntries(c.keyColumns.map((k) => [k, c.oldRecord?.[k] ?? null]));
        } else {
          if (!c.keyColumns.length) {
            data.record = {};
            data.errors = ['Error 400: Bad Request, no primary key'];
          } else {
            const seen = visible.get(`${c.schema}.${c.table}\u0000${JSON.stringify(ch.claims)}`);
            if (!seen?.has(keyOf(c, c.record))) continue;
            data.record = c.record;
          }
          if (c.type === 'UPDATE') data.old_record = c.oldRecord ?? {};
        }
        send(ch.conn, { join_ref: null, ref: null, topic: ch.topic, event: 'postgres_changes', payload: { ids, data } });
      }
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
      await (await stream?.catch(() => undefined))?.stop();
      for (const conn of connections) conn.ws.close(1001, 'server shutting down');
      wss.close();
      await app.close();
    },
  };
}
