/**
 * The process's metrics: one prom-client Registry (served as GET /metrics by ops/metrics-route.ts)
 * and the few calls services make to feed it. Service counters on hot paths (a realtime frame)
 * only add to a plain number; prom-client sees it when Prometheus scrapes (the counter's
 * `collect` adds what was counted since).
 *
 * - HTTP: `observeHttp` (from core/service-app.ts's onResponse hook, GraphQL's handler): requests
 *   and latency by service, route TEMPLATE (never the raw URL), method and status; the same
 *   requests are also summed per service for the dashboard and the alert rules (`httpTotals`).
 * - Service counters (`serviceCounter`) and gauges read at scrape time (`gaugeSource`).
 * - Collectors over the database (pools, Postgres, jobs, storage) live in ops/collectors.ts.
 *
 * Off (METRICS_ENABLED=false): `observeHttp` returns at once and the registry has no process metrics.
 */
import client from 'prom-client';

export const registry = new client.Registry();

let enabled = false;
let defaults = false;

/**
 * Recording on or off for the service apps created from now on (the composition root sets it
 * from METRICS_ENABLED before it builds the services; bench/metrics.ts flips it between stacks).
 */
export function setMetricsEnabled(on: boolean): void {
  enabled = on;
  if (on && !defaults) {
    defaults = true;
    // Event-loop lag, RSS, heap, GC, handles: prom-client's process collectors.
    client.collectDefaultMetrics({ register: registry, prefix: 'nextmavens_' });
  }
}

export const metricsEnabled = (): boolean => enabled;

/** Latency buckets in seconds (also the dashboard's and the p99 rule's resolution). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const LABELS = ['service', 'route', 'method', 'status'] as const;

/** What the dashboard and the alert rules read: per service, since the process started. */
export interface HttpTotals {
  requests: number;
  errors: number;
  /** Non-cumulative latency buckets (see HttpSeries.buckets). */
  buckets: number[];
}

const totals = new Map<string, HttpTotals>();

const newBuckets = () => new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);

function bucketOf(seconds: number): number {
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]) return i;
  return LATENCY_BUCKETS.length;
}

/** One series of the HTTP metrics: its labels and what was observed. */
interface HttpSeries {
  labels: Record<(typeof LABELS)[number], string>;
  count: number;
  sum: number;
  /** Non-cumulative: buckets[i] counts the latencies in (LATENCY_BUCKETS[i-1], LATENCY_BUCKETS[i]]; the last, those above every bound. */
  buckets: number[];
}

/** The series by service, route, method and status: four lookups of short strings, no key built per request. */
const httpSeries = new Map<string, Map<string, Map<string, Map<number, HttpSeries>>>>();

function child<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = make()));
  return v;
}

function* allHttpSeries(): Generator<HttpSeries> {
  for (const routes of httpSeries.values()) for (const methods of routes.values()) for (const statuses of methods.values()) yield* statuses.values();
}

/**
 * Records one answered HTTP request. `route` must be a template (`/object/:bucket/*`), not a URL.
 * A plain addition to its series: prom-client's Counter and Histogram hashed and validated the
 * four labels on every request; the series become Prometheus' counter and histogram only when
 * scraped (below).
 */
export function observeHttp(service: string, route: string, method: string, status: number, seconds: number): void {
  if (!enabled) return;
  const statuses = child(child(child(httpSeries, service, () => new Map()), route, () => new Map()), method, () => new Map());
  const series = child(statuses, status, () => ({ labels: { service, route, method, status: String(status) }, count: 0, sum: 0, buckets: newBuckets() }));
  const bucket = bucketOf(seconds);
  series.count++;
  series.sum += seconds;
  series.buckets[bucket]++;
  let t = totals.get(service);
  if (!t) totals.set(service, (t = { requests: 0, errors: 0, buckets: newBuckets() }));
  t.requests++;
  if (status >= 500) t.errors++;
  t.buckets[bucket]++;
}

/** Per-service request totals since the process started (copies). */
export function httpTotals(): Record<string, HttpTotals> {
  return Object.fromEntries([...totals].map(([name, t]) => [name, { requests: t.requests, errors: t.errors, buckets: [...t.buckets] }]));
}

type MetricValue = { labels: Record<string, string | number>; value: number; metricName?: string };

