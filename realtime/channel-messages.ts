/**
 * What a client says on its channels (docs/protocols.md §1.4–1.11): joins (private-channel policies,
 * postgres_changes bindings checked against the publication and the role's table privileges,
 * answered once the replication slot is ready), leaves, broadcast, presence and token refresh,
 * and the token-expiry watchdog. Broadcasts fan out here and, clustered, through the bus.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { JwtClaims } from '../core/jwt.ts';
import type { RoleSettings } from '../db/role-settings.ts';
import { isTenantSuspendedFor } from '../db/tenants.ts';
import { isDatabaseUnavailable } from '../db/unavailable.ts';
import { channelPolicies, type ChannelPolicies } from './authorization.ts';
import type { Bus } from './bus.ts';
import type { ChannelBroker } from './channels.ts';
import { canReceive, reply, routeKey, send, system, type Binding, type Channel, type Connection } from './connection.ts';
import type { ChangeFanout } from './fanout.ts';
import { parseChangeFilter, type ChangeFilter } from './filters.ts';
import type { PhxMessage } from './phoenix.ts';
import type { Presence } from './presence.ts';
import { DatabaseUnavailable, tokenRefusal, type RealtimeTokens } from './tokens.ts';

const MAX_CHANNELS_PER_CONNECTION = 100;
/** How long a broadcast channel's join waits for the replication stream (broadcasts from the database). */
const DB_BROADCAST_READY_MS = 5000;

/** A stable integer id for a postgres_changes binding (echoed in events' `ids`). */
function bindingId(binding: unknown): number {
  let h = 0;
  for (const ch of JSON.stringify(binding)) h = (Math.imul(31, h) + ch.charCodeAt(0)) | 0;
  return h >>> 0;
}

export interface ChannelMessageDeps {
  admin: pg.Pool;
  roleSettings: RoleSettings;
  broker: ChannelBroker;
  presence: Presence;
  changes: ChangeFanout;
  bus: Bus;
  tokens: RealtimeTokens;
  log: Logger;
}

export interface ChannelMessages {
  /** Handles one client message (not heartbeats). */
  handle(conn: Connection, m: PhxMessage): Promise<void>;
  /** Leaves a channel (presence untracked); `notify` sends phx_close. */
  leave(ch: Channel, notify: boolean): void;
  /** Fans a broadcast out here and on every other instance. */
  broadcast(key: string, event: string, payload: unknown, from?: Channel): void;
  /** What `claims` may do on a private channel; undefined when the check failed; throws DatabaseUnavailable. */
  policiesFor(claims: JwtClaims, name: string): Promise<ChannelPolicies | undefined>;
}

function leave(deps: ChannelMessageDeps, ch: Channel, notify: boolean): void {
  clearTimeout(ch.expiry);
  deps.presence.untrack(ch);
  deps.broker.remove(ch);
  if (notify) send(ch.conn, { join_ref: ch.joinRef, ref: ch.joinRef, topic: ch.topic, event: 'phx_close', payload: {} });
}

function watchExpiry(deps: ChannelMessageDeps, ch: Channel): void {
  clearTimeout(ch.expiry);
  const exp = ch.claims.exp as number;
  const ms = Math.max(0, exp * 1000 - Date.now());
  ch.expiry = setTimeout(() => {
    system(ch, 'error', `Token has expired ${Math.round((Date.now() - exp * 1000) / 1000)} seconds ago`);
    leave(deps, ch, true);
  }, Math.min(ms, 2 ** 31 - 1));
}

/** Fans a broadcast out here and on every other instance. */
function broadcast(deps: ChannelMessageDeps, key: string, event: string, payload: unknown, from?: Channel): void {
  deps.broker.deliverBroadcast(key, event, payload, from);
  if (!deps.bus.clustered) return;
  const binary = Buffer.isBuffer(payload);
  deps.bus.publish({ t: 'broadcast', key, event, payload: binary ? (payload as Buffer).toString('base64') : payload, ...(binary ? { binary } : {}) })
    .catch((err) => deps.log.warn({ err }, 'realtime: broadcast not published'));
}

const readDenied = (name: string) => `Unauthorized: You do not have permissions to read from this Channel topic: ${name}`;
const writeDenied = (name: string) => `Unauthorized: You do not have permissions to write to this Channel topic: ${name}`;

/** What `claims` may do on a private channel; undefined when the check could not run (`unavailable`: the database is away). */
async function policiesFor(deps: ChannelMessageDeps, claims: JwtClaims, name: string): Promise<ChannelPolicies | undefined> {
  return channelPolicies(deps.admin, claims, name, deps.roleSettings).catch((err) => {
    if (isDatabaseUnavailable(err)) throw new DatabaseUnavailable();
    deps.log.error({ err }, 'realtime: private channel authorization failed');
    return undefined;
  });
}

async function tenantSuspended(deps: ChannelMessageDeps, claims: JwtClaims): Promise<boolean> {
  return isTenantSuspendedFor(deps.admin, claims).catch((err) => {
    if (isDatabaseUnavailable(err)) throw new DatabaseUnavailable();
    throw err;
  });
}

