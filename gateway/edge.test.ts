/**
 * The edge's promises in the embedded gateway (and /verify, what Traefik's ForwardAuth asks): rate
 * limits per route group and per tenant, shared across instances through Redis; the allowlist of
 * sensitive requests behind TRUST_PROXY; body limits before the body is read; one log line per
 * request without secrets. Services here record what reaches them, so that what the edge keeps
 * away can be observed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveApiKey } from '../config/keys.ts';
import { createJwtVerifier } from '../core/jwt.ts';
import type { Service } from '../core/service.ts';
import { buildGatewayApp } from './app.ts';
import { createEdgeGuard } from './edge.ts';
import { createEmbeddedGateway } from './embedded.ts';
import { createRateLimits, type RateLimits } from './rate-limit.ts';
import { redactUrl } from './request-log.ts';
import { ROUTE_GROUPS, SERVICE_NAMES, type RouteGroup, type ServiceName } from './routes.ts';

const SECRET = 'edge-policy-test-secret-at-least-32-characters';
const key = new TextEncoder().encode(SECRET);
const REDIS_URL = 'redis://127.0.0.1:6379';

interface Seen {
  requests: number;
  bodyBytes: number;
  ended: boolean;
}

/** A service answering 200 with what it received; for POSTs it reads the body first. */
function recordingService(name: ServiceName, seen: Seen): Service {
  return {
    name,
    handle(req, res) {
      seen.requests++;
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ service: name, url: req.url, bytes: seen.bodyBytes }));
      if (req.method !== 'POST') return answer();
      req.on('data', (chunk: Buffer) => (seen.bodyBytes += chunk.length));
      req.on('end', () => {
        seen.ended = true;
        answer();
      });
    },
    upgrade(_req, socket) {
      seen.requests++;
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    },
    health: async () => ({ status: 'up' }),
    close: async () => undefined,
  };
}

interface Gateway {
  base: string;
  port: number;
  seen: Record<ServiceName, Seen>;
  close(): Promise<void>;
}

async function startGateway(opts: {
  limits?: Partial<Record<RouteGroup, number>>;
  redisUrl?: string;
  keyPrefix?: string;
  trustProxy?: boolean | string[];
  allowlist?: string[];
  log?: Logger;
  bodyLimit?: number;
}): Promise<Gateway> {
  const log = opts.log ?? pino({ level: 'silent' });
  const verifier = createJwtVerifier(SECRET);
  const seen = Object.fromEntries(SERVICE_NAMES.map((n) => [n, { requests: 0, bodyBytes: 0, ended: false }])) as Record<ServiceName, Seen>;
  const services = Object.fromEntries(SERVICE_NAMES.map((n) => [n, recordingService(n, seen[n])])) as Record<ServiceName, Service>;
  const guard = createEdgeGuard({ trustProxy: opts.trustProxy ?? false, adminIpAllowlist: opts.allowlist ?? [] });
  const gatewayApp = await buildGatewayApp({
    verifier,
    healthChecks: {},
    log,
    disableRequestLogging: true,
    guard,
    extend: (app) => {
      app.get('/metrics', async () => 'metrics');
      app.get('/dashboard', async () => 'dashboard');
      app.get('/admin/api/setup', async () => 'admin');
    },
  });
  const limits = Object.fromEntries(ROUTE_GROUPS.map((g) => [g, opts.limits?.[g] ?? 0])) as Record<RouteGroup, number>;
  const rateLimits: RateLimits = await createRateLimits({ limits, redisUrl: opts.redisUrl, keyPrefix: opts.keyPrefix ?? `test:${randomUUID()}`, log });
  const limit = opts.bodyLimit ?? 1024;
  const server = createEmbeddedGateway({ services, gatewayApp, verifier, log, corsOrigins: ['*'], bodyLimits: { rest: limit, auth: limit, graphql: limit }, rateLimits, guard });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await gatewayApp.close();
      await rateLimits.close();
    },
  };
}

const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(key);

