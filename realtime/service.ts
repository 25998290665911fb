/**
 * The realtime service: Phoenix channels over WebSockets at `/realtime/v1/websocket`, as
 * @supabase/realtime-js uses them — heartbeats, joins, broadcast (self/ack, JSON and binary
 * frames), presence (presence_state, presence_diff, cleanup on leave and disconnect), token
 * refresh and expiry, the REST broadcast endpoints, and postgres_changes streamed from logical
 * replication, delivered only to subscribers whose own role and claims may SELECT the row
 * (checked once per group of identical claims per transaction). Private channels are authorized
 * by RLS on realtime.messages (authorization.ts).
 *
 * Several instances can serve one URL: with REDIS_URL, broadcasts, presence and database changes
 * fan out through Redis (bus.ts). Exactly one instance, the leader (advisory lock, leader.ts),
 * consumes the replication slot; it delivers each transaction to its own clients and publishes
 * it, and acknowledges the LSN only after both. Each instance checks RLS for its own claim
 * groups: it alone knows its subscribers, so no subscription registry has to be shared, and
 * the checking work spreads over the instances. Transactions carry their commit LSN and each
 * instance skips any it already delivered, so a new leader replaying from the slot after a
 * failover does not deliver twice.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { FastifyRequest } from 'fastify';
import { bearerToken, createJwtVerifier, JwtError, type JwtClaims } from '../gateway/jwt.ts';
import type { Service, ServiceContext } from '../gateway/service.ts';
import { API_ROLES, tenantOf } from '../gateway/verify.ts';
import { MessageRate, type SocketRate } from './message-rate.ts';
import { createServiceApp } from '../services/fastify.ts';
import { decode, encode, encodeUserBroadcast, type PhxMessage, type Vsn } from './phoenix.ts';
import { lsnValue, PUBLICATION, startChangeStream, waitUntilVisible, type RowChange, type Transaction, type WalRow } from './changes.ts';
import { channelPolicies, type ChannelPolicies } from './authorization.ts';
import { checkCommittedRows, qualifiedName, type CheckedRows } from '../db/committed-rows.ts';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.ts';
import { localBus, redisBus, type Bus, type BusMessage, type PresenceMetas } from './bus.ts';
import { electLeader, type Leadership } from './leader.ts';
import { matchesFilters, parseChangeFilter, type ChangeFilter } from './filters.ts';

const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_CHANNELS_PER_CONNECTION = 100;
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Client messages waiting behind a slow one (a join checking policies) before the socket is closed. */
const MAX_QUEUED_MESSAGES = 1000;

interface Connection {
  ws: WebSocket;
  vsn: Vsn;
  claims: JwtClaims;
  channels: Map<string, Channel>;
  /** Messages are handled one at a time, in order, as a Phoenix socket does (heartbeats excepted). */
  queue: Promise<void>;
  queued: number;
  /** Messages in the current one-second window. */
  rate: SocketRate;
  /** The tenant claim of the socket's token (per-tenant message limit). */
  tenant: string | undefined;
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
  /** Routing key: private and public channels of the same name are separate. */
  key: string;
  /** Set for private channels: what RLS on realtime.messages allows. */
  policies?: ChannelPolicies;
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

/** The database is away: REST endpoints answer 503, joins an error reply. */
class DatabaseUnavailable extends Error {}

/** A refused token, with Supabase Realtime's reason code (join replies read `<code>: <message>`). */
class TokenRefused extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Seconds since the (unverified) token's `exp`, for "Token has expired N seconds ago". */
function secondsExpired(token: string): number {
  try {
    const exp = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).exp;
    return typeof exp === 'number' ? Math.max(0, Math.round(Date.now() / 1000 - exp)) : 0;
  } catch {
    return 0;
  }
}

function tokenRefusal(err: unknown, token: string): TokenRefused {
  if (err instanceof TokenRefused) return err;
  if (err instanceof JwtError && err.code === 'jwt_expired') return new TokenRefused('InvalidJWTToken', `Token has expired ${secondsExpired(token)} seconds ago`);
  if (err instanceof JwtError && err.code === 'jwt_invalid_signature') return new TokenRefused('JwtSignatureError', 'Failed to validate JWT signature');
  return new TokenRefused('MalformedJWT', 'The token provided is not a valid JWT');
}

const isApiRole = (role: unknown) => typeof role === 'string' && (API_ROLES as readonly string[]).includes(role);

/** The routing key of a topic: public and private channels of one name never mix. */
const routeKey = (topic: string, isPrivate: boolean) => (isPrivate ? `private|${topic}` : topic);

