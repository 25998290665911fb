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
 *
 * The parts: connection.ts (sockets, channels, frames), channels.ts (the broker of topics),
 * presence.ts, channel-messages.ts (joins, broadcast, presence, token refresh), fanout.ts
 * (postgres_changes delivery), socket.ts (the WebSocket transport and its limits), rest-api.ts
 * (REST broadcast, health), tokens.ts; this file wires them together with the bus.
 */
import pg from 'pg';
import { directUrlOf } from '../config/load.ts';
import { clientClass, quietErrors } from '../db/pool.ts';
import type { Service, ServiceContext } from '../core/service.ts';
import { clusterBus, localBus, redisBus, type Bus, type BusMessage } from './bus.ts';
import { clusterLink } from '../core/cluster.ts';
import { createChannelMessages } from './channel-messages.ts';
import { ChannelBroker } from './channels.ts';
import { createChangeFanout } from './fanout.ts';
import { MessageRate } from './message-rate.ts';
import { Presence } from './presence.ts';
import { createRealtimeRestApi } from './rest-api.ts';
import { createSocketTransport } from './socket.ts';
import { realtimeTokens } from './tokens.ts';
import { gaugeSource } from '../core/metrics.ts';
import { createProtocolAdmission } from '../core/protocol-admission.ts';

export async function createRealtimeService(ctx: ServiceContext): Promise<Service> {
  const { config, log } = ctx;
  const admission = createProtocolAdmission({ trustProxy: config.trustProxy, adminIpAllowlist: config.adminIpAllowlist }, ctx.pools.admin, log);
  const tokens = realtimeTokens(config.realtime.jwtSecret, config.jwks, admission);
  // Redis between compose instances; the primary's IPC relay between the workers of one `nextmavens start` (WEB_CONCURRENCY).
  const link = clusterLink();
  const bus: Bus = config.realtime.redisUrl ? await redisBus(config.realtime.redisUrl, config.postgres.replicationSlot, log) : link ? clusterBus(link, config.postgres.replicationSlot) : localBus();
  const broker = new ChannelBroker();
  const presence = new Presence(broker, bus, log);
  // The RLS checks of postgres_changes (change-delivery.ts): one statement each
  // (sql/0042_realtime_check_changes.sql), bounded by its session's statement_timeout as the
  // check's transaction used to bound itself (SET LOCAL); owner connections past any pooler, as
  // the replication stream's.
  const checks = quietErrors(
    new pg.Pool({
      connectionString: directUrlOf(config.postgres),
      max: 4,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
      statement_timeout: 10_000,
      application_name: 'nextmavens realtime (checks)',
      Client: clientClass(config.postgres),
    }),
  );
  const changes = createChangeFanout({ url: directUrlOf(config.postgres), slot: config.postgres.replicationSlot, admin: ctx.pools.admin, checks, broker, bus, log });
  const messages = createChannelMessages({ admin: ctx.pools.admin, roleSettings: ctx.pools.roleSettings, broker, presence, changes, bus, tokens, log });
  const rate = new MessageRate(config.realtime.maxEventsPerSecond, config.realtime.tenantMaxEventsPerSecond);
  const sockets = createSocketTransport({ broker, messages, tokens, rate, log, clientAddress: admission.clientAddress });

  // Other instances: their broadcasts, presences and (from the leader) transactions.
  bus.onMessage((from: string, m: BusMessage) => {
    switch (m.t) {
      case 'broadcast':
        return broker.deliverBroadcast(m.key, m.event, m.binary ? Buffer.from(m.payload as string, 'base64') : m.payload);
      case 'presence':
        return presence.applyRemoteDiff(from, m.key, m.joins, m.leaves);
      case 'presence_sync':
        bus.publish({ t: 'presence_snapshot', state: presence.localSnapshot() }).catch(() => undefined);
        return;
      case 'presence_snapshot':
        return presence.replaceRemote(from, m.state);
      case 'tx':
        if (typeof m.tx?.lsn !== 'string' || !/^[0-9A-F]+\/[0-9A-F]+$/i.test(m.tx.lsn) || !Array.isArray(m.tx.changes)) return;
        changes.enqueue(m.tx).catch(() => undefined);
        return;
    }
  });
  // After a Redis outage the other instances may have dropped this one's presences (its
  // heartbeat lapsed) and diffs were lost both ways: resend ours and ask for theirs.
  bus.onReconnect(() => {
    log.warn('realtime: reconnected to Redis; resynchronizing presence');
    bus.publish({ t: 'presence_snapshot', state: presence.localSnapshot() }).catch(() => undefined);
    bus.publish({ t: 'presence_sync' }).catch(() => undefined);
  });
  /** Drops the presences of instances whose heartbeat key expired. */
  async function reap(): Promise<void> {
    const ids = presence.remoteInstances();
    if (!ids.length) return;
    const alive = await bus.alive(ids);
    for (const id of ids) if (!alive.has(id)) presence.replaceRemote(id, []);
  }
  let reaper: NodeJS.Timeout | undefined;
  if (bus.clustered) {
    changes.campaign();
    await bus.publish({ t: 'presence_sync' });
    reaper = setInterval(() => reap().catch((err) => log.warn({ err }, 'realtime: presence reaper failed')), 1000);
  }

  // Read when /metrics is scraped (core/metrics.ts).
  const untrack = gaugeSource(
    {
      sockets: { name: 'nextmavens_realtime_sockets', help: 'Open realtime WebSockets.' },
      channels: { name: 'nextmavens_realtime_channels', help: 'Joined realtime channels.' },
      subscribers: { name: 'nextmavens_realtime_subscribers', help: 'Channels with postgres_changes subscriptions.' },
      queue: { name: 'nextmavens_realtime_queue_depth', help: 'Database transactions waiting for delivery.' },
    },
    () => ({
      sockets: broker.connections.size,
      channels: broker.channelCount,
      subscribers: broker.subscribed.size,
      queue: changes.queueDepth(),
    }),
  );

  const app = await createRealtimeRestApi({ log, logRequests: !ctx.embedded, trustProxy: config.trustProxy, tokens, messages, broker, changes, bus });

  return {
    name: 'realtime',
    handle: (req, res) => app.routing(req, res),
    upgrade: (req, socket, head) => {
      sockets.upgrade(req, socket, head).catch(() => socket.destroy());
    },
    health: async () => (await ctx.pools.admin.query('select 1'), { status: 'up' }),
    async close() {
      untrack();
      clearInterval(reaper);
      await changes.close();
      await checks.end();
      sockets.close();
      await bus.close();
      await app.close();
    },
  };
}