async function join(deps: ChannelMessageDeps, conn: Connection, m: PhxMessage): Promise<void> {
  const p = (m.payload ?? {}) as { config?: Record<string, any>; access_token?: string };
  const name = m.topic.slice('realtime:'.length);
  if (!name) return reply(conn, m, 'error', { reason: 'TopicNameRequired: You must provide a topic name' });
  if (conn.channels.size >= MAX_CHANNELS_PER_CONNECTION && !conn.channels.has(m.topic)) return reply(conn, m, 'error', { reason: 'ChannelRateLimitReached: Too many channels' });
  const config = p.config ?? {};
  const isPrivate = config.private === true || config.private === 'true';
  let claims = conn.claims;
  if (typeof p.access_token === 'string' && !p.access_token.startsWith('sb_')) {
    try {
      claims = await deps.tokens.channel(p.access_token, { address: conn.address, method: 'phx_join', path: m.topic, route: 'realtime-join' });
    } catch (err) {
      const refused = tokenRefusal(err, p.access_token);
      return reply(conn, m, 'error', { reason: `${refused.code}: ${refused.message}` });
    }
  }
  // A suspended tenant's callers join nothing (sql/0026_tenant_rbac.sql; REST and storage refuse them in auth.check_request()).
  if (await tenantSuspended(deps, claims)) return reply(conn, m, 'error', { reason: 'TenantSuspended: The tenant is suspended' });
  let policies: ChannelPolicies | undefined;
  if (isPrivate) {
    policies = await policiesFor(deps, claims, name);
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
      const { rows } = await deps.admin.query<{ ok: boolean | null }>(
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
  if (existing) leave(deps, existing, true);
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
  deps.broker.add(ch);
  watchExpiry(deps, ch);
  // The join is answered once the replication slot exists: realtime-js reports SUBSCRIBED on
  // this reply, and apps insert right after it, so a change committed then must be delivered.
  let published: boolean;
  let ready: boolean;
  try {
    // Broadcasts from the database (realtime.send) come through the replication stream too:
    // a channel that receives broadcasts is answered once the stream runs, so a message sent
    // right after SUBSCRIBED reaches it (db-broadcast.ts).
    if (!bindings.length && canReceive(ch, 'broadcast')) {
      await deps.changes.replicationReady(DB_BROADCAST_READY_MS).catch((err: unknown) => deps.log.warn({ err }, 'realtime: the replication stream is not ready; broadcasts from the database sent meanwhile do not reach this channel'));
    }
    published = bindings.length ? await deps.changes.subscribable(bindings) : false;
    ready = published ? await deps.changes.replicationReady().then(() => true, (err: unknown) => (deps.log.error({ err }, 'realtime: cannot start the replication stream'), false)) : false;
  } catch (err) {
    leave(deps, ch, false);
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
  if (canReceive(ch, 'presence')) send(conn, { join_ref: ch.joinRef, ref: null, topic: m.topic, event: 'presence_state', payload: deps.presence.state(key) });
}

async function handle(deps: ChannelMessageDeps, conn: Connection, m: PhxMessage): Promise<void> {
  if (m.event === 'phx_join') return join(deps, conn, m);
  const ch = conn.channels.get(m.topic);
  if (m.event === 'phx_leave') {
    reply(conn, m, 'ok', {});
    if (ch) leave(deps, ch, true);
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
      if (typeof payload.event === 'string') broadcast(deps, ch.key, payload.event, payload.payload, ch);
      if (ch.ack) reply(conn, m, 'ok', {});
      return;
    case 'presence':
      if (ch.policies && !ch.policies.presence.write) return reply(conn, m, 'error', { reason: writeDenied(name) });
      if (payload.event === 'track') {
        if (!payload.payload || typeof payload.payload !== 'object' || Array.isArray(payload.payload)) {
          return reply(conn, m, 'error', { reason: 'Presence track payload must be a map' });
        }
        deps.presence.track(ch, payload.payload);
      } else if (payload.event === 'untrack') deps.presence.untrack(ch);
      return reply(conn, m, 'ok', {});
    case 'access_token': {
      const token = payload.access_token;
      if (typeof token !== 'string' || token.startsWith('sb_')) return;
      let claims: JwtClaims;
      try {
        claims = await deps.tokens.channel(token, { address: conn.address, method: 'access_token', path: ch.topic, route: 'realtime-access-token' });
      } catch (err) {
        system(ch, 'error', tokenRefusal(err, token).message);
        leave(deps, ch, true);
        return;
      }
      if (conn.channels.get(ch.topic) !== ch) return; // left meanwhile
      if (await tenantSuspended(deps, claims)) {
        system(ch, 'error', 'TenantSuspended: The tenant is suspended');
        leave(deps, ch, true);
        return;
      }
      ch.claims = claims;
      watchExpiry(deps, ch);
      if (ch.policies) {
        const policies = await policiesFor(deps, ch.claims, name);
        if (conn.channels.get(ch.topic) !== ch) return;
        if (!policies || (!policies.broadcast.read && !policies.presence.read)) {
          system(ch, 'error', `You no longer have permission to read from this Channel topic: ${name}`);
          leave(deps, ch, true);
        } else ch.policies = policies;
      }
      return;
    }
    default:
      return reply(conn, m, 'ok', {});
  }
}

export function createChannelMessages(deps: ChannelMessageDeps): ChannelMessages {
  return {
    handle: (conn, m) => handle(deps, conn, m),
    leave: (ch, notify) => leave(deps, ch, notify),
    broadcast: (key, event, payload, from) => broadcast(deps, key, event, payload, from),
    policiesFor: (claims, name) => policiesFor(deps, claims, name),
  };
}
