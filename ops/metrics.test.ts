/**
 * GET /metrics on the embedded stack: refused without the service_role key or METRICS_TOKEN,
 * Prometheus text with it; request counters move with traffic, by route template (never the raw
 * URL); pool, Postgres, realtime, auth and storage series are there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const METRICS_TOKEN = 'prometheus-scrape-token-0123456789';
let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({ fixtures: 'rest-basic.sql', env: { METRICS_TOKEN } });
}, 60_000);
afterAll(async () => t?.close());

const scrape = async (headers: Record<string, string> = { authorization: `Bearer ${t.db.config.serviceRoleKey}` }) => {
  const res = await fetch(`${t.stack.url}/metrics`, { headers });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};

/** The value of one series line (`name{labels} value`), 0 when absent. */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('GET /metrics', () => {
  it('is refused without a key, with the anon key and with a wrong token', async () => {
    expect((await scrape({})).status).toBe(401);
    expect((await scrape({ apikey: t.db.config.anonKey })).status).toBe(401);
    const wrong = await scrape({ authorization: `Bearer ${METRICS_TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.text)).toEqual({ code: 'unauthorized', message: expect.stringContaining('service_role') });
  });

  it('answers Prometheus text for the service_role key (Bearer or apikey) and METRICS_TOKEN', async () => {
    const ok = await scrape();
    expect(ok.status).toBe(200);
    expect(ok.type).toContain('text/plain');
    expect(ok.text).toContain('# TYPE nextmavens_http_requests_total counter');
    expect((await scrape({ apikey: t.db.config.serviceRoleKey })).status).toBe(200);
    expect((await scrape({ authorization: `Bearer ${METRICS_TOKEN}` })).status).toBe(200);
  });

  it('counts requests by service, route template, method and status; latency in a histogram', async () => {
    const labels = { service: 'rest', route: '/:relation', method: 'GET', status: '200' };
    const before = await scrape();
    const n0 = value(before.text, 'nextmavens_http_requests_total', labels);
    const h0 = value(before.text, 'nextmavens_http_request_duration_seconds_count', labels);
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${t.stack.url}/rest/v1/clients?id=eq.${i}`, { headers: { apikey: t.db.config.anonKey } });
      expect(res.status).toBe(200);
      await res.body?.cancel();
    }
    const missing = await fetch(`${t.stack.url}/rest/v1/no_such_table_${Date.now()}`, { headers: { apikey: t.db.config.anonKey } });
    await missing.body?.cancel();
    const after = await scrape();
    expect(value(after.text, 'nextmavens_http_requests_total', labels) - n0).toBe(5);
    expect(value(after.text, 'nextmavens_http_request_duration_seconds_count', labels) - h0).toBe(5);
    expect(value(after.text, 'nextmavens_http_requests_total', { service: 'rest', route: '/:relation', status: String(missing.status) })).toBeGreaterThan(0);
    // No raw URL ever becomes a label value.
    expect(after.text).not.toContain('no_such_table_');
    expect(after.text).not.toContain('clients?id');
    // Fastify's own templates for the other services; unmatched paths as not_found.
    const health = await fetch(`${t.stack.url}/auth/v1/health`, { headers: { apikey: t.db.config.anonKey } });
    await health.body?.cancel();
    const graphql = await fetch(`${t.stack.url}/graphql/v1`, {
      method: 'POST',
      headers: { apikey: t.db.config.anonKey, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    await graphql.body?.cancel();
    const third = await scrape();
    expect(value(third.text, 'nextmavens_http_requests_total', { service: 'auth', route: '/health', method: 'GET' })).toBeGreaterThan(0);
    expect(value(third.text, 'nextmavens_http_requests_total', { service: 'graphql', route: '/graphql', method: 'POST', status: '200' })).toBeGreaterThan(0);
  });

  it('counts storage bytes in and out', async () => {
    const key = t.db.config.serviceRoleKey;
    const auth = { apikey: key, authorization: `Bearer ${key}` };
    const bucket = await fetch(`${t.stack.url}/storage/v1/bucket`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'metrics' }) });
    expect(bucket.status).toBe(200);
    const before = await scrape();
    const up = await fetch(`${t.stack.url}/storage/v1/object/metrics/a.bin`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(1000, 7) });
    expect(up.status).toBe(200);
    const down = await fetch(`${t.stack.url}/storage/v1/object/metrics/a.bin`, { headers: auth });
    expect((await down.arrayBuffer()).byteLength).toBe(1000);
    const head = await fetch(`${t.stack.url}/storage/v1/object/metrics/a.bin`, { method: 'HEAD', headers: auth });
    expect(head.status).toBe(200);
    const after = await scrape();
    expect(value(after.text, 'nextmavens_storage_bytes_in_total') - value(before.text, 'nextmavens_storage_bytes_in_total')).toBe(1000);
    expect(value(after.text, 'nextmavens_storage_bytes_out_total') - value(before.text, 'nextmavens_storage_bytes_out_total')).toBe(1000);
    expect(value(after.text, 'nextmavens_storage_objects')).toBe(1);
    expect(value(after.text, 'nextmavens_storage_object_bytes')).toBe(1000);
  });

  it('describes the pools, Postgres, jobs, storage, auth and realtime', async () => {
    const signin = await fetch(`${t.stack.url}/auth/v1/token?grant_type=password`, {
      method: 'POST',
      headers: { apikey: t.db.config.anonKey, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'nobody@example.com', password: 'wrong-password' }),
    });
    expect(signin.status).toBe(400);
    await signin.body?.cancel();
    const { text } = await scrape();
    expect(value(text, 'nextmavens_postgres_up')).toBe(1);
    expect(value(text, 'nextmavens_postgres_database_size_bytes')).toBeGreaterThan(1_000_000);
    expect(value(text, 'nextmavens_postgres_connections', { state: 'idle' }) + value(text, 'nextmavens_postgres_connections', { state: 'active' })).toBeGreaterThan(0);
    expect(text).toMatch(/nextmavens_db_pool_connections\{pool="request",state="in_use"\} \d+/);
    expect(value(text, 'nextmavens_db_pool_max', { pool: 'admin' })).toBe(t.db.config.postgres.poolMax);
    expect(text).toMatch(/nextmavens_jobs\{state="queued"\} \d+/);
    expect(text).toMatch(/nextmavens_storage_objects \d+/);
    expect(value(text, 'nextmavens_auth_signin_failures_total')).toBeGreaterThan(0);
    expect(text).toMatch(/nextmavens_realtime_sockets \d+/);
    expect(text).toMatch(/nextmavens_realtime_queue_depth \d+/);
    expect(text).toMatch(/nextmavens_process_resident_memory_bytes \d+/);
    expect(text).toMatch(/nextmavens_nodejs_eventloop_lag_seconds \d/);
  });
});
