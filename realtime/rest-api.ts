/**
 * Realtime's HTTP side: the REST broadcast endpoints (docs/protocols.md §1.9; realtime-js httpSend)
 * and `/health`. The caller is the Bearer token, else the apikey header; like the edge, only API
 * roles. Private messages need RLS INSERT on realtime.messages (authorization.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { callerToken } from '../core/caller.ts';
import type { JwtClaims } from '../core/jwt.ts';
import { createServiceApp } from '../core/service-app.ts';
import { DATABASE_UNAVAILABLE_MESSAGE } from '../db/unavailable.ts';
import type { Bus } from './bus.ts';
import type { ChannelBroker } from './channels.ts';
import type { ChannelMessages } from './channel-messages.ts';
import { routeKey } from './connection.ts';
import type { ChangeFanout } from './fanout.ts';
import { MAX_MESSAGE_BYTES } from './socket.ts';
import { DatabaseUnavailable, type RealtimeTokens } from './tokens.ts';

export interface RealtimeRestDeps {
  log: Logger;
  logRequests: boolean;
  trustProxy: boolean | string[];
  tokens: RealtimeTokens;
  messages: ChannelMessages;
  broker: ChannelBroker;
  changes: ChangeFanout;
  bus: Bus;
}

export async function createRealtimeRestApi(deps: RealtimeRestDeps): Promise<FastifyInstance> {
  const { messages: channels, tokens } = deps;
  const app = createServiceApp({ name: 'realtime', log: deps.log, logRequests: deps.logRequests, trustProxy: deps.trustProxy, bodyLimit: MAX_MESSAGE_BYTES });
  // httpSend() posts ArrayBuffer/TypedArray payloads as raw bytes: they fan out as binary broadcasts.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: { statusCode?: number; message: string }, req, reply) => {
    if (err instanceof DatabaseUnavailable) return reply.code(503).header('retry-after', '1').send({ message: DATABASE_UNAVAILABLE_MESSAGE });
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'realtime: request failed');
    return reply.code(status).send({ message: status === 500 ? 'Internal server error' : err.message });
  });

  async function caller(req: FastifyRequest): Promise<JwtClaims | undefined> {
    const token = callerToken(req.headers);
    return token ? tokens.caller(token) : undefined;
  }
  /** May `claims` send to the private channel `name`? (RLS INSERT on realtime.messages.) */
  const maySendPrivate = async (claims: JwtClaims, name: string) => (await channels.policiesFor(claims, name))?.broadcast.write === true;

  app.post('/api/broadcast', async (req, reply) => {
    const claims = await caller(req);
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
      channels.broadcast(routeKey(`realtime:${msg.topic}`, isPrivate), msg.event, msg.payload ?? {});
    }
    return reply.code(202).send();
  });
  app.post('/api/broadcast/:topic/events/:event', async (req, reply) => {
    const claims = await caller(req);
    if (!claims) return reply.code(401).send({ message: 'Unauthorized' });
    const { topic, event } = req.params as { topic: string; event: string };
    const isPrivate = (req.query as Record<string, string>).private === 'true';
    if (isPrivate && !(await maySendPrivate(claims, topic))) return reply.code(403).send({ message: 'Unauthorized' });
    channels.broadcast(routeKey(`realtime:${topic}`, isPrivate), event, req.body ?? {});
    return reply.code(202).send();
  });
  app.get('/health', async () => ({
    status: 'up',
    connections: deps.broker.connections.size,
    channels: deps.broker.channelCount,
    instance: deps.bus.instanceId,
    clustered: deps.bus.clustered,
    leader: deps.changes.isLeader(),
  }));
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ message: `Route ${req.method}:${req.url.split('?')[0]} not found` }));
  await app.ready();
  return app;
}
