/**
 * Broadcast from the database (realtime.send / realtime.broadcast_changes, sql/0019): the
 * messages those functions insert into realtime.messages come through the replication stream
 * like any change, and reach every instance with the transaction (fanout.ts). Each instance
 * turns them into broadcasts to its own subscribers of the topic — the private or the public
 * channel of that name, as the message says — and never into postgres_changes. Private
 * channels receive them only if their join passed the SELECT policies of realtime.messages
 * (connection.ts canReceive), exactly as for client broadcasts. As in Supabase, the payload
 * carries the message's id.
 */
import type { Transaction } from './changes.ts';
import type { ChannelBroker } from './channels.ts';
import { routeKey } from './connection.ts';

const isMessage = (c: { schema: string; table: string }) => c.schema === 'realtime' && c.table === 'messages';

/** Delivers the broadcasts of `txs` here; returns the transactions without them (for postgres_changes). */
export function deliverDatabaseBroadcasts(broker: ChannelBroker, txs: Transaction[]): Transaction[] {
  let any = false;
  for (const tx of txs) {
    for (const c of tx.changes) {
      if (!isMessage(c)) continue;
      any = true;
      const r = c.record;
      if (c.type !== 'INSERT' || !r || r.extension !== 'broadcast' || !r.topic || typeof r.event !== 'string') continue;
      let payload: unknown;
      try {
        payload = r.payload == null ? {} : JSON.parse(r.payload);
      } catch {
        continue;
      }
      if (payload && typeof payload === 'object' && !Array.isArray(payload)) payload = { ...payload, id: r.id };
      broker.deliverBroadcast(routeKey(`realtime:${r.topic}`, r.private === 't'), r.event, payload);
    }
  }
  return any ? txs.map((tx) => ({ ...tx, changes: tx.changes.filter((c) => !isMessage(c)) })) : txs;
}
