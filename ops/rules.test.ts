/**
 * The pieces of ops/ that need no stack: latency quantiles from buckets, windows over the history,
 * the alert rules' thresholds, the deployment payloads (Dokploy's two shapes, generic CI), the
 * webhook signature, and the configuration of it all (bad values refused at start).
 */
import { createHmac } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, type HttpTotals } from '../core/metrics.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { webhookSignature } from './alerts/channels.ts';
import { MIN_WINDOW_REQUESTS, evaluateRules } from './alerts/rules.ts';
import { deploymentAlert, fromDokploy, fromGeneric } from './deploy-hooks.ts';
import { History, quantileMs, type Sample } from './history.ts';

const SECRET = 'test-secret-of-at-least-thirty-two-characters';
const ALERTS = { intervalSeconds: 10, dbDownSeconds: 30, windowMinutes: 5, errorRatePercent: 5, p99Ms: 2000, replicationLagBytes: 2 ** 30, diskFreePercent: 10 };

/** Totals with `n` requests, `errors` of them 5xx, all in the bucket of `seconds`. */
function totals(n: number, errors: number, seconds: number): HttpTotals {
  const buckets = new Array(LATENCY_BUCKETS.length + 1).fill(0);
  buckets[LATENCY_BUCKETS.findIndex((b) => seconds <= b)] = n;
  return { requests: n, errors, buckets };
}

const sample = (t: number, http: Record<string, HttpTotals>, extra: Partial<Sample> = {}): Sample => ({ t, http, health: { database: { status: 'up', response_time_ms: 1 } }, pools: {}, ...extra });

describe('quantileMs', () => {
  it('interpolates within the bucket, as histogram_quantile does', () => {
    const b = new Array(LATENCY_BUCKETS.length + 1).fill(0);
    b[LATENCY_BUCKETS.indexOf(0.01)] = 100; // 100 requests in (5 ms, 10 ms]
    expect(quantileMs(b, 0.5)).toBeCloseTo(7.5);
    expect(quantileMs(b, 0.99)).toBeCloseTo(9.95);
    b[LATENCY_BUCKETS.indexOf(2.5)] = 2; // two slow ones in (1 s, 2.5 s]
    expect(quantileMs(b, 0.99)!).toBeGreaterThan(1000);
    expect(quantileMs(new Array(LATENCY_BUCKETS.length + 1).fill(0), 0.5)).toBeUndefined();
  });
});

describe('History', () => {
  it('gives windows and per-interval series as differences of samples, and keeps an hour', () => {
    const h = new History();
    h.push(sample(0, { rest: totals(0, 0, 0.005) }));
    h.push(sample(10_000, { rest: totals(100, 10, 0.005) }));
    h.push(sample(20_000, { rest: totals(300, 10, 0.005) }));
    expect(h.window(5, 'rest')).toMatchObject({ seconds: 20, requests: 300, errors: 10 });
    expect(h.window(5, 'auth')).toMatchObject({ requests: 0 });
    expect(h.series().map((p) => [p.rps, p.errorPercent])).toEqual([[10, 10], [20, 0]]);
    h.push(sample(3_615_000, { rest: totals(400, 10, 0.005) }));
    expect(h.samples[0].t).toBe(20_000);
  });
});

describe('evaluateRules', () => {
  it('fires error rate and p99 per service only over the thresholds with enough requests', () => {
    const h = new History();
    h.push(sample(0, {}));
    h.push(sample(60_000, { rest: totals(100, 6, 3), auth: totals(100, 5, 0.01), graphql: totals(MIN_WINDOW_REQUESTS - 1, 10, 3) }));
    const { conditions, judged } = evaluateRules(ALERTS, h);
    expect(conditions.map((c) => `${c.rule}:${c.key}`).sort()).toEqual(['error_rate:rest', 'latency_p99:rest']);
    expect(judged('error_rate', 'auth') && judged('latency_p99', 'rest')).toBe(true);
    // Too few requests: graphql's errors keep what fired open; nothing fires either.
    expect(judged('error_rate', 'graphql')).toBe(false);
    expect(judged('replication_lag', 'slot')).toBe(false);
    expect(conditions.find((c) => c.rule === 'error_rate')!.summary).toContain('6.0% of requests failed');
  });

  it('judges replication lag and disk free only when it could read them; 0 turns a rule off', () => {
    const h = new History();
    const db = { connections: {}, sizeBytes: 1, slots: [{ name: 'slot_a', active: false, lagBytes: 2 * 2 ** 30 }, { name: 'slot_b', active: true, lagBytes: 10 }], storage: { objects: 0, bytes: 0 } };
    h.push(sample(0, {}, { db, diskFreePercent: 4 }));
    const { conditions, judged } = evaluateRules(ALERTS, h);
    expect(conditions.map((c) => `${c.rule}:${c.key}`)).toEqual(['replication_lag:slot_a', 'disk_free:data_dir']);
    expect(conditions[0].summary).toContain('no consumer connected');
    expect(judged('replication_lag', 'slot_b') && judged('disk_free', 'data_dir')).toBe(true);
    const blind = new History();
    blind.push(sample(0, {}));
    expect(evaluateRules(ALERTS, blind).judged('replication_lag', 'slot_a')).toBe(false);
    const off = evaluateRules({ ...ALERTS, replicationLagBytes: 0, diskFreePercent: 0 }, h);
    expect(off.conditions).toEqual([]);
  });
});

