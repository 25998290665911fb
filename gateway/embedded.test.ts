/**
 * The embedded gateway's edge behaviour, with services that echo what they receive, so that
 * what the route table promises (stripping, identity headers, limits) can be observed.
 */
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import pino from 'pino';
import { body } from '../test/helpers/http.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveApiKey } from '../config/keys.ts';
import { buildGatewayApp } from './app.ts';
import { createEmbeddedGateway, stripPrefix } from './embedded.ts';
import { createJwtVerifier } from '../core/jwt.ts';
import { ROUTES, SERVICE_NAMES, type ServiceName } from './routes.ts';
import type { Service } from '../core/service.ts';
import { SignJWT } from 'jose';

const SECRET = 'embedded-gateway-test-secret-32-chars-min';
let server: http.Server;
let base: string;
let anon: string;

function echoService(name: ServiceName): Service {
  return {
    name,
    handle(req, res) {
      const payload = JSON.stringify({ service: name, url: req.url, headers: req.headers });
      res.writeHead(200, { "content-type": "application/json" }).end(payload);
    },
    health: async () => ({ status: 'up' }),
    close: async () => undefined,
  };
}

beforeAll(async () => {
  const log = pino({ level: 'silent' });
  const verifier = createJwtVerifier(SECRET);
  const services = Object.fromEntries(SERVICE_NAMES.map((n) => [n, echoService(n)])) as Record<ServiceName, Service>;
  const gatewayApp = await buildGatewayApp({ verifier, healthChecks: {}, log });
  server = createEmbeddedGateway({ services, gatewayApp, verifier, log, corsOrigins: ['https://app.example'], bodyLimits: { rest: 1024, auth: 1024, graphql: 1024 } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  anon = await deriveApiKey('anon', SECRET);
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const get = (path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers });

describe('embedded gateway', () => {
  it('routes every prefix of the route table to its service, stripping the prefix where the table says', async () => {
    for (const route of ROUTES) {
      const res = await get(`${route.prefix}/x?y=1`, { apikey: anon });
      expect(res.status, route.name).toBe(200);
      const report = await body(res);
      expect(report.service).toBe(route.service);
      expect(report.url).toBe(stripPrefix(`${route.prefix}/x?y=1`, route.stripPrefix));
    }
  });

  it('longest prefix wins: /graphql/v1 needs a key, /graphql does not; /storage/v1 is stripped, /storage is not', async () => {
    expect((await get('/graphql/v1')).status).toBe(401);
    expect((await get('/graphql')).status).toBe(200);
    expect((await body(await get('/storage/v1/object/b/f'))).url).toBe('/object/b/f');
    expect((await body(await get('/storage/upload'))).url).toBe('/storage/upload');
  });

  it('asserts the caller in X-User-* / X-Tenant-Id and drops copies sent by the client', async () => {
    const token = await new SignJWT({ role: 'authenticated', sub: 'user-1', tenant_id: 'tenant-1' })
      .setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    const spoof = { 'x-user-role': 'service_role', 'x-tenant-id': 'other', 'x-user-id': 'admin' };
    const asUser = await body(await get('/rest/v1/t', { apikey: anon, authorization: `Bearer ${token}`, ...spoof }));
    expect(asUser.headers).toMatchObject({ 'x-user-role': 'authenticated', 'x-user-id': 'user-1', 'x-tenant-id': 'tenant-1' });
    // Routes without an edge check pass no identity at all, and no spoofed one either.
    const open = await body(await get('/storage/v1/object/public/b/f', spoof));
    expect(open.headers['x-user-role']).toBeUndefined();
    expect(open.headers['x-tenant-id']).toBeUndefined();
  });

  it('open auth paths (browser navigations) need no key; the rest of /auth/v1 does', async () => {
    expect((await get('/auth/v1/verify?token=abc&type=signup')).status).toBe(200);
    expect((await get('/auth/v1/.well-known/jwks.json')).status).toBe(200);
    expect((await get('/auth/v1/user')).status).toBe(401);
  });

  it('answers CORS preflights before any key check, for allowed origins only', async () => {
    const pre = await fetch(`${base}/rest/v1/t`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-headers')).toContain('apikey');
    const res = await get('/rest/v1/t', { origin: 'https://app.example', apikey: anon });
    expect(res.headers.get('access-control-expose-headers')).toContain('content-range');
    const other = await get('/rest/v1/t', { origin: 'https://evil.example', apikey: anon });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('allows in preflights every header the Supabase SDK may send (its own published list)', async () => {
    const { corsHeaders } = await import('@supabase/supabase-js/cors');
    const sdkHeaders = corsHeaders['Access-Control-Allow-Headers'].split(',').map((h) => h.trim().toLowerCase());
    const pre = await fetch(`${base}/rest/v1/t`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': sdkHeaders.join(', ') },
    });
    const allowed = (pre.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    expect(sdkHeaders.filter((h) => !allowed.includes(h))).toEqual([]);
  });

  it('rejects oversize bodies on buffered routes with 413, never on streamed storage uploads', async () => {
    const big = 'x'.repeat(2048);
    const rest = await fetch(`${base}/rest/v1/t`, { method: 'POST', body: big, headers: { apikey: anon } });
    expect(rest.status).toBe(413);
    expect(await body(rest)).toEqual({ code: 'request_too_large', details: null, hint: null, message: 'Request body exceeds the limit of 1024 bytes' });
    const storage = await fetch(`${base}/storage/v1/object/b/f`, { method: 'POST', body: big });
    expect(storage.status).toBe(200);
  });

  it('gives every response a request id, keeping the caller\'s', async () => {
    const res = await get('/rest/v1/t', { apikey: anon, 'x-request-id': 'abc-123' });
    expect(res.headers.get('x-request-id')).toBe('abc-123');
    expect((await get('/nowhere')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers unknown paths with a JSON 404, and /verify like Traefik ForwardAuth expects', async () => {
    const res = await get('/nowhere');
    expect(res.status).toBe(404);
    expect(await body(res)).toMatchObject({ code: 'not_found' });
    const ok = await get('/verify', { 'x-forwarded-uri': `/realtime/v1/websocket?apikey=${anon}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-user-role')).toBe('anon');
    expect(ok.headers.get('x-tenant-id')).toBe('anon');
    const denied = await get('/verify', { 'x-forwarded-uri': '/rest/v1/t' });
    expect(denied.status).toBe(401);
    expect(await body(denied)).toMatchObject({ code: 'no_api_key' });
  });

  it('answers a bad user token on REST routes as PostgREST does (PGRST301/303), elsewhere as the gateway', async () => {
    const expired = await new SignJWT({ role: 'authenticated', sub: 'u' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(1000).setExpirationTime(2000).sign(new TextEncoder().encode(SECRET));
    for (const res of [await get('/rest/v1/t', { apikey: anon, authorization: `Bearer ${expired}` }), await get('/verify', { 'x-forwarded-uri': '/rest/v1/t', apikey: anon, authorization: `Bearer ${expired}` })]) {
      expect(res.status).toBe(401);
      expect(await body(res)).toEqual({ code: 'PGRST303', details: null, hint: null, message: 'JWT expired' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token", error_description="JWT expired"');
    }
    const twoParts = await get('/rest/v1/t', { apikey: anon, authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9' });
    expect(await body(twoParts)).toMatchObject({ code: 'PGRST301', message: 'Expected 3 parts in JWT; got 2' });
    const graphql = await get('/graphql/v1', { apikey: anon, authorization: `Bearer ${expired}` });
    expect(graphql.status).toBe(401);
    expect(await body(graphql)).toMatchObject({ code: 'jwt_expired' });
    const badKey = await get('/rest/v1/t', { apikey: 'not-a-jwt' });
    expect(await body(badKey)).toMatchObject({ code: 'invalid_api_key' });
  });
});
