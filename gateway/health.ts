/**
 * GET /health: the database and every service, each with its status and response time.
 * 200 when all are up, 503 when any is down. A check that does not answer in time is down.
 */
import type { ComponentHealth } from '../core/service.ts';

export interface HealthReport {
  status: 'ok' | 'error';
  timestamp: string;
  version: string;
  services: Record<string, ComponentHealth & { response_time_ms: number }>;
}

export type HealthCheck = () => Promise<ComponentHealth>;

export const HEALTH_TIMEOUT_MS = 2000;

async function timed(check: HealthCheck): Promise<ComponentHealth & { response_time_ms: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ComponentHealth>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'down', error: `no answer within ${HEALTH_TIMEOUT_MS} ms` }), HEALTH_TIMEOUT_MS);
  });
  const result = await Promise.race([
    check().catch((err: Error): ComponentHealth => ({ status: 'down', error: err.message })),
    timeout,
  ]);
  clearTimeout(timer);
  return { ...result, response_time_ms: Math.round((performance.now() - started) * 100) / 100 };
}

export async function checkHealth(checks: Record<string, HealthCheck>, version: string): Promise<HealthReport> {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((n) => timed(checks[n])));
  const services = Object.fromEntries(names.map((n, i) => [n, results[i]]));
  return {
    status: results.every((r) => r.status === 'up') ? 'ok' : 'error',
    timestamp: new Date().toISOString(),
    version,
    services,
  };
}

/** Health over HTTP, for services running in other processes (compose). */
export function httpHealthCheck(url: string): HealthCheck {
  return async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    await res.body?.cancel();
    return res.ok ? { status: 'up' } : { status: 'down', error: `HTTP ${res.status}` };
  };
}
