/**
 * The broker of topics (in the spirit of pocketbase's tools/subscriptions: who listens to what,
 * apart from any transport): this instance's channels by routing key, and broadcast delivery to
 * them. Fan-out to other instances is the caller's business (bus.ts).
 */
import { canReceive, canTake, sendFrame, type Channel, type Connection } from './connection.ts';
import { encode, encodeUserBroadcast, type Vsn } from './phoenix.ts';
import { counters } from '../core/metrics.ts';

export class ChannelBroker {
  readonly #topics = new Map<string, Set<Channel>>();
  readonly #subscribed = new Set<Channel>();
  #subscribedVersion = 0;
  /** Every open socket of this instance. */
  readonly connections = new Set<Connection>();

  add(ch: Channel): void {
    ch.conn.channels.set(ch.topic, ch);
    (this.#topics.get(ch.key) ?? this.#topics.set(ch.key, new Set()).get(ch.key)!).add(ch);
    if (ch.bindings.length) {
      this.#subscribed.add(ch);
      this.#subscribedVersion++;
    }
  }

  /** Removes a channel from its topic and its socket (no messages sent). */
  remove(ch: Channel): void {
    if (this.#subscribed.delete(ch)) this.#subscribedVersion++;
    this.#topics.get(ch.key)?.delete(ch);
    if (!this.#topics.get(ch.key)?.size) this.#topics.delete(ch.key);
    if (ch.conn.channels.get(ch.topic) === ch) ch.conn.channels.delete(ch.topic);
  }

  /** This instance's channels on a routing key. */
  subscribers(key: string): Iterable<Channel> {
    return this.#topics.get(key) ?? [];
  }

  /** The channels with postgres_changes bindings (a channel's bindings are set at its join). */
  get subscribed(): ReadonlySet<Channel> {
    return this.#subscribed;
  }

  /** Changes whenever a channel joins or leaves `subscribed` (change-delivery.ts keeps what it derives from them until then). */
  get subscribedVersion(): number {
    return this.#subscribedVersion;
  }

  /** Every joined channel of every socket. */
  channels(): Channel[] {
    return [...this.connections].flatMap((conn) => [...conn.channels.values()]);
  }

  get channelCount(): number {
    let n = 0;
    for (const set of this.#topics.values()) n += set.size;
    return n;
  }

  /** Delivers a broadcast to this instance's subscribers of `key`; `from` is skipped unless it asked for self. */
  deliverBroadcast(key: string, event: string, payload: unknown, from?: Channel): void {
    // One topic per key: each frame is encoded once for all its receivers.
    let binaryFrame: Buffer | undefined;
    let jsonFrames: Partial<Record<Vsn, Buffer>> | undefined;
    for (const ch of this.subscribers(key)) {
      if (ch === from && !ch.self) continue;
      if (!canReceive(ch, 'broadcast')) continue;
      if (ch.conn.vsn === '2.0.0') {
        if (canTake(ch.conn)) {
          counters.realtimeDeliveries.inc();
          ch.conn.ws.send((binaryFrame ??= encodeUserBroadcast(ch.topic, event, payload)));
        } else counters.realtimeDrops.inc();
      } else if (!Buffer.isBuffer(payload)) {
        jsonFrames ??= {};
        sendFrame(ch.conn, (jsonFrames[ch.conn.vsn] ??= Buffer.from(encode({ join_ref: null, ref: null, topic: ch.topic, event: 'broadcast', payload: { type: 'broadcast', event, payload } }, ch.conn.vsn))));
      }
    }
  }
}
