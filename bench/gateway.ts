/**
 * npm run bench:gateway — what the edge's rate limiter adds to a request: a cheap route (an
 * in-process service answering a constant, behind the embedded gateway with its key check) at
 * concurrency 16 with the limiter off (the reference), on in memory, and on in Redis (REDIS_URL,
 * default the local 127.0.0.1:6379; skipped when unreachable), alternating ROUNDS times so that
 * drift hits all. Prints req/s, p50/p99 and this process's CPU time per request of each, and the
 * limiter alone: sequential consume() calls, mean µs per call. The limit is never reached (the
 * refusal path is not what is measured). BENCH_SECONDS sets each duration.
 */
import '../config/process-env.ts';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { SignJWT } from 'jose';
import { Redis } from 'ioredis';
import { deriveApiKey } from '../config/keys.ts';
import { createJwtVerifier } from '../core/jwt.ts';
import type { Service } from '../core/service.ts';
import { buildGatewayApp } from '../gateway/app.ts';
import { createEmbeddedGateway } from '../gateway/embedded.ts';
import { createRateLimits, type RateLimits } from '../gateway/rate-limit.ts';
import { ROUTE_GROUPS, SERVICE_NAMES, type RouteGroup, type ServiceName } from '../gateway/routes.ts';
import { CONNECTIONS, SECONDS, cannon, type Figures } from './harness.ts';

const ROUNDS = 3;
const SECRET = 'bench-gateway-secret-with-at-least-32-characters';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const log = pino({ level: 'silent' });

type Mode = 'off' | 'memory' | 'redis';
type Measured = Figures & { cpuUsPerRequest: number };

const constant: (name: ServiceName) => Service = (name) => ({
  name,
  handle: (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('[]'),
  health: async () => ({ status: 'up' }),
  close: async () => undefined,
});

async function limiter(mode: Mode): Promise<RateLimits> {
  const limits = Object.fromEntries(ROUTE_GROUPS.map((g) => [g, mode === 'off' ? 0 : 1_000_000])) as Record<RouteGroup, number>;
  return createRateLimits({ limits, redisUrl: mode === 'redis' ? REDIS_URL : undefined, keyPrefix: `bench:${randomUUID()}`, log });
}

async function measure(mode: Mode, headers: Record<string, string>): Promise<Measured> {
  const verifier = createJwtVerifier(SECRET);
  const services = Object.fromEntries(SERVICE_NAMES.map((n) => [n, constant(n)])) as Record<ServiceName, Service>;
  const gatewayApp = await buildGatewayApp({ verifier, healthChecks: {}, log, disableRequestLogging: true });
  const rateLimits = await limiter(mode);
  const server = createEmbeddedGateway({ services, gatewayApp, verifier, log, corsOrigins: ['*'], bodyLimits: { rest: 1 << 20, auth: 1 << 20, graphql: 1 << 20 }, rateLimits });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const cpu = process.cpuUsage();
    const f = await cannon({ title: mode, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/rest/v1/items`, headers });
    const used = process.cpuUsage(cpu);
    return { ...f, cpuUsPerRequest: (used.user + used.system) / f.requests };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await gatewayApp.close();
    await rateLimits.close();
  }
}

/** The limiter alone: mean µs of one consume(), sequential, over distinct tenants. */
async function consumeCost(mode: Exclude<Mode, 'off'>): Promise<number> {
  const limits = await limiter(mode);
  try {
    const n = mode === 'redis' ? 5000 : 50_000;
    for (let i = 0; i < 500; i++) await limits.consume('rest', `tenant:warm-${i % 50}`);
    const t = performance.now();
    for (let i = 0; i < n; i++) await limits.consume('rest', `tenant:t-${i % 200}`);
    return ((performance.now() - t) * 1000) / n;
  } finally {
    await limits.close();
  }
}

async function redisReachable(): Promise<boolean> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

const token = await new SignJWT({ role: 'authenticated', sub: 'bench-user', tenant_id: 'bench-tenant' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
const headers = { apikey: await deriveApiKey('anon', SECRET), authorization: `Bearer ${token}` };
const modes: Mode[] = (await redisReachable()) ? ['off', 'memory', 'redis'] : ['off', 'memory'];
if (!modes.includes('redis')) console.log(`(Redis at ${REDIS_URL} unreachable: the Redis limiter is not measured)`);

const runs: Record<Mode, Measured[]> = { off: [], memory: [], redis: [] };
for (let round = 0; round < ROUNDS; round++) for (const mode of modes) runs[mode].push(await measure(mode, headers));

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`GET /rest/v1/items through the embedded gateway (constant service), ${CONNECTIONS} connections, ${SECONDS} s × ${ROUNDS} rounds each`);
console.log('limiter   req/s     p50 ms  p99 ms  CPU µs/request  vs off');
const ref = mean(runs.off.map((r) => r.cpuUsPerRequest));
for (const mode of modes) {
  const r = runs[mode];
  const cpu = mean(r.map((x) => x.cpuUsPerRequest));
  console.log(
    `${mode.padEnd(8)}  ${mean(r.map((x) => x.rps)).toFixed(0).padStart(6)}  ${mean(r.map((x) => x.p50)).toFixed(2).padStart(7)}  ${mean(r.map((x) => x.p99)).toFixed(2).padStart(6)}  ${cpu.toFixed(1).padStart(14)}  ${mode === 'off' ? 'reference' : `${cpu - ref >= 0 ? '+' : ''}${(cpu - ref).toFixed(1)} µs`}`,
  );
}
console.log('consume() alone, sequential:');
for (const mode of modes.filter((m): m is Exclude<Mode, 'off'> => m !== 'off')) console.log(`  ${mode.padEnd(7)} ${(await consumeCost(mode)).toFixed(1)} µs per call`);
