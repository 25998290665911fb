/**
 * The last hour of samples the monitor takes every ALERT_INTERVAL seconds (ops/monitor.ts): the
 * request totals of core/metrics.ts, the health report, the database's statistics. Rates and
 * latency quantiles over a window are differences between two samples, so the dashboard's charts
 * and the alert rules read the same numbers.
 */
import { LATENCY_BUCKETS, type HttpTotals } from '../core/metrics.ts';
import type { DatabaseStats } from './store.ts';

export interface ComponentSample {
  status: 'up' | 'down';
  response_time_ms: number;
  error?: string;
}

export interface PoolSample {
  max: number;
  inUse: number;
  idle: number;
  waiting: number;
}

export interface Sample {
  t: number;
  http: Record<string, HttpTotals>;
  health: Record<string, ComponentSample>;
  /** Undefined when the database could not be read. */
  db?: DatabaseStats;
  pools: Record<string, PoolSample>;
  /** Free space of DATA_DIR's file system, 0–100. */
  diskFreePercent?: number;
}

export interface WindowStats {
  seconds: number;
  requests: number;
  errors: number;
  /** Milliseconds; undefined without requests. */
  p50?: number;
  p99?: number;
}

const HOUR_MS = 3600_000;

function sumTotals(http: Record<string, HttpTotals>, service?: string): HttpTotals {
  const out: HttpTotals = { requests: 0, errors: 0, buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0) };
  for (const [name, t] of Object.entries(http)) {
    if (service !== undefined && name !== service) continue;
    out.requests += t.requests;
    out.errors += t.errors;
    t.buckets.forEach((n, i) => (out.buckets[i] += n));
  }
  return out;
}

/** A quantile from non-cumulative bucket counts, interpolated within its bucket (as histogram_quantile). */
export function quantileMs(buckets: number[], q: number): number | undefined {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    if (seen + buckets[i] >= rank && buckets[i] > 0) {
      const lower = i === 0 ? 0 : LATENCY_BUCKETS[i - 1];
      const upper = i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i] : LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1];
      return (lower + (upper - lower) * ((rank - seen) / buckets[i])) * 1000;
    }
    seen += buckets[i];
  }
  return LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1] * 1000;
}

function between(from: HttpTotals, to: HttpTotals, seconds: number): WindowStats {
  const buckets = to.buckets.map((n, i) => n - (from.buckets[i] ?? 0));
  return { seconds, requests: to.requests - from.requests, errors: to.errors - from.errors, p50: quantileMs(buckets, 0.5), p99: quantileMs(buckets, 0.99) };
}

export class History {
  readonly samples: Sample[] = [];

  push(s: Sample): void {
    this.samples.push(s);
    while (this.samples.length > 1 && s.t - this.samples[0].t > HOUR_MS) this.samples.shift();
  }

  latest(): Sample | undefined {
    return this.samples.at(-1);
  }

  /** Requests, errors and latency over the last `minutes` (or since the first sample), all services or one. */
  window(minutes: number, service?: string): WindowStats | undefined {
    const last = this.latest();
    if (!last) return undefined;
    const from = this.samples.find((s) => last.t - s.t <= minutes * 60_000) ?? last;
    return between(sumTotals(from.http, service), sumTotals(last.http, service), (last.t - from.t) / 1000);
  }

  /** Per sample interval: request rate, error rate and latency quantiles (the dashboard's charts). */
  series(): { t: number; rps: number; errorPercent: number; p50: number | null; p99: number | null }[] {
    const out = [];
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1];
      const b = this.samples[i];
      const w = between(sumTotals(a.http), sumTotals(b.http), (b.t - a.t) / 1000);
      out.push({
        t: b.t,
        rps: w.seconds > 0 ? w.requests / w.seconds : 0,
        errorPercent: w.requests > 0 ? (100 * w.errors) / w.requests : 0,
        p50: w.p50 ?? null,
        p99: w.p99 ?? null,
      });
    }
    return out;
  }
}