/** A metric prom-client's registry formats (and node:cluster's AggregatorRegistry sums) from what `values` returns when scraped. */
function scrapedMetric(name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue[]): void {
  const read = () => ({ name, help, type, aggregator: 'sum' as const, values: values() });
  registry.registerMetric({ name, help, type, aggregator: 'sum', get: async () => read(), reset: () => undefined } as unknown as client.Metric);
}

scrapedMetric('nextmavens_http_requests_total', 'HTTP requests answered, by service, route template, method and status.', 'counter', () =>
  [...allHttpSeries()].map((s) => ({ labels: s.labels, value: s.count })),
);

const DURATION = 'nextmavens_http_request_duration_seconds';
scrapedMetric(DURATION, 'Time from request to response, by service, route template, method and status.', 'histogram', () => {
  const values: MetricValue[] = [];
  for (const s of allHttpSeries()) {
    let cumulative = 0;
    for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
      cumulative += s.buckets[i];
      values.push({ labels: { ...s.labels, le: i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i] : '+Inf' }, value: cumulative, metricName: `${DURATION}_bucket` });
    }
    values.push({ labels: s.labels, value: s.sum, metricName: `${DURATION}_sum` }, { labels: s.labels, value: s.count, metricName: `${DURATION}_count` });
  }
  return values;
});

/** A counter that hot paths bump with a plain addition; Prometheus sees it as `<name>` (a counter). */
export interface FastCounter {
  inc(by?: number): void;
  readonly value: number;
}

/** A process-wide counter (one per name: calling again with the same name returns the same one). */
export function serviceCounter(name: string, help: string): FastCounter {
  const existing = fastCounters.get(name);
  if (existing) return existing;
  let value = 0;
  let reported = 0;
  const counter: FastCounter = {
    inc(by = 1) {
      value += by;
    },
    get value() {
      return value;
    },
  };
  new client.Counter({
    name,
    help,
    registers: [registry],
    collect() {
      if (value > reported) this.inc(value - reported);
      reported = value;
    },
  });
  fastCounters.set(name, counter);
  return counter;
}
const fastCounters = new Map<string, FastCounter>();

/**
 * Gauges read when scraped from the sources services register (`gaugeSource`): each source returns
 * its current values; several sources (several stacks in one test process) are summed.
 */
export function gaugeSource<K extends string>(gauges: Record<K, { name: string; help: string }>, read: () => Record<K, number>): () => void {
  const undo: (() => void)[] = [];
  for (const [key, { name, help }] of Object.entries(gauges) as [K, { name: string; help: string }][]) {
    const sources = gaugeSet(name, help);
    const one = () => read()[key];
    sources.add(one);
    undo.push(() => sources.delete(one));
  }
  return () => undo.forEach((f) => f());
}

const gaugeSets = new Map<string, Set<() => number>>();

function gaugeSet(name: string, help: string): Set<() => number> {
  let sources = gaugeSets.get(name);
  if (sources) return sources;
  const set = (sources = new Set<() => number>());
  gaugeSets.set(name, set);
  new client.Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      let sum = 0;
      for (const read of set) sum += read();
      this.set(sum);
    },
  });
  return set;
}

/** The service counters of the issue, in one place so that names stay stable. */
export const counters = {
  authSignins: serviceCounter('nextmavens_auth_signins_total', 'Successful sign-ins (password, OTP/magic link, OAuth, anonymous).'),
  authSigninFailures: serviceCounter('nextmavens_auth_signin_failures_total', 'Refused password sign-ins (wrong credentials).'),
  authRefreshes: serviceCounter('nextmavens_auth_refreshes_total', 'Refresh-token grants answered with a new session.'),
  authEmailsSent: serviceCounter('nextmavens_auth_emails_sent_total', 'Auth mails delivered (SMTP or the dev inbox).'),
  storageBytesIn: serviceCounter('nextmavens_storage_bytes_in_total', 'Object bytes stored by uploads.'),
  storageBytesOut: serviceCounter('nextmavens_storage_bytes_out_total', 'Object bytes sent by downloads.'),
  realtimeDeliveries: serviceCounter('nextmavens_realtime_deliveries_total', 'Frames sent to realtime sockets.'),
  realtimeDrops: serviceCounter('nextmavens_realtime_drops_total', 'Frames not delivered: slow consumers disconnected, messages over the rate limit.'),
};