let anon: string;
let serviceRole: string;
let tenantA: string;
let tenantB: string;
beforeAll(async () => {
  anon = await deriveApiKey('anon', SECRET);
  serviceRole = await deriveApiKey('service_role', SECRET);
  tenantA = await sign({ role: 'authenticated', sub: 'user-a', tenant_id: 'tenant-a' });
  tenantB = await sign({ role: 'authenticated', sub: 'user-b', tenant_id: 'tenant-b' });
});

const as = (token: string, extra: Record<string, string> = {}) => ({ apikey: anon, authorization: `Bearer ${token}`, ...extra });

/** The path of each group that its service answers behind a key check (storage: its own). */
const GROUP_PATHS: Record<RouteGroup, string> = {
  rest: '/rest/v1/items',
  auth: '/auth/v1/user',
  storage: '/storage/v1/object/b/f.txt',
  graphql: '/graphql/v1',
  realtime: '/realtime/v1/api/broadcast',
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(url: string, headers: Record<string, string>): Promise<{ status: number; ms: number }> {
  const t = performance.now();
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t };
}

describe('rate limits per tenant and route group', () => {
  let gw: Gateway;
  const LIMIT = 20;
  beforeAll(async () => {
    gw = await startGateway({ limits: { rest: LIMIT, auth: LIMIT, storage: LIMIT, graphql: LIMIT, realtime: LIMIT } });
  });
  afterAll(() => gw.close());

  it('answers tenant A over its limit with 429, Retry-After and RateLimit-*, in each service\'s error shape; tenant B is untouched', async () => {
    const shapes: Record<RouteGroup, (b: unknown) => void> = {
      rest: (b) => expect(b).toEqual({ code: 'over_request_rate_limit', details: null, hint: null, message: expect.stringMatching(/limit is 20 per minute/) }),
      auth: (b) => expect(b).toEqual({ code: 429, error_code: 'over_request_rate_limit', msg: expect.stringMatching(/Too many requests/) }),
      storage: (b) => expect(b).toEqual({ statusCode: '429', code: 'TooManyRequests', error: 'too_many_requests', message: expect.any(String) }),
      graphql: (b) => expect(b).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'RATE_LIMITED' } }] }),
      realtime: (b) => expect(b).toMatchObject({ code: 'over_request_rate_limit' }),
    };
    for (const group of ROUTE_GROUPS) {
      const url = gw.base + GROUP_PATHS[group];
      const statuses: number[] = [];
      let refused: Response | undefined;
      for (let i = 0; i < LIMIT + 5; i++) {
        const res = await fetch(url, { headers: as(tenantA) });
        statuses.push(res.status);
        if (i === 0) {
          expect(res.headers.get('ratelimit-limit'), group).toBe(String(LIMIT));
          expect(res.headers.get('ratelimit-remaining'), group).toBe(String(LIMIT - 1));
        }
        if (res.status === 429) refused ??= res;
        else await res.arrayBuffer();
      }
      expect(statuses.filter((s) => s === 200).length, group).toBe(LIMIT);
      expect(statuses.slice(LIMIT).every((s) => s === 429), group).toBe(true);
      expect(Number(refused!.headers.get('retry-after')), group).toBeGreaterThan(0);
      expect(Number(refused!.headers.get('retry-after')), group).toBeLessThanOrEqual(60);
      expect(refused!.headers.get('ratelimit-remaining'), group).toBe('0');
      expect(refused!.headers.get('ratelimit-reset'), group).toBe(refused!.headers.get('retry-after'));
      shapes[group](await refused!.json());
      // Tenant B, same groups, same moment: every request goes through.
      for (let i = 0; i < 5; i++) expect((await fetch(url, { headers: as(tenantB) })).status, group).toBe(200);
    }
    // Browser apps may read them (CORS).
    const cors = await fetch(gw.base + GROUP_PATHS.rest, { headers: as(tenantB, { origin: 'https://app.example' }) });
    for (const h of ['retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']) expect(cors.headers.get('access-control-expose-headers')).toContain(h);
    // The auth shape follows the client's API version, as GoTrue's.
    const modern = await fetch(gw.base + GROUP_PATHS.auth, { headers: as(tenantA, { 'x-supabase-api-version': '2024-01-01' }) });
    expect(modern.status).toBe(429);
    expect(await modern.json()).toEqual({ code: 'over_request_rate_limit', message: expect.any(String) });
  });

  it('refuses realtime WebSocket upgrades over the limit with 429', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${gw.base}/realtime/v1/websocket?vsn=1.0.0`, { headers: { ...as(tenantA), connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
      req.on('response', (res) => resolve(res.statusCode ?? 0));
      req.on('upgrade', () => resolve(101));
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(429);
  });

  it('counts per user without a tenant, and per client address for anon callers', async () => {
    const g = await startGateway({ limits: { rest: 3 } });
    try {
      const noTenant = await sign({ role: 'authenticated', sub: 'lonely-user' });
      const other = await sign({ role: 'authenticated', sub: 'other-user' });
      const run = async (headers: Record<string, string>) => {
        const out: number[] = [];
        for (let i = 0; i < 4; i++) out.push((await fetch(g.base + '/rest/v1/t', { headers })).status);
        return out;
      };
      expect(await run(as(noTenant))).toEqual([200, 200, 200, 429]);
      expect(await run(as(other))).toEqual([200, 200, 200, 429]);
      expect(await run({ apikey: anon })).toEqual([200, 200, 200, 429]);
      expect(await run({ apikey: anon, 'x-forwarded-for': '198.51.100.7' })).toEqual([429, 429, 429, 429]); // untrusted: still 127.0.0.1
    } finally {
      await g.close();
    }
  });

  it('tenant A\'s concurrent flood does not materially slow tenant B', async () => {
    const g = await startGateway({ limits: { rest: 100 } });
    try {
      const url = g.base + '/rest/v1/items';
      const baseline: number[] = [];
      for (let i = 0; i < 30; i++) baseline.push((await timed(url, as(tenantB))).ms);
      let flooding = true;
      const flood = (async () => {
        let refused = 0;
        while (flooding) {
          const batch = await Promise.all(Array.from({ length: 8 }, () => timed(url, as(tenantA))));
          refused += batch.filter((r) => r.status === 429).length;
        }
        return refused;
      })();
      const during: number[] = [];
      for (let i = 0; i < 30; i++) {
        const r = await timed(url, as(tenantB));
        expect(r.status).toBe(200);
        during.push(r.ms);
      }
      flooding = false;
      expect(await flood).toBeGreaterThan(0);
      // Loose on purpose (a loaded machine): B shares the CPU with A's flood, not a queue or a lock.
      expect(median(during)).toBeLessThan(median(baseline) * 10 + 25);
    } finally {
      await g.close();
    }
  });

  it('0 turns a group\'s limit off (no RateLimit headers, no refusals)', async () => {
    const g = await startGateway({ limits: { rest: 0 } });
    try {
      for (let i = 0; i < 5; i++) {
        const res = await fetch(g.base + '/rest/v1/t', { headers: as(tenantA) });
        expect(res.status).toBe(200);
        expect(res.headers.get('ratelimit-limit')).toBeNull();
      }
    } finally {
      await g.close();
    }
  });
});

describe('rate limits shared through Redis', () => {
  it('counts tenant A\'s requests split over two gateway instances together', async () => {
    const keyPrefix = `test:${randomUUID()}`;
    const [one, two] = await Promise.all([startGateway({ limits: { rest: 10 }, redisUrl: REDIS_URL, keyPrefix }), startGateway({ limits: { rest: 10 }, redisUrl: REDIS_URL, keyPrefix })]);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++) statuses.push((await fetch(`${(i % 2 ? one : two).base}/rest/v1/t`, { headers: as(tenantA) })).status);
      expect(statuses.filter((s) => s === 200).length).toBe(10);
      expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
      expect(one.seen.rest.requests + two.seen.rest.requests).toBe(10);
      // Tenant B on either instance: its own count.
      expect((await fetch(`${one.base}/rest/v1/t`, { headers: as(tenantB) })).status).toBe(200);
      expect((await fetch(`${two.base}/rest/v1/t`, { headers: as(tenantB) })).headers.get('ratelimit-remaining')).toBe('8');
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('keeps answering, counting in memory, while Redis is unreachable', async () => {
    const g = await startGateway({ limits: { rest: 3 }, redisUrl: 'redis://127.0.0.1:1', keyPrefix: `test:${randomUUID()}` });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await fetch(g.base + '/rest/v1/t', { headers: as(tenantA) })).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await g.close();
    }
  });
});

describe('ADMIN_IP_ALLOWLIST', () => {
  let trusted: Gateway;
  let untrusted: Gateway;
  beforeAll(async () => {
    // The test client is 127.0.0.1: a trusted proxy for one gateway, an unknown peer for the other.
    trusted = await startGateway({ trustProxy: ['127.0.0.1/8'], allowlist: ['10.1.0.0/16', '2001:db8::/32'] });
    untrusted = await startGateway({ trustProxy: ['10.9.9.9'], allowlist: ['10.1.0.0/16'] });
  });
  afterAll(() => Promise.all([trusted.close(), untrusted.close()]));

  const from = (address: string, headers: Record<string, string> = {}) => ({ ...headers, 'x-forwarded-for': address });

  it('refuses service_role requests (any API) and the auth admin API from an address not listed, each in its service\'s shape', async () => {
    const cases: [string, Record<string, string>, (b: unknown) => void][] = [
      ['/rest/v1/items', { apikey: serviceRole }, (b) => expect(b).toEqual({ code: 'address_not_allowed', details: null, hint: null, message: expect.any(String) })],
      ['/storage/v1/bucket', { apikey: serviceRole, authorization: `Bearer ${serviceRole}` }, (b) => expect(b).toEqual({ statusCode: '403', code: 'AccessDenied', error: 'Unauthorized', message: expect.any(String) })],
      ['/graphql/v1', { apikey: serviceRole }, (b) => expect(b).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'FORBIDDEN' } }] })],
      ['/auth/v1/admin/users', { apikey: serviceRole }, (b) => expect(b).toEqual({ code: 403, error_code: 'address_not_allowed', msg: expect.any(String) })],
      // The admin API from the wrong address even with a user token (GoTrue would answer 403 anyway).
      ['/auth/v1/admin/users', as(tenantA), (b) => expect(b).toMatchObject({ error_code: 'address_not_allowed' })],
      ['/dashboard', {}, (b) => expect(b).toMatchObject({ code: 'address_not_allowed' })],
      ['/admin/api/setup', {}, (b) => expect(b).toMatchObject({ code: 'address_not_allowed' })],
      ['/metrics', {}, (b) => expect(b).toMatchObject({ code: 'address_not_allowed' })],
    ];
    for (const [path, headers, shape] of cases) {
      const refused = await fetch(trusted.base + path, { headers: from('192.0.2.50', headers) });
      expect(refused.status, path).toBe(403);
      shape(await refused.json());
      const allowed = await fetch(trusted.base + path, { headers: from('10.1.2.3', headers) });
      expect(allowed.status, path).toBe(200);
      await allowed.arrayBuffer();
    }
    // The admin API however its path is spelled.
    for (const path of ['/auth/v1/%61dmin/users', '/auth/v1//admin/users']) {
      expect((await fetch(trusted.base + path, { headers: from('192.0.2.50', as(tenantA)) })).status, path).toBe(403);
    }
    // IPv6 and a chain of proxies: the address the trusted proxies name.
    expect((await fetch(trusted.base + '/rest/v1/items', { headers: from('2001:db8::7', { apikey: serviceRole }) })).status).toBe(200);
    expect((await fetch(trusted.base + '/rest/v1/items', { headers: from('10.1.2.3, 192.0.2.50', { apikey: serviceRole }) })).status).toBe(403);
    // Nobody sensitive: ordinary callers pass from anywhere.
    expect((await fetch(trusted.base + '/rest/v1/items', { headers: from('192.0.2.50', as(tenantA)) })).status).toBe(200);
    expect((await fetch(trusted.base + '/auth/v1/user', { headers: from('192.0.2.50', as(tenantA)) })).status).toBe(200);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const res = await fetch(untrusted.base + '/rest/v1/items', { headers: from('10.1.2.3', { apikey: serviceRole }) });
    expect(res.status).toBe(403);
    expect((await fetch(untrusted.base + '/dashboard', { headers: from('10.1.2.3') })).status).toBe(403);
    expect((await fetch(untrusted.base + '/rest/v1/items', { headers: from('10.1.2.3', { apikey: anon }) })).status).toBe(200);
  });

  it('/verify and /verify/identify (Traefik ForwardAuth) refuse the same, from X-Forwarded-For', async () => {
    const verify = (path: string, uri: string, address: string, headers: Record<string, string>) =>
      fetch(trusted.base + path, { headers: { ...from(address, headers), 'x-forwarded-uri': uri, 'x-forwarded-method': 'GET' } });
    const rest = await verify('/verify', '/rest/v1/items', '192.0.2.50', { apikey: serviceRole });
    expect(rest.status).toBe(403);
    expect(await rest.json()).toMatchObject({ code: 'address_not_allowed', details: null });
    const admin = await verify('/verify', '/auth/v1/admin/users', '192.0.2.50', { apikey: anon });
    expect(admin.status).toBe(403);
    expect(await admin.json()).toMatchObject({ error_code: 'address_not_allowed' });
    const storage = await verify('/verify/identify', '/storage/v1/bucket', '192.0.2.50', { authorization: `Bearer ${serviceRole}` });
    expect(storage.status).toBe(403);
    expect(await storage.json()).toMatchObject({ statusCode: '403', code: 'AccessDenied' });
    const ok = await verify('/verify', '/rest/v1/items', '10.1.2.3', { apikey: serviceRole });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-user-role')).toBe('service_role');
    expect(ok.headers.get('x-rate-limit-key')).toBe('ip:10.1.2.3');
    const user = await verify('/verify', '/rest/v1/items', '192.0.2.50', as(tenantA));
    expect(user.headers.get('x-rate-limit-key')).toBe('tenant:tenant-a');
    // identify never refuses a missing or bad key (the service decides), and asserts no identity.
    const open = await verify('/verify/identify', '/storage/v1/object/public/b/f', '192.0.2.50', {});
    expect(open.status).toBe(200);
    expect(open.headers.get('x-user-role')).toBeNull();
    expect(open.headers.get('x-rate-limit-key')).toBe('ip:192.0.2.50');
    const untrustedVerify = await fetch(untrusted.base + '/verify', { headers: { apikey: serviceRole, 'x-forwarded-uri': '/rest/v1/items', 'x-forwarded-for': '10.1.2.3' } });
    expect(untrustedVerify.status).toBe(403);
  });
});

describe('body limits before the body is read', () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({ bodyLimit: 1024 });
  });
  afterAll(() => gw.close());

  /** A raw request: the headers, then `chunks` one by one; resolves with the status (0: connection cut without one). */
  function rawPost(path: string, headers: Record<string, string | number>, chunks: Buffer[], opts: { holdBody?: boolean } = {}): Promise<{ status: number; body: string }> {
    return new Promise((resolve) => {
      const req = http.request(`${gw.base}${path}`, { method: 'POST', headers: { apikey: anon, ...headers } });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', () => resolve({ status: 0, body: '' }));
      req.flushHeaders();
      if (opts.holdBody) return; // the answer must come without a byte of the body
      let i = 0;
      const next = () => {
        if (i === chunks.length) return void req.end();
        req.write(chunks[i++], () => setTimeout(next, 5));
      };
      next();
    });
  }

  it('answers a Content-Length over the limit with 413 in the service\'s shape before any of the body is sent', async () => {
    const rest = await rawPost('/rest/v1/items', { 'content-length': 100_000, 'content-type': 'application/json' }, [], { holdBody: true });
    expect(rest.status).toBe(413);
    expect(JSON.parse(rest.body)).toEqual({ code: 'request_too_large', details: null, hint: null, message: 'Request body exceeds the limit of 1024 bytes' });
    const graphql = await rawPost('/graphql/v1', { 'content-length': 5000 }, [], { holdBody: true });
    expect(graphql.status).toBe(413);
    expect(JSON.parse(graphql.body)).toMatchObject({ errors: [{ extensions: { code: 'REQUEST_TOO_LARGE' } }] });
    const auth = await rawPost('/auth/v1/signup', { 'content-length': 5000 }, [], { holdBody: true });
    expect(auth.status).toBe(413);
    expect(JSON.parse(auth.body)).toMatchObject({ code: 413, error_code: 'request_too_large' });
    expect(gw.seen.rest.requests + gw.seen.graphql.requests + gw.seen.auth.requests).toBe(0);
  });

  it('cuts a chunked body at the limit: the service never gets the rest nor its end, the client gets 413', async () => {
    const before = { ...gw.seen.rest };
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(300, 'x'));
    const res = await rawPost('/rest/v1/items', { 'transfer-encoding': 'chunked' }, chunks);
    expect([413, 0]).toContain(res.status);
    if (res.status === 413) expect(JSON.parse(res.body)).toMatchObject({ code: 'request_too_large' });
    expect(gw.seen.rest.bodyBytes - before.bodyBytes).toBeLessThanOrEqual(1024);
    expect(gw.seen.rest.ended).toBe(false);
    // Under the limit, chunked bodies arrive whole.
    const small = await rawPost('/rest/v1/items', { 'transfer-encoding': 'chunked' }, [Buffer.alloc(300, 'y'), Buffer.alloc(300, 'y')]);
    expect(small.status).toBe(200);
    expect(gw.seen.rest.ended).toBe(true);
  });

  it('leaves streamed uploads (storage) to the service\'s own per-bucket limits', async () => {
    const res = await fetch(gw.base + '/storage/v1/object/b/big.bin', { method: 'POST', body: Buffer.alloc(4096) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { bytes: number }).bytes).toBeGreaterThanOrEqual(4096);
  });
});

describe('request logs', () => {
  it('redacts the values of secret query parameters however they are spelled, and nothing else', () => {
    expect(redactUrl('/auth/v1/verify?type=recovery&token_hash=abc&redirect_to=https%3A%2F%2Fapp')).toBe('/auth/v1/verify?type=recovery&token_hash=[redacted]&redirect_to=https%3A%2F%2Fapp');
    expect(redactUrl('/x?APIKEY=k&%61ccess_token=t&refresh_token=r&code=c&select=id')).toBe('/x?APIKEY=[redacted]&%61ccess_token=[redacted]&refresh_token=[redacted]&code=[redacted]&select=id');
    expect(redactUrl('/rest/v1/t?select=id,code&code=eq.1')).toBe('/rest/v1/t?select=id,code&code=[redacted]');
    expect(redactUrl('/plain/path')).toBe('/plain/path');
  });

  it('one line per request with tenant, user, route, group, method, status and ms, and no secret of the URL', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const g = await startGateway({ log: pino({ level: 'info' }, sink) });
    try {
      const secretish = 'sEcReT-one-time-code-123456';
      await (await fetch(`${g.base}/rest/v1/items?select=id&apikey=${anon}`, { headers: { authorization: `Bearer ${tenantA}` } })).arrayBuffer();
      await (await fetch(`${g.base}/auth/v1/verify?token=${secretish}&type=signup&redirect_to=x`)).arrayBuffer();
      await (await fetch(`${g.base}/auth/v1/callback?code=${secretish}&state=${secretish}`)).arrayBuffer();
      await (await fetch(`${g.base}/storage/v1/object/sign/b/f?token=${secretish}`)).arrayBuffer();
      await (await fetch(`${g.base}/rest/v1/items`)).arrayBuffer(); // 401: no key
      await new Promise((r) => setTimeout(r, 50));
      const requests = lines.filter((l) => l.msg === 'request');
      expect(requests).toHaveLength(5);
      expect(requests[0]).toMatchObject({ method: 'GET', route: 'rest', group: 'rest', status: 200, tenant: 'tenant-a', user: 'user-a', role: 'authenticated', url: '/rest/v1/items?select=id&apikey=[redacted]' });
      expect(typeof requests[0].ms).toBe('number');
      expect(requests[1]).toMatchObject({ route: 'auth-open-verify', group: 'auth', url: '/auth/v1/verify?token=[redacted]&type=signup&redirect_to=x' });
      expect(requests[4]).toMatchObject({ route: 'rest', status: 401 });
      const text = JSON.stringify(lines);
      for (const secret of [anon, tenantA, secretish]) expect(text).not.toContain(secret);
    } finally {
      await g.close();
    }
  });
});
