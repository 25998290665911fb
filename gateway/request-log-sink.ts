/**
 * Keeps the embedded gateway's request log entries (gateway/request-log.ts) in
 * nextmavens.request_log for the admin dashboard, off the request path: `push` only appends to a
 * buffer; a timer writes the buffer in one INSERT every `flushMs` (sooner once `batchSize` are
 * waiting) and prunes the table about once a minute. While Postgres is away or slow the buffer
 * fills to `maxBuffered` and further entries are dropped and counted; a failed batch is dropped and
 * counted too (`nextmavens_request_log_dropped_total` on /metrics). A request never waits for, nor fails because of, this.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { serviceCounter } from '../core/metrics.ts';
import { insertRequestLog, pruneRequestLog, type RequestLogEntry } from '../ops/request-log-store.ts';
import type { RequestLogFields } from './request-log.ts';

/** On /metrics: entries lost while Postgres was away or slow (this sink's `stats().dropped`, summed over sinks). */
const droppedTotal = serviceCounter('nextmavens_request_log_dropped_total', 'Request log entries not kept in nextmavens.request_log (buffer full or a failed write while Postgres was away).');

export interface RequestLogSink {
  push(fields: RequestLogFields): void;
  /** Writes what is buffered now (tests, shutdown). */
  flush(): Promise<void>;
  stats(): { written: number; dropped: number; buffered: number };
  close(): Promise<void>;
}

export interface RequestLogSinkOptions {
  pool: Pick<pg.Pool, 'query'>;
  log: Logger;
  retentionHours: number;
  maxRows: number;
  flushMs?: number;
  batchSize?: number;
  maxBuffered?: number;
  pruneEveryMs?: number;
}

export function createRequestLogSink(opts: RequestLogSinkOptions): RequestLogSink {
  const { pool, log, flushMs = 1000, batchSize = 500, maxBuffered = 10_000, pruneEveryMs = 60_000 } = opts;
  let buffer: RequestLogEntry[] = [];
  let written = 0;
  let dropped = 0;
  let inflight: Promise<void> | undefined;
  let lastPrune = Date.now();
  let lastWarning = 0;
  let soon: NodeJS.Immediate | undefined;

  const warn = (err: unknown, what: string) => {
    // One line a minute at most while Postgres is away.
    if (Date.now() - lastWarning < 60_000) return;
    lastWarning = Date.now();
    log.warn({ err, dropped }, `request log: ${what}`);
  };

  async function write(): Promise<void> {
    while (buffer.length > 0) {
      const batch = buffer.slice(0, batchSize);
      buffer = buffer.slice(batch.length);
      try {
        await insertRequestLog(pool, batch);
        written += batch.length;
      } catch (err) {
        dropped += batch.length;
        droppedTotal.inc(batch.length);
        warn(err, `${batch.length} entries dropped (cannot write to nextmavens.request_log)`);
      }
    }
    if (Date.now() - lastPrune >= pruneEveryMs) {
      lastPrune = Date.now();
      await pruneRequestLog(pool, opts.retentionHours, opts.maxRows).catch((err) => warn(err, 'prune failed'));
    }
  }

  function flush(): Promise<void> {
    if (!inflight) inflight = write().finally(() => (inflight = undefined));
    return inflight;
  }

  const timer = setInterval(() => void flush(), flushMs);
  timer.unref();

  return {
    push(f) {
      if (buffer.length >= maxBuffered) {
        dropped += 1;
        droppedTotal.inc();
        return;
      }
      buffer.push({ ...f, method: f.method ?? 'GET', at: new Date(Date.now() - f.ms) });
      if (buffer.length >= batchSize && !inflight && !soon) soon = setImmediate(() => ((soon = undefined), void flush()));
    },
    async flush() {
      await inflight;
      await flush();
    },
    stats: () => ({ written, dropped, buffered: buffer.length }),
    async close() {
      clearInterval(timer);
      if (soon) clearImmediate(soon);
      await inflight;
      await flush();
    },
  };
}
