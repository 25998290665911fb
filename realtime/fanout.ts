/**
 * postgres_changes fan-out: the replication stream's transactions (changes.ts), taken by the
 * leader (leader.ts) and published to the other instances (bus.ts), are queued here and handed
 * to change-delivery.ts in commit order, in batches of whatever queued up while the previous
 * batch was being checked (broadcasts from the database, db-broadcast.ts, go out first). A
 * transaction's LSN is acknowledged only after its hand-over resolved, so nothing is lost
 * across a restart.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Bus } from './bus.ts';
import { deliverChanges } from './change-delivery.ts';
import { lsnValue, startChangeStream, type Transaction } from './changes.ts';
import { published, slotReady } from './db.ts';
import { deliverDatabaseBroadcasts } from './db-broadcast.ts';
import type { ChannelBroker } from './channels.ts';
import type { Binding } from './connection.ts';
import { electLeader, type Leadership } from './leader.ts';

export interface ChangeFanoutDeps {
  /** Owner connection URL (the replication stream, the leader lock). */
  url: string;
  slot: string;
  admin: pg.Pool;
  /** Where changes are checked against RLS (change-delivery.ts): one statement per check, time-bounded by its connections. */
  checks: Pick<pg.Pool, 'query'>;
  broker: ChannelBroker;
  bus: Bus;
  log: Logger;
}

export interface ChangeFanout {
  /** Starts competing for the slot (at once when clustered; on first use when alone). */
  campaign(): Leadership;
  /** Whether this instance consumes the slot now. */
  isLeader(): boolean;
  /** Resolves once the slot exists and is consistent (changes committed from then on are delivered). */
  replicationReady(timeoutMs?: number): Promise<void>;
  /** Every table a binding names is in the publication (schema-wide bindings: any table). */
  subscribable(bindings: Binding[]): Promise<boolean>;
  /** Queues a transaction (from the stream or another instance) for delivery here. */
  enqueue(tx: Transaction): Promise<void>;
  /** Transactions waiting for delivery (metrics). */
  queueDepth(): number;
  /** Stops consuming the slot and waits for deliveries under way. */
  close(): Promise<void>;
}

export function createChangeFanout(deps: ChangeFanoutDeps): ChangeFanout {
  const slot = deps.slot;
  let leadership: Leadership | undefined;
  /** Starts competing for the slot (at once when clustered; on first use when alone). */
  const campaign = () =>
    (leadership ??= electLeader({
      url: deps.url,
      name: slot,
      log: deps.log,
      onElected: async () => {
        const stream = await startChangeStream(deps.url, slot, deps.log, handOver);
        return () => stream.stop();
      },
    }));

  /** Resolves once the slot exists and is consistent (changes committed from then on are delivered). */
  async function replicationReady(timeoutMs = 15_000): Promise<void> {
    campaign();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await slotReady(deps.admin, slot)) return;
      if (Date.now() > deadline) throw new Error(`replication slot ${slot} was not created in time`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The leader's handler: deliver here and publish to the others; the LSN is acked after both. */
  async function handOver(tx: Transaction): Promise<void> {
    await Promise.all([enqueue(tx), deps.bus.clustered ? publishTx(tx) : undefined]);
  }

  async function publishTx(tx: Transaction): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await deps.bus.publish({ t: 'tx', tx });
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
        if (fresh.length) await deliverChanges(deps, deliverDatabaseBroadcasts(deps.broker, fresh));
        for (const w of batch) w.done();
      } catch (err) {
        deps.log.error({ err }, 'realtime: dispatch failed');
        for (const w of batch) w.failed(err);
      }
    }
  }

  /** Every table a binding names is in the publication (schema-wide bindings: any table). */
  async function subscribable(bindings: Binding[]): Promise<boolean> {
    for (const b of bindings) if (!(await published(deps.admin, b.schema, b.table))) return false;
    return true;
  }

  return {
    campaign,
    isLeader: () => leadership?.isLeader() ?? false,
    replicationReady,
    subscribable,
    enqueue,
    queueDepth: () => waiting.length,
    async close() {
      await leadership?.stop();
      await draining;
    },
  };
}
