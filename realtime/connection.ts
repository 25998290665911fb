/**
 * One client socket and its channels (the shapes every part of realtime shares), and how frames
 * reach it: a slow consumer whose unsent frames pass MAX_BUFFERED_BYTES is disconnected rather
 * than buffered without bound.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { JwtClaims } from '../core/jwt.ts';
import type { ChannelPolicies } from './authorization.ts';
import type { ChangeFilter } from './filters.ts';
import type { SocketRate } from './message-rate.ts';
import { encode, type PhxMessage, type Vsn } from './phoenix.ts';
import { counters } from '../core/metrics.ts';

export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export interface Connection {
  ws: WebSocket;
  /** The socket under `ws`: corked while a batch of changes goes out, so its frames leave in one write (change-delivery.ts). */
  socket: Duplex;
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
  /** The client's address (TRUST_PROXY rules), for tokens given in joins and refreshes. */
  address: string;
}

/** A postgres_changes subscription of a channel. */
export interface Binding {
  id: number;
  event: string;
  schema: string;
  table: string;
  filters: ChangeFilter[];
}

export interface Channel {
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

/** The routing key of a topic: public and private channels of one name never mix. */
export const routeKey = (topic: string, isPrivate: boolean) => (isPrivate ? `private|${topic}` : topic);

/** May this channel receive broadcasts / presence? (Private channels: RLS SELECT on realtime.messages.) */
export const canReceive = (ch: Channel, ext: 'broadcast' | 'presence') => !ch.policies || ch.policies[ext].read;

/** Whether the socket can take one more frame now (open, not over the buffer limit). */
export const canTake = (conn: Connection) => conn.ws.readyState === conn.ws.OPEN && conn.ws.bufferedAmount <= MAX_BUFFERED_BYTES;

/** ws copies its options per send: one object for every text frame. */
const TEXT = { binary: false };

/**
 * Sends a text frame: a string, or the UTF-8 Buffer of one — a frame that several sockets get is
 * encoded once and the same Buffer sent to each (ws would convert a string for every socket).
 */
export function sendFrame(conn: Connection, frame: string | Buffer): void {
  if (conn.ws.readyState !== conn.ws.OPEN) return;
  if (conn.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
    counters.realtimeDrops.inc();
    conn.ws.close(1008, 'slow consumer: too many pending messages');
    return;
  }
  counters.realtimeDeliveries.inc();
  conn.ws.send(frame, TEXT);
}

export const send = (conn: Connection, msg: PhxMessage) => sendFrame(conn, encode(msg, conn.vsn));

export const reply = (conn: Connection, m: PhxMessage, status: 'ok' | 'error', response: unknown) =>
  send(conn, { join_ref: m.join_ref, ref: m.ref, topic: m.topic, event: 'phx_reply', payload: { status, response } });

/** A `system` message on a channel (docs/protocols.md §1.5). */
export const system = (ch: Channel, status: 'ok' | 'error', message: string, extension = 'system') =>
  send(ch.conn, { join_ref: ch.joinRef, ref: null, topic: ch.topic, event: 'system', payload: { extension, status, message, channel: ch.topic.slice('realtime:'.length) } });
