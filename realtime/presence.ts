/**
 * Presence (docs/protocols.md §1.10): this instance's presences live with their channel; other
 * instances' presences (clustered) are kept per instance, updated from their diffs and
 * snapshots over the bus, and dropped when they die. Every change is told to the local
 * subscribers of the topic as a presence_diff; local changes are also published.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Bus, PresenceMetas } from './bus.ts';
import type { ChannelBroker } from './channels.ts';
import { canReceive, send, type Channel } from './connection.ts';

interface PresenceEntry {
  channel: Channel;
  meta: Record<string, unknown>;
}

const metasOf = (entries: PresenceEntry[]) => entries.map((e) => e.meta);

export class Presence {
  /** routing key → presence key → this instance's entries. */
  readonly #local = new Map<string, Map<string, PresenceEntry[]>>();
  /** instance id → routing key → that instance's presences. */
  readonly #remote = new Map<string, Map<string, PresenceMetas>>();
  readonly #broker: ChannelBroker;
  readonly #bus: Bus;
  readonly #log: Logger;

  constructor(broker: ChannelBroker, bus: Bus, log: Logger) {
    this.#broker = broker;
    this.#bus = bus;
    this.#log = log;
  }

  /** Every presence on a topic, this instance's and the others'. */
  state(key: string): PresenceMetas {
    const out: PresenceMetas = {};
    for (const [pkey, entries] of this.#local.get(key) ?? []) if (entries.length) out[pkey] = { metas: metasOf(entries) };
    for (const byKey of this.#remote.values()) {
      for (const [pkey, { metas }] of Object.entries(byKey.get(key) ?? {})) {
        if (metas.length) out[pkey] = { metas: [...(out[pkey]?.metas ?? []), ...metas] };
      }
    }
    return out;
  }

  #deliverDiff(key: string, joins: PresenceMetas, leaves: PresenceMetas): void {
    for (const ch of this.#broker.subscribers(key)) {
      if (canReceive(ch, 'presence')) send(ch.conn, { join_ref: null, ref: null, topic: ch.topic, event: 'presence_diff', payload: { joins, leaves } });
    }
  }

  #diff(key: string, joins: PresenceMetas, leaves: PresenceMetas): void {
    this.#deliverDiff(key, joins, leaves);
    this.#bus.publish({ t: 'presence', key, joins, leaves }).catch((err) => this.#log.warn({ err }, 'realtime: presence not published'));
  }

  untrack(ch: Channel): void {
    const byKey = this.#local.get(ch.key);
    const entries = byKey?.get(ch.presenceKey);
    if (!byKey || !entries) return;
    const left = entries.filter((e) => e.channel === ch);
    if (!left.length) return;
    const remaining = entries.filter((e) => e.channel !== ch);
    if (remaining.length) byKey.set(ch.presenceKey, remaining);
    else byKey.delete(ch.presenceKey);
    if (!byKey.size) this.#local.delete(ch.key);
    this.#diff(ch.key, {}, { [ch.presenceKey]: { metas: metasOf(left) } });
  }

  track(ch: Channel, payload: unknown): void {
    const byKey = this.#local.get(ch.key) ?? this.#local.set(ch.key, new Map()).get(ch.key)!;
    const entries = byKey.get(ch.presenceKey) ?? [];
    const previous = entries.find((e) => e.channel === ch);
    const meta: Record<string, unknown> = { ...(payload as Record<string, unknown>), phx_ref: randomUUID().replace(/-/g, '').slice(0, 20) };
    if (previous) meta.phx_ref_prev = previous.meta.phx_ref;
    byKey.set(ch.presenceKey, [...entries.filter((e) => e.channel !== ch), { channel: ch, meta }]);
    this.#diff(ch.key, { [ch.presenceKey]: { metas: [meta] } }, previous ? { [ch.presenceKey]: { metas: [previous.meta] } } : {});
  }

  /** Applies another instance's diff to its copy of that instance's presences. */
  applyRemoteDiff(from: string, key: string, joins: PresenceMetas, leaves: PresenceMetas): void {
    const byKey = this.#remote.get(from) ?? this.#remote.set(from, new Map()).get(from)!;
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
    this.#deliverDiff(key, joins, leaves);
  }

  /** Replaces all presences of another instance (snapshot, or [] when it died), telling clients what changed. */
  replaceRemote(from: string, snapshot: [string, PresenceMetas][]): void {
    const before = this.#remote.get(from) ?? new Map<string, PresenceMetas>();
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
      if (Object.keys(joins).length || Object.keys(leaves).length) this.#deliverDiff(key, joins, leaves);
    }
    if (after.size) this.#remote.set(from, after);
    else this.#remote.delete(from);
  }

  /** Instances whose presences this one holds. */
  remoteInstances(): string[] {
    return [...this.#remote.keys()];
  }

  localSnapshot(): [string, PresenceMetas][] {
    return [...this.#local.entries()].map(([key, byKey]) => [key, Object.fromEntries([...byKey].filter(([, e]) => e.length).map(([pkey, e]) => [pkey, { metas: metasOf(e) }]))]);
  }
}