const canReceive = (ch: Channel, ext: 'broadcast' | 'presence') => !ch.policies || ch.policies[ext].read;

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
  const messageRate = new MessageRate(ctx.config.realtime.maxEventsPerSecond, ctx.config.realtime.tenantMaxEventsPerSecond);
  const bus: Bus = ctx.config.realtime.redisUrl ? await redisBus(ctx.config.realtime.redisUrl, ctx.config.postgres.replicationSlot, ctx.log) : localBus();

  /**
   * A channel's token: it must verify, carry `role` and `exp` (as Supabase Realtime requires), and
   * its role must be an API role, as at the edge for REST and GraphQL: a token reaching realtime
   * without the edge (a join's or refresh's `access_token`) gets no other role.
   */
  async function verify(token: string): Promise<JwtClaims> {
    let claims: JwtClaims;
    try {
      claims = await verifier.verify(token);
    } catch (err) {
      throw tokenRefusal(err, token);
    }
    if (typeof claims.role !== 'string' || typeof claims.exp !== 'number') throw new TokenRefused('InvalidJWTToken', 'Fields `role` and `exp` are required in JWT');
    if (!isApiRole(claims.role)) throw new TokenRefused('InvalidJWTToken', `Role "${claims.role}" is not allowed`);
    return claims;
  }

  function sendFrame(conn: Connection, frame: string | Buffer): void {
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    if (conn.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      conn.ws.close(1008, 'slow consumer: too many pending messages');
      return;
    }
    conn.ws.send(frame);
  }

  const send = (conn: Connection, msg: PhxMessage) => sendFrame(conn, encode(msg, conn.vsn));

  const reply = (conn: Connection, m: PhxMessage, status: 'ok' | 'error', response: unknown) =>
    send(conn, { join_ref: m.join_ref, ref: m.ref, topic: m.topic, event: 'phx_reply', payload: { status, response } });

  const system = (ch: Channel, status: 'ok' | 'error', message: string, extension = 'system') =>
    send(ch.conn, { join_ref: ch.joinRef, ref: null, topic: ch.topic, event: 'system', payload: { extension, status, message, channel: ch.topic.slice('realtime:'.length) } });

  // -------------------------------------------------------------------------- presence
  // Local presences live here with their channel; other instances' presences (clustered) are
  // kept per instance, updated from their diffs and snapshots, and dropped when they die.

  const remotePresence = new Map<string, Map<string, PresenceMetas>>();

  const metasOf = (entries: PresenceEntry[]) => entries.map((e) => e.meta);

  function presenceState(key: string): PresenceMetas {
    const out: PresenceMetas = {};
    for (const [pkey, entries] of presence.get(key) ?? []) if (entries.length) out[pkey] = { metas: metasOf(entries) };
    for (const byKey of remotePresence.values()) {
      for (const [pkey, { metas }] of Object.entries(byKey.get(key) ?? {})) {
        if (metas.length) out[pkey] = { metas: [...(out[pkey]?.metas ?? []), ...metas] };
      }
    }
    return out;
  }

  function deliverPresenceDiff(key: string, joins: PresenceMetas, leaves: PresenceMetas): void {
    for (const ch of topics.get(key) ?? []) {
      if (canReceive(ch, 'presence')) send(ch.conn, { join_ref: null, ref: null, topic: ch.topic, event: 'presence_diff', payload: { joins, leaves } });
    }
  }

  function presenceDiff(key: string, joins: PresenceMetas, leaves: PresenceMetas): void {
    deliverPresenceDiff(key, joins, leaves);
    bus.publish({ t: 'presence', key, joins, leaves }).catch((err) => ctx.log.warn({ err }, 'realtime: presence not published'));
  }

  function untrack(ch: Channel): void {
    const byKey = presence.get(ch.key);
    const entries = byKey?.get(ch.presenceKey);
    if (!byKey || !entries) return;
    const left = entries.filter((e) => e.channel === ch);
    if (!left.length) return;
    const remaining = entries.filter((e) => e.channel !== ch);
    if (remaining.length) byKey.set(ch.presenceKey, remaining);
    else byKey.delete(ch.presenceKey);
    if (!byKey.size) presence.delete(ch.key);
    presenceDiff(ch.key, {}, { [ch.presenceKey]: { metas: metasOf(left) } });
  }

  function track(ch: Channel, payload: unknown): void {
    const byKey = presence.get(ch.key) ?? presence.set(ch.key, new Map()).get(ch.key)!;
    const entries = byKey.get(ch.presenceKey) ?? [];
    const previous = entries.find((e) => e.channel === ch);
    const meta: Record<string, unknown> = { ...(payload as Record<string, unknown>), phx_ref: randomUUID().replace(/-/g, '').slice(0, 20) };
    if (previous) meta.phx_ref_prev = previous.meta.phx_ref;
    byKey.set(ch.presenceKey, [...entries.filter((e) => e.channel !== ch), { channel: ch, meta }]);
    presenceDiff(ch.key, { [ch.presenceKey]: { metas: [meta] } }, previous ? { [ch.presenceKey]: { metas: [previous.meta] } } : {});
  }

  /** Applies another instance's diff to its copy of that instance's presences. */
  function applyRemoteDiff(from: string, key: string, joins: PresenceMetas, leaves: PresenceMetas): void {
    const byKey = remotePresence.get(from) ?? remotePresence.set(from, new Map()).get(from)!;
    const state = byKey.get(key) ?? {};
    for (const [pkey, { metas }] of Object.entries(leaves)) {
      const gone = new Set(metas.map((m) => m.phx_ref));
      const rest = (state[pkey]?.metas ?? []).filter((m) => !gone.has(m.phx_ref));
      if (rest.length) state[pkey] = { metas: rest };
      else delete state[pkey];
    }
    for (const [pkey, { metas }] of Object.entries(joins)) state[pkey] = { metas: [...(state[pkey]?.metas ?? []), ...metas] };
    if (Object.keys(state).length) byKey.set(key, state);
    else byKey.delete(key);
    deliverPresenceDiff(key, joins, leaves);
  }

  /** Replaces all presences of another instance (snapshot, or [] when it died), telling clients what changed. */
  function replaceRemote(from: string, snapshot: [string, PresenceMetas][]): void {
    const before = remotePresence.get(from) ?? new Map<string, PresenceMetas>();
    const after = new Map(snapshot);
    for (const key of new Set([...before.keys(), ...after.keys()])) {
      const refs = (s: PresenceMetas | undefined) => new Set(Object.values(s ?? {}).flatMap((p) => p.metas.map((m) => m.phx_ref)));
      const pick = (s: PresenceMetas | undefined, keep: (ref: unknown) => boolean) => {
        const out: PresenceMetas = {};
        for (const [pkey, { metas }] of Object.entries(s ?? {})) {
          const kept = metas.filter((m) => keep(m.phx_ref));
          if (kept.length) out[pkey] = { metas: kept };
        }
        return out;
      };
      const [oldRefs, newRefs] = [refs(before.get(key)), refs(after.get(key))];
      const joins = pick(after.get(key), (r) => !oldRefs.has(r));
      const leaves = pick(before.get(key), (r) => !newRefs.has(r));
      if (Object.keys(joins).length || Object.keys(leaves).length) deliverPresenceDiff(key, joins, leaves);
    }
    if (after.size) remotePresence.set(from, after);
    else remotePresence.delete(from);
  }

  function localSnapshot(): [string, PresenceMetas][] {
    return [...presence.entries()].map(([key, byKey]) => [key, Object.fromEntries([...byKey].filter(([, e]) => e.length).map(([pkey, e]) => [pkey, { metas: metasOf(e) }]))]);
  }

  // -------------------------------------------------------------------------- channels

  function leave(ch: Channel, notify: boolean): void {
    clearTimeout(ch.expiry);
    untrack(ch);
    topics.get(ch.key)?.delete(ch);
    if (!topics.get(ch.key)?.size) topics.delete(ch.key);
    if (ch.conn.channels.get(ch.topic) === ch) ch.conn.channels.delete(ch.topic);
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

  /** Delivers a broadcast to this instance's subscribers of `key`; `from` is skipped unless it asked for self. */
  function deliverBroadcast(key: string, event: string, payload: unknown, from?: Channel): void {
    // One topic per key: each frame is encoded once for all its receivers.
    let binaryFrame: Buffer | undefined;
    let jsonFrames: Partial<Record<Vsn, string>> | undefined;
    for (const ch of topics.get(key) ?? []) {
      if (ch === from && !ch.self) continue;
      if (!canReceive(ch, 'broadcast')) continue;
      if (ch.conn.vsn === '2.0.0') {
        if (ch.conn.ws.readyState === ch.conn.ws.OPEN && ch.conn.ws.bufferedAmount <= MAX_BUFFERED_BYTES) ch.conn.ws.send((binaryFrame ??= encodeUserBroadcast(ch.topic, event, payload)));
      } else if (!Buffer.isBuffer(payload)) {
        jsonFrames ??= {};
        sendFrame(ch.conn, (jsonFrames[ch.conn.vsn] ??= encode({ join_ref: null, ref: null, topic: ch.topic, event: 'broadcast', payload: { type: 'broadcast', event, payload } }, ch.conn.vsn)));
      }
    }
  }

  /** Fans a broadcast out here and on every other instance. */
  function broadcast(key: string, event: string, payload: unknown, from?: Channel): void {
    deliverBroadcast(key, event, payload, from);
    if (!bus.clustered) return;
    const binary = Buffer.isBuffer(payload);
    bus.publish({ t: 'broadcast', key, event, payload: binary ? (payload as Buffer).toString('base64') : payload, ...(binary ? { binary } : {}) })
      .catch((err) => ctx.log.warn({ err }, 'realtime: broadcast not published'));
  }

  const readDenied = (name: string) => `Unauthorized: You do not have permissions to read from this Channel topic: ${name}`;
  const writeDenied = (name: string) => `Unauthorized: You do not have permissions to write to this Channel topic: ${name}`;

  /** What `claims` may do on a private channel; undefined when the check could not run (`unavailable`: the database is away). */
  async function policiesFor(claims: JwtClaims, name: string): Promise<ChannelPolicies | undefined> {
    return channelPolicies(ctx.pools.admin, claims, name, ctx.pools.roleSettings).catch((err) => {
      if (isDatabaseUnavailable(err)) throw new DatabaseUnavailable();
      ctx.log.error({ err }, 'realtime: private channel authorization failed');
      return undefined;
    });
  }

  async function join(conn: Connection, m: PhxMessage): Promise<void> {
    const p = (m.payload ?? {}) as { config?: Record<string, any>; access_token?: string };
    const name = m.topic.slice('realtime:'.length);
    if (!name) return reply(conn, m, 'error', { reason: 'TopicNameRequired: You must provide a topic name' });
    if (conn.channels.size >= MAX_CHANNELS_PER_CONNECTION && !conn.channels.has(m.topic)) return reply(conn, m, 'error', { reason: 'ChannelRateLimitReached: Too many channels' });
    const config = p.config ?? {};
    const isPrivate = config.private === true || config.private === 'true';
    let claims = conn.claims;
    if (typeof p.access_token === 'string' && !p.access_token.startsWith('sb_')) {
      try {
        claims = await verify(p.access_token);
      } catch (err) {
        const refused = tokenRefusal(err, p.access_token);
        return reply(conn, m, 'error', { reason: `${refused.code}: ${refused.message}` });
      }
    }
    let policies: ChannelPolicies | undefined;
    if (isPrivate) {
      policies = await policiesFor(claims, name);
      if (!policies) return reply(conn, m, 'error', { reason: 'UnknownErrorOnChannel: could not check the channel policies' });
      if (!policies.broadcast.read && !policies.presence.read) return reply(conn, m, 'error', { reason: readDenied(name) });
    }
    const changes = Array.isArray(config.postgres_changes) ? (config.postgres_changes as Record<string, unknown>[]) : [];
    if (changes.some((b) => !b || typeof b !== 'object' || Array.isArray(b))) {
      return reply(conn, m, 'error', { reason: 'UnknownErrorOnChannel: postgres_changes must be a list of objects' });
    }
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
    // The socket may have closed while the checks ran: register nothing for it.
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    const existing = conn.channels.get(m.topic);
    if (existing) leave(existing, true);
    const broadcastCfg = config.broadcast ?? {};
    const presenceCfg = config.presence ?? {};
    const key = routeKey(m.topic, isPrivate);
    const ch: Channel = {
      conn,
      bindings,
      topic: m.topic,
      key,
      policies,
      joinRef: m.join_ref,
      claims,
      self: broadcastCfg.self === true || broadcastCfg.self === 'true',
      ack: broadcastCfg.ack === true || broadcastCfg.ack === 'true',
      presenceKey: typeof presenceCfg.key === 'string' && presenceCfg.key ? presenceCfg.key : randomUUID(),
    };
    conn.channels.set(m.topic, ch);
    (topics.get(key) ?? topics.set(key, new Set()).get(key)!).add(ch);
    watchExpiry(ch);
    // The join is answered once the replication slot exists: realtime-js reports SUBSCRIBED on
    // this reply, and apps insert right after it, so a change committed then must be delivered.
    let published: boolean;
    let ready: boolean;
    try {
      published = bindings.length ? await subscribable(bindings) : false;
      ready = published ? await replicationReady().then(() => true, (err: unknown) => (ctx.log.error({ err }, 'realtime: cannot start the replication stream'), false)) : false;
    } catch (err) {
      leave(ch, false);
      throw err;
    }
    if (conn.channels.get(m.topic) !== ch) return; // the socket closed meanwhile
    reply(conn, m, 'ok', { postgres_changes: changes.map((b, i) => ({ ...b, id: bindings[i].id })) });
    if (bindings.length) {
      if (published) {
        if (ready) system(ch, 'ok', 'Subscribed to PostgreSQL', 'postgres_changes');
        else system(ch, 'error', 'Unable to start the replication stream', 'postgres_changes');
      } else {
        const b = bindings[0];
        system(ch, 'error', `Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [event: ${b.event}, schema: ${b.schema}, table: ${b.table}, filters: [], select: nil]`, 'postgres_changes');
      }
    }
    if (canReceive(ch, 'presence')) send(conn, { join_ref: ch.joinRef, ref: null, topic: m.topic, event: 'presence_state', payload: presenceState(key) });
  }

  async function handle(conn: Connection, m: PhxMessage): Promise<void> {
    if (m.event === 'phx_join') return join(conn, m);
    const ch = conn.channels.get(m.topic);
    if (m.event === 'phx_leave') {
      reply(conn, m, 'ok', {});
      if (ch) leave(ch, true);
      return;
    }
    if (!ch) return reply(conn, m, 'error', { reason: 'unmatched topic' });
    const payload = (m.payload ?? {}) as Record<string, unknown>;
    const name = ch.topic.slice('realtime:'.length);
    switch (m.event) {
      case 'broadcast':
        if (ch.policies && !ch.policies.broadcast.write) {
          // As Supabase: an unauthorized broadcast is dropped; with ack the sender learns why.
          if (ch.ack) reply(conn, m, 'error', { reason: writeDenied(name) });
          return;
        }
        if (typeof payload.event === 'string') broadcast(ch.key, payload.event, payload.payload, ch);
        if (ch.ack) reply(conn, m, 'ok', {});
        return;
      case 'presence':
        if (ch.policies && !ch.policies.presence.write) return reply(conn, m, 'error', { reason: writeDenied(name) });
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
        let claims: JwtClaims;
        try {
          claims = await verify(token);
        } catch (err) {
          system(ch, 'error', tokenRefusal(err, token).message);
          leave(ch, true);
          return;
        }
        if (conn.channels.get(ch.topic) !== ch) return; // left meanwhile
        ch.claims = claims;
        watchExpiry(ch);
        if (ch.policies) {
          const policies = await policiesFor(ch.claims, name);
          if (conn.channels.get(ch.topic) !== ch) return;
          if (!policies || (!policies.broadcast.read && !policies.presence.read)) {
            system(ch, 'error', `You no longer have permission to read from this Channel topic: ${name}`);
            leave(ch, true);
          } else ch.policies = policies;
        }
        return;
      }
      default:
        return reply(conn, m, 'ok', {});
    }
  }

  // -------------------------------------------------------------------------- postgres_changes

  const slot = ctx.config.postgres.replicationSlot;
  let leadership: Leadership | undefined;
  /** Starts competing for the slot (at once when clustered; on first use when alone). */
  const campaign = () =>
    (leadership ??= electLeader({
      url: ctx.config.postgres.url,
      name: slot,
      log: ctx.log,
      onElected: async () => {
        const stream = await startChangeStream(ctx.config.postgres.url, slot, ctx.log, handOver);
        return () => stream.stop();
      },
    }));

  /** Resolves once the slot exists and is consistent (changes committed from then on are delivered). */
  async function replicationReady(timeoutMs = 15_000): Promise<void> {
    campaign();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // A slot being created is listed before it is consistent (it waits for the transactions
      // running anywhere in the cluster); changes committed before that point are not decoded.
      const { rowCount } = await ctx.pools.admin.query('select from pg_replication_slots where slot_name = $1 and confirmed_flush_lsn is not null', [slot]);
      if (rowCount) return;
      if (Date.now() > deadline) throw new Error(`replication slot ${slot} was not created in time`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The leader's handler: deliver here and publish to the others; the LSN is acked after both. */
  async function handOver(tx: Transaction): Promise<void> {
    await Promise.all([enqueue(tx), bus.clustered ? publishTx(tx) : undefined]);
  }

  async function publishTx(tx: Transaction): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await bus.publish({ t: 'tx', tx });
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  }

  // Transactions are dispatched in commit order, in batches of whatever has queued up while the
  // previous batch was being checked (one visibility check per table and batch). One already
  // delivered (a new leader replays what the old one published but had not acknowledged) is
  // skipped.
  let delivered = 0n;
  let waiting: { tx: Transaction; done: () => void; failed: (err: unknown) => void }[] = [];
  let draining: Promise<void> | undefined;
  const MAX_BATCH = 200;
  function enqueue(tx: Transaction): Promise<void> {
    return new Promise<void>((done, failed) => {
      waiting.push({ tx, done, failed });
      draining ??= drain().finally(() => (draining = undefined));
    });
  }
  async function drain(): Promise<void> {
    while (waiting.length) {
      const batch = waiting.slice(0, MAX_BATCH);
      waiting = waiting.slice(batch.length);
      try {
        const fresh: Transaction[] = [];
        for (const { tx } of batch) {
          const lsn = lsnValue(tx.lsn); // (throws on a malformed message from the bus)
          if (lsn > delivered) {
            delivered = lsn;
            fresh.push(tx);
          }
        }
        if (fresh.length) await dispatch(fresh);
        for (const w of batch) w.done();
      } catch (err) {
        ctx.log.error({ err }, 'realtime: dispatch failed');
        for (const w of batch) w.failed(err);
      }
    }
  }

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

  /** Does `b` ask for changes of this kind on this table? (Its filters are applied to what the subscriber may see.) */
  const bindingTargets = (b: Binding, c: RowChange) =>
    (b.schema === '*' || b.schema === c.schema) && (b.table === '*' || b.table === c.table) && (b.event === '*' || b.event === c.type);

  /**
   * One table's changed rows of a batch, checked and rendered by Postgres: each row as Postgres
   * renders it, its key, and which rows each claims group may SELECT. Every new and old row the
   * WAL carries is one entry. Policies are evaluated over the values as committed, so a row a
   * later transaction changed or deleted before this check is judged as it was, not dropped
   * (docs/realtime-changes.md).
   */
  interface CheckedTable extends Omit<CheckedRows, 'visible'> {
    /** Per claims group key: the indexes of the rows it may SELECT. */
    visible: Map<string, Set<number>>;
  }

  async function checkRows(schema: string, table: string, rows: WalRow[], groups: Map<string, JwtClaims>): Promise<CheckedTable> {
    const groupKeys = [...groups.keys()];
    try {
      const checked = await checkCommittedRows(ctx.pools.admin, qualifiedName(schema, table), rows, [...groups.values()]);
      return { ...checked, visible: new Map(groupKeys.map((k, i) => [k, checked.visible[i]])) };
    } catch (err) {
      ctx.log.warn({ err }, 'realtime: visibility check failed; not delivering');
      return { rendered: rows.map(() => ({})), keys: rows.map(() => undefined), visible: new Map() };
    }
  }

  /** Where a change's rows sit in its table's CheckedTable. */
  interface Located {
    checked: CheckedTable;
    newIndex: number;
    oldIndex: number;
  }

  async function dispatch(txs: Transaction[]): Promise<void> {
    const subscribers = [...connections].flatMap((conn) => [...conn.channels.values()]).filter((ch) => ch.bindings.length);
    if (!subscribers.length) return;
    // Policies may read other tables written by the same transaction (memberships): those reads
    // must see it committed.
    await waitUntilVisible(ctx.pools.admin, txs.map((tx) => tx.xid));
    const claimsKeys = new Map<Channel, string>(subscribers.map((ch) => [ch, JSON.stringify(ch.claims)]));
    // Per table: its rows (new and old) and the claims groups subscribed to any of its changes.
    const tables = new Map<string, { schema: string; table: string; rows: WalRow[]; groups: Map<string, JwtClaims>; changes: { c: RowChange; newIndex: number; oldIndex: number }[] }>();
    for (const c of txs.flatMap((tx) => tx.changes)) {
      const wanted = subscribers.filter((ch) => ch.bindings.some((b) => bindingTargets(b, c)));
      if (!wanted.length) continue;
      const name = `${c.schema}.${c.table}`;
      let t = tables.get(name);
      if (!t) tables.set(name, (t = { schema: c.schema, table: c.table, rows: [], groups: new Map(), changes: [] }));
      for (const ch of wanted) t.groups.set(claimsKeys.get(ch)!, ch.claims);
      const newIndex = c.record ? t.rows.push(c.record) - 1 : -1;
      const oldIndex = c.oldRecord ? t.rows.push(c.oldRecord) - 1 : -1;
      t.changes.push({ c, newIndex, oldIndex });
    }
    const located = new Map<RowChange, Located>();
    await Promise.all(
      [...tables.values()].map(async (t) => {
        const checked = await checkRows(t.schema, t.table, t.rows, t.groups);
        for (const { c, newIndex, oldIndex } of t.changes) located.set(c, { checked, newIndex, oldIndex });
      }),
    );
    for (const tx of txs) {
      for (const c of tx.changes) {
        const at = located.get(c);
        if (!at) continue;
        // Frames are identical for every channel of one topic, binding set and view of the row: encode once.
        const frames = new Map<string, string>();
        for (const ch of subscribers) {
          const view = changeView(c, at, at.checked.visible.get(claimsKeys.get(ch)!));
          if (!view) continue;
          const ids = ch.bindings.filter((b) => bindingTargets(b, c) && matchesFilters(b.filters, view.filterable)).map((b) => b.id);
          if (!ids.length) continue;
          const frameKey = `${ch.conn.vsn}\u0000${ch.topic}\u0000${ids.join(',')}\u0000${view.variant}`;
          let frame = frames.get(frameKey);
          if (frame === undefined) {
            frame = encode({ join_ref: null, ref: null, topic: ch.topic, event: 'postgres_changes', payload: { ids, data: { ...view.data, commit_timestamp: tx.commitTimestamp } } }, ch.conn.vsn);
            frames.set(frameKey, frame);
          }
          sendFrame(ch.conn, frame);
        }
      }
    }
  }

  /**
   * What one claims group may learn of a change (protocols.md §1.6; docs/realtime-changes.md):
   * - INSERT/UPDATE: nothing unless it may SELECT the new row as committed; then the row, and for
   *   UPDATE the old row if it may SELECT that too (REPLICA IDENTITY FULL), else the old key.
   * - DELETE: only the key, to every subscriber of the table (as Supabase). Filters see the whole
   *   old row only when the group may SELECT it, else only the key: a filter is never an oracle
   *   for values the subscriber cannot read.
   * - A table without a primary key (or replica identity index): an error instead of the row, to
   *   groups that may SELECT it.
   * undefined: nothing to deliver.
   */
  function changeView(c: RowChange, at: Located, visible: Set<number> | undefined): { data: Record<string, unknown>; filterable: Record<string, unknown>; variant: string } | undefined {
    const { checked, newIndex, oldIndex } = at;
    const sees = (i: number) => i >= 0 && visible?.has(i) === true;
    const data: Record<string, unknown> = { schema: c.schema, table: c.table, type: c.type, columns: c.columns, errors: null };
    const keyOf = (i: number) => (i >= 0 ? checked.keys[i] : undefined);
    if (c.type === 'DELETE') {
      const key = keyOf(oldIndex);
      data.old_record = key ?? {};
      const oldVisible = sees(oldIndex);
      return { data, filterable: oldVisible ? checked.rendered[oldIndex] : (key ?? {}), variant: oldVisible ? 'o' : 'k' };
    }
    if (!sees(newIndex)) return undefined;
    const record = checked.rendered[newIndex];
    if (!keyOf(newIndex)) {
      data.record = {};
      data.errors = ['Error 400: Bad Request, no primary key'];
    } else data.record = record;
    if (c.type === 'UPDATE') {
      const oldVisible = sees(oldIndex);
      data.old_record = oldVisible ? checked.rendered[oldIndex] : (keyOf(oldIndex) ?? {});
      return { data, filterable: record, variant: oldVisible ? 'o' : 'k' };
    }
    return { data, filterable: record, variant: 'n' };
  }

  // -------------------------------------------------------------------------- other instances

  function onBusMessage(from: string, m: BusMessage): void {
    switch (m.t) {
      case 'broadcast':
        return deliverBroadcast(m.key, m.event, m.binary ? Buffer.from(m.payload as string, 'base64') : m.payload);
      case 'presence':
        return applyRemoteDiff(from, m.key, m.joins, m.leaves);
      case 'presence_sync':
        bus.publish({ t: 'presence_snapshot', state: localSnapshot() }).catch(() => undefined);
        return;
      case 'presence_snapshot':
        return replaceRemote(from, m.state);
      case 'tx':
        if (typeof m.tx?.lsn !== 'string' || !/^[0-9A-F]+\/[0-9A-F]+$/i.test(m.tx.lsn) || !Array.isArray(m.tx.changes)) return;
        enqueue(m.tx).catch(() => undefined);
        return;
    }
  }

  /** Drops the presences of instances whose heartbeat key expired. */
  async function reap(): Promise<void> {
    const ids = [...remotePresence.keys()];
    if (!ids.length) return;
    const alive = await bus.alive(ids);
    for (const id of ids) if (!alive.has(id)) replaceRemote(id, []);
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
      return refuse(socket, 401, tokenRefusal(err, token).message);
    }
    const vsn: Vsn = url.searchParams.get('vsn') === '2.0.0' ? '2.0.0' : '1.0.0';
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: Connection = { ws, vsn, claims, channels: new Map(), queue: Promise.resolve(), queued: 0, rate: messageRate.socket(), tenant: tenantOf(claims) };
      connections.add(conn);
      ws.on('message', (data, isBinary) => {
        const m = decode(data as Buffer, isBinary, vsn);
        if (!m) return; // not a Phoenix message: ignored
        if (m.topic === 'phoenix' && m.event === 'heartbeat') return reply(conn, m, 'ok', {});
        if (!messageRate.admit(conn.rate, conn.tenant)) {
          // Over the limit: the message is dropped; a push that expects a reply is told why.
          if (m.ref !== null && m.ref !== undefined) reply(conn, m, 'error', { reason: 'ClientRateLimitReached: Too many messages per second' });
          return;
        }
        if (++conn.queued > MAX_QUEUED_MESSAGES) {
          ws.close(1008, 'too many pending messages');
          return;
        }
        conn.queue = conn.queue.then(() =>
          handle(conn, m)
            .catch((err) => {
              ctx.log.error({ err }, 'realtime: message failed');
              if (m.event === 'phx_join') reply(conn, m, 'error', { reason: 'UnknownErrorOnChannel: the channel could not be joined' });
            })
            .finally(() => void conn.queued--),
        );
      });
      ws.on('close', () => {
        for (const ch of [...conn.channels.values()]) leave(ch, false);
        connections.delete(conn);
      });
      ws.on('error', () => undefined);
    });
  }

  // REST broadcast endpoints.
  bus.onMessage(onBusMessage);
  // After a Redis outage the other instances may have dropped this one's presences (its
  // heartbeat lapsed) and diffs were lost both ways: resend ours and ask for theirs.
  bus.onReconnect(() => {
    ctx.log.warn('realtime: reconnected to Redis; resynchronizing presence');
    bus.publish({ t: 'presence_snapshot', state: localSnapshot() }).catch(() => undefined);
    bus.publish({ t: 'presence_sync' }).catch(() => undefined);
  });
  let reaper: NodeJS.Timeout | undefined;
  if (bus.clustered) {
    campaign();
    await bus.publish({ t: 'presence_sync' });
    reaper = setInterval(() => reap().catch((err) => ctx.log.warn({ err }, 'realtime: presence reaper failed')), 1000);
  }

  const app = createServiceApp({ name: 'realtime', log: ctx.log, logRequests: !ctx.embedded, trustProxy: ctx.config.trustProxy, bodyLimit: MAX_MESSAGE_BYTES });
  // httpSend() posts ArrayBuffer/TypedArray payloads as raw bytes: they fan out as binary broadcasts.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: { statusCode?: number; message: string }, req, reply) => {
    if (err instanceof DatabaseUnavailable) return reply.code(503).header('retry-after', '1').send({ message: DATABASE_UNAVAILABLE_MESSAGE });
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'realtime: request failed');
    return reply.code(status).send({ message: status === 500 ? 'Internal server error' : err.message });
  });
  /** The caller of a REST request (Bearer token, else the apikey header); like the edge, only API roles. */
  async function restCaller(req: FastifyRequest): Promise<JwtClaims | undefined> {
    const apikey = req.headers.apikey;
    const token = bearerToken(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined) ?? (typeof apikey === 'string' ? apikey : undefined);
    if (!token) return undefined;
    const claims = await verifier.verify(token).then((c) => c, () => undefined);
    return claims && isApiRole(claims.role) ? claims : undefined;
  }
  /** May `claims` send to the private channel `name`? (RLS INSERT on realtime.messages.) */
  const maySendPrivate = async (claims: JwtClaims, name: string) => (await policiesFor(claims, name))?.broadcast.write === true;
  app.post('/api/broadcast', async (req, reply) => {
    const claims = await restCaller(req);
    if (!claims) return reply.code(401).send({ message: 'Unauthorized' });
    const messages = (req.body as { messages?: unknown } | null)?.messages;
    const valid = (msg: unknown) => {
      const m = msg as { topic?: unknown; event?: unknown } | null;
      return !!m && typeof m === 'object' && typeof m.topic === 'string' && m.topic !== '' && typeof m.event === 'string';
    };
    if (!Array.isArray(messages) || !messages.every(valid)) return reply.code(422).send({ errors: { messages: ['is invalid'] } });
    const allowed = new Map<string, boolean>();
    for (const msg of messages as { topic: string; event: string; payload?: unknown; private?: boolean }[]) {
      const isPrivate = msg.private === true;
      if (isPrivate) {
        // As Supabase: private messages the caller may not send are skipped silently.
        if (!allowed.has(msg.topic)) allowed.set(msg.topic, await maySendPrivate(claims, msg.topic));
        if (!allowed.get(msg.topic)) continue;
      }
      broadcast(routeKey(`realtime:${msg.topic}`, isPrivate), msg.event, msg.payload ?? {});
    }
    return reply.code(202).send();
  });
  app.post('/api/broadcast/:topic/events/:event', async (req, reply) => {
    const claims = await restCaller(req);
    if (!claims) return reply.code(401).send({ message: 'Unauthorized' });
    const { topic, event } = req.params as { topic: string; event: string };
    const isPrivate = (req.query as Record<string, string>).private === 'true';
    if (isPrivate && !(await maySendPrivate(claims, topic))) return reply.code(403).send({ message: 'Unauthorized' });
    broadcast(routeKey(`realtime:${topic}`, isPrivate), event, req.body ?? {});
    return reply.code(202).send();
  });
  const channelCount = () => [...topics.values()].reduce((n, set) => n + set.size, 0);
  app.get('/health', async () => ({ status: 'up', connections: connections.size, channels: channelCount(), instance: bus.instanceId, clustered: bus.clustered, leader: leadership?.isLeader() ?? false }));
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ message: `Route ${req.method}:${req.url.split('?')[0]} not found` }));
  await app.ready();

  return {
    name: 'realtime',
    handle: (req, res) => app.routing(req, res),
    upgrade: (req, socket, head) => {
      upgrade(req, socket, head).catch(() => socket.destroy());
    },
    health: async () => ({ status: 'up' }),
    async close() {
      clearInterval(reaper);
      await leadership?.stop();
      for (const conn of connections) {
        for (const ch of [...conn.channels.values()]) leave(ch, false);
        conn.ws.close(1001, 'server shutting down');
      }
      wss.close();
      await draining;
      await bus.close();
      await app.close();
    },
  };
}
