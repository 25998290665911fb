/**
 * The health dashboard: GET /dashboard (a self-contained page: its script, its stylesheet and
 * uPlot from node_modules, no CDN) and GET /dashboard/api/summary, the JSON it polls, for the
 * service_role key or an admin user's access token (`Authorization: Bearer`): a user whose
 * app_metadata has `ops_admin: true`, which only the service_role key can set. The page signs
 * the user in through /auth/v1/token (with the anon key, which it carries) and keeps the key or
 * token in the tab's sessionStorage only.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { httpTotals, registry } from '../../core/metrics.ts';
import type { JwtVerifier } from '../../core/jwt.ts';
import { presentedToken, tokenMatches } from '../access.ts';
import type { Monitor } from '../monitor.ts';
import { failedJobs, recentAlerts } from '../store.ts';
import type { AlertEngine } from '../alerts/engine.ts';

const require = createRequire(import.meta.url);
const here = (f: string) => new URL(f, import.meta.url);

const ASSETS: Record<string, { type: string; body: Buffer }> = {
  'dashboard.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(here('./dashboard.js')) },
  'dashboard.css': { type: 'text/css; charset=utf-8', body: readFileSync(here('./dashboard.css')) },
  'uplot.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')) },
  'uplot.css': { type: 'text/css; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')) },
};
const PAGE = readFileSync(here('./index.html'), 'utf8');

async function gaugeValue(name: string): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const { values } = await m.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

export interface DashboardDeps {
  monitor: Monitor;
  engine: AlertEngine;
  admin: pg.Pool;
  serviceRoleKey: string;
  /** Public: the page signs admin users in with it. */
  anonKey: string;
  verifier: JwtVerifier;
  windowMinutes: number;
}

/** Whether a request may read the dashboard: the service_role key, a service_role JWT, or an ops admin's token. */
export async function mayReadDashboard(d: Pick<DashboardDeps, 'serviceRoleKey' | 'verifier'>, headers: Parameters<typeof presentedToken>[0]): Promise<boolean> {
  const token = presentedToken(headers);
  if (!token) return false;
  if (tokenMatches(token, [d.serviceRoleKey])) return true;
  const claims = await d.verifier.verify(token).catch(() => undefined);
  if (!claims) return false;
  if (claims.role === 'service_role') return true;
  const meta = claims.app_metadata as Record<string, unknown> | undefined;
  return claims.role === 'authenticated' && claims.is_anonymous !== true && meta?.ops_admin === true;
}

/** What the page shows, from the monitor's last sample plus live request totals. */
export async function dashboardSummary(d: DashboardDeps) {
  const last = d.monitor.history.latest() ?? (await d.monitor.sample());
  const live = Object.values(httpTotals()).reduce((a, t) => ({ requests: a.requests + t.requests, errors: a.errors + t.errors }), { requests: 0, errors: 0 });
  const dbUp = last.health.database?.status === 'up';
  const [alerts, failed] = dbUp
    ? await Promise.all([recentAlerts(d.admin, 20), failedJobs(d.admin, { limit: 10 })]).catch(() => [[], []] as const)
    : [[], []];
  const down = d.engine.databaseDownSince();
  return {
    now: new Date().toISOString(),
    status: Object.values(last.health).every((c) => c.status === 'up') ? 'ok' : 'error',
    sampledAt: new Date(last.t).toISOString(),
    services: last.health,
    totals: live,
    window: { minutes: d.windowMinutes, ...d.monitor.history.window(d.windowMinutes) },
    series: d.monitor.history.series(),
    realtime: { sockets: await gaugeValue('nextmavens_realtime_sockets'), channels: await gaugeValue('nextmavens_realtime_channels') },
    database: last.db ?? null,
    databaseDownSince: down?.toISOString() ?? null,
    pools: last.pools,
    diskFreePercent: last.diskFreePercent ?? null,
    alerts: alerts.map((a) => ({ ...a, started_at: a.started_at.toISOString(), resolved_at: a.resolved_at?.toISOString() ?? null })),
    failedJobs: failed,
  };
}

export function dashboardRoutes(app: FastifyInstance, d: DashboardDeps): void {
  // A JWT is base64url and dots: nothing to escape in the attribute.
  const page = PAGE.replace('data-anon-key=""', `data-anon-key="${d.anonKey.replace(/[^A-Za-z0-9._-]/g, '')}"`);
  app.get('/dashboard', async (_req, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
      .send(page),
  );
  app.get<{ Params: { file: string } }>('/dashboard/assets/:file', async (req, reply) => {
    const asset = ASSETS[req.params.file];
    if (!asset) return reply.code(404).send({ code: 'not_found', message: 'No such dashboard asset' });
    return reply.header('content-type', asset.type).header('cache-control', 'public, max-age=3600').send(asset.body);
  });
  app.get('/dashboard/api/summary', async (req, reply) => {
    if (!(await mayReadDashboard(d, req.headers))) {
      return reply.code(401).send({ code: 'unauthorized', message: "The dashboard needs the service_role key or an admin user's access token (Authorization: Bearer …)" });
    }
    return reply.header('cache-control', 'no-store').send(await dashboardSummary(d));
  });
}