describe('a window with a database outage', () => {
  it('judges neither error rate nor latency (database_down reports it)', () => {
    const h = new History();
    h.push(sample(0, {}, { health: { database: { status: 'down', response_time_ms: 1 } } }));
    h.push(sample(60_000, { rest: totals(100, 100, 3) }));
    const e = evaluateRules(ALERTS, h);
    expect(e.conditions).toEqual([]);
    expect(e.judged('error_rate', 'rest')).toBe(false);
  });
});

describe('service_down', () => {
  it('fires for a service down in two samples in a row while the database is up', () => {
    const h = new History();
    const health = (auth: 'up' | 'down', database: 'up' | 'down' = 'up') => ({ database: { status: database, response_time_ms: 1 }, auth: { status: auth, response_time_ms: 1, error: 'HTTP 502' } });
    h.push(sample(0, {}, { health: health('down') }));
    expect(evaluateRules(ALERTS, h).conditions).toEqual([]);
    h.push(sample(10_000, {}, { health: health('down') }));
    expect(evaluateRules(ALERTS, h).conditions).toMatchObject([{ rule: 'service_down', key: 'auth', summary: 'auth is down: HTTP 502' }]);
    h.push(sample(20_000, {}, { health: health('down', 'down') }));
    const dbDown = evaluateRules(ALERTS, h);
    expect(dbDown.conditions).toEqual([]);
    expect(dbDown.judged('service_down', 'auth')).toBe(false);
    // The first sample after the database returns: auth still down is not yet two in a row.
    h.push(sample(30_000, {}, { health: health('down') }));
    expect(evaluateRules(ALERTS, h).conditions).toEqual([]);
    expect(evaluateRules(ALERTS, h).judged('service_down', 'auth')).toBe(false);
  });
});

describe('deployment payloads', () => {
  it("reads Dokploy's Custom notification and its per-application webhook", () => {
    expect(fromDokploy({ title: 'Build Error', projectName: 'shop', applicationName: 'api', errorMessage: 'exit 1', buildLink: 'https://d/x', status: 'error', type: 'build' })).toEqual({
      outcome: 'failed',
      name: 'shop/api',
      id: undefined,
      message: 'exit 1',
      url: 'https://d/x',
    });
    expect(fromDokploy({ title: 'Build Success', projectName: 'shop', applicationName: 'api', status: 'success', type: 'build' }).outcome).toBe('succeeded');
    const hook = fromDokploy({ event: 'deployment.failed', deployment: { deploymentId: 'dep-1' }, entity: { name: 'web', url: 'https://web' }, project: { name: 'p' } });
    expect(hook).toMatchObject({ outcome: 'failed', name: 'p/web', id: 'dep-1' });
    expect(deploymentAlert(hook, 'dokploy')).toMatchObject({ rule: 'deploy_failed', key: 'dokploy:dep-1', severity: 'critical' });
    expect(fromDokploy({ event: 'deployment.started' }).outcome).toBe('other');
  });

  it('reads the generic hook and refuses an unknown status', () => {
    expect(fromGeneric({ status: 'FAILED', service: 'web', environment: 'prod' })).toMatchObject({ outcome: 'failed', name: 'web (prod)' });
    expect(fromGeneric({ status: 'maybe' })).toBeUndefined();
    expect(fromGeneric({})).toBeUndefined();
  });
});

describe('webhook signature', () => {
  it('is t=<seconds>,v1=<HMAC-SHA256 of "t.body">', () => {
    const body = '{"status":"firing"}';
    const expected = createHmac('sha256', 'k').update(`1700000000.${body}`).digest('hex');
    expect(webhookSignature('k', body, 1700000000)).toBe(`t=1700000000,v1=${expected}`);
  });
});

describe('configuration', () => {
  const tmp = () => mkdtemp(path.join(os.tmpdir(), 'nextmavens-ops-config-'));
  it('has the defaults of the issue', async () => {
    const c = await loadConfig({ DATA_DIR: await tmp(), JWT_SECRET: SECRET });
    expect(c.ops).toMatchObject({ metricsEnabled: true, metricsPort: undefined, alerts: { dbDownSeconds: 30, intervalSeconds: 10, errorRatePercent: 5 } });
    expect(c.ops.alerts.webhook).toBeUndefined();
  });

  it('refuses bad values, all at once', async () => {
    const err = await loadConfig({
      DATA_DIR: await tmp(),
      JWT_SECRET: SECRET,
      METRICS_ENABLED: 'perhaps',
      METRICS_TOKEN: 'short',
      ALERT_INTERVAL: '0',
      ALERT_DB_DOWN_SECONDS: 'soon',
      ALERT_WEBHOOK_URL: 'ftp://example.com/hook',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of ['METRICS_ENABLED', 'METRICS_TOKEN', 'ALERT_INTERVAL', 'ALERT_DB_DOWN_SECONDS', 'ALERT_WEBHOOK_URL']) expect(problems).toContain(name);
  });
});
