/**
 * The request log sink (gateway/request-log-sink.ts) over real Postgres: entries pushed are
 * written in batches to nextmavens.request_log, pruned to the row cap, and with Postgres away
 * pushes neither throw nor wait — the lost entries are counted.
 */
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { registry } from '../core/metrics.ts';
import { createRequestLogSink } from './request-log-sink.ts';
import type { RequestLogFields } from './request-log.ts';

const log = pino({ level: 'silent' });
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
}, 60_000);

afterAll(async () => {
  await db?.drop();
});

const entry = (i: number): RequestLogFields => ({ reqId: `r-${i}`, method: 'GET', url: `/rest/v1/t?n=${i}`, route: 'rest', service: 'rest', group: 'rest', status: 200, ms: 1.5, role: 'anon', ip: '127.0.0.1' });

const droppedMetric = async () => (await registry.getSingleMetric('nextmavens_request_log_dropped_total')!.get()).values[0]?.value ?? 0;

describe('request log sink', () => {
  it('writes pushed entries in batches and prunes to the row cap', async () => {
    const sink = createRequestLogSink({ pool: db.admin, log, retentionHours: 24, maxRows: 1000, batchSize: 100, pruneEveryMs: 0 });
    for (let i = 0; i < 1250; i++) sink.push(entry(i));
    expect(sink.stats().buffered).toBe(1250);
    await sink.flush();
    expect(sink.stats()).toEqual({ written: 1250, dropped: 0, buffered: 0 });
    const { rows } = await db.admin.query(`select count(*)::int as n, min(request_id) filter (where path = '/rest/v1/t?n=1249') as last from nextmavens.request_log`);
    // Pruned after the writes: the newest 1000 are left.
    expect(rows[0]).toEqual({ n: 1000, last: 'r-1249' });
    const oldest = await db.admin.query(`select request_id, method, status, duration_ms, role, service, route_group from nextmavens.request_log order by id limit 1`);
    expect(oldest.rows[0]).toEqual({ request_id: 'r-250', method: 'GET', status: 200, duration_ms: 1.5, role: 'anon', service: 'rest', route_group: 'rest' });
    await sink.close();
  });

  it('keeps every field as pushed, quotes, backslashes and non-ASCII text included; a lone surrogate becomes U+FFFD', async () => {
    const sink = createRequestLogSink({ pool: db.admin, log, retentionHours: 24, maxRows: 1000 });
    const odd = { ...entry(0), reqId: 'odd-1', url: '/rest/v1/t?q="a,b"\\x&é=漢', role: 'it\'s', tenant: '{"x":1}', user: 'u\n1', ms: 0.25, status: 503 };
    sink.push(odd);
    sink.push({ ...entry(0), reqId: 'odd-2', url: '/x\ud800y' });
    await sink.flush();
    expect(sink.stats().dropped).toBe(0);
    const { rows } = await db.admin.query(`select request_id, path, role, tenant_id, user_id, duration_ms, status, at > now() - interval '1 minute' as recent from nextmavens.request_log where request_id like 'odd-%' order by request_id`);
    expect(rows).toEqual([
      { request_id: 'odd-1', path: odd.url, role: odd.role, tenant_id: odd.tenant, user_id: odd.user, duration_ms: 0.25, status: 503, recent: true },
      { request_id: 'odd-2', path: '/x\ufffdy', role: 'anon', tenant_id: null, user_id: null, duration_ms: 1.5, status: 200, recent: true },
    ]);
    await sink.close();
  });

  it('drops and counts entries while Postgres is away, never throwing from push', async () => {
    // Nothing listens on this port: every write fails as with a stopped server.
    const away = new pg.Pool({ connectionString: 'postgresql://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 2000 });
    const droppedBefore = await droppedMetric();
    const sink = createRequestLogSink({ pool: away, log, retentionHours: 24, maxRows: 1000, batchSize: 10, maxBuffered: 20 });
    for (let i = 0; i < 25; i++) sink.push(entry(i));
    // The buffer is bounded: 5 are dropped at once.
    expect(sink.stats()).toMatchObject({ dropped: 5, buffered: 20 });
    await sink.flush();
    expect(sink.stats()).toEqual({ written: 0, dropped: 25, buffered: 0 });
    expect((await droppedMetric()) - droppedBefore).toBe(25);
    await sink.close();
    await away.end();
  });
});
