/**
 * Operations, started by the composition root (cli/stack.ts) next to the gateway: the database
 * collectors of /metrics, the monitor (samples, history, alert rules), and the routes the gateway
 * app serves — GET /metrics, the dashboard, the deployment hooks. Compose's standalone services
 * get `metricsOnly` instead (their /metrics on METRICS_PORT).
 */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import { createServiceApp } from '../core/service-app.ts';
import { createAlertEngine, type AlertEngine } from './alerts/engine.ts';
import { collectDatabase } from './collectors.ts';
import { dashboardRoutes, dashboardSummary, type DashboardDeps } from './dashboard/routes.ts';
import { deployHooks } from './deploy-hooks.ts';
import { metricsRoute } from './metrics-route.ts';
import { startMonitor, type HealthProbe, type Monitor } from './monitor.ts';
import { createJwtVerifier } from '../core/jwt.ts';

export interface Ops {
  monitor: Monitor;
  engine: AlertEngine;
  /** Adds the operations routes to an app (the gateway's). */
  routes(app: FastifyInstance): void;
  /** What the health dashboard shows (its page in the admin dashboard reads it too). */
  summary(): Promise<unknown>;
  stop(): Promise<void>;
}

export function startOps(opts: { config: Config; admin: pg.Pool; pools: Record<string, pg.Pool>; health: HealthProbe; log: Logger }): Ops {
  const { config, admin, log } = opts;
  const uncollect = collectDatabase(admin, opts.pools);
  const monitor = startMonitor({ ...opts, engine: (history) => createAlertEngine({ config, pool: admin, log, history }) });
  const dashboard: DashboardDeps = {
    monitor,
    engine: monitor.engine,
    admin,
    serviceRoleKey: config.serviceRoleKey,
    anonKey: config.anonKey,
    verifier: createJwtVerifier(config.jwtSecret, config.jwks),
    windowMinutes: config.ops.alerts.windowMinutes,
  };
  return {
    monitor,
    engine: monitor.engine,
    summary: () => dashboardSummary(dashboard),
    routes(app) {
      if (config.ops.metricsEnabled) metricsRoute(app, { serviceRoleKey: config.serviceRoleKey, metricsToken: config.ops.metricsToken });
      dashboardRoutes(app, dashboard);
      deployHooks(app, { engine: monitor.engine, serviceRoleKey: config.serviceRoleKey, token: config.ops.deployHookToken });
    },
    async stop() {
      await monitor.stop();
      uncollect();
    },
  };
}

/** A standalone service's /metrics app (compose: on METRICS_PORT), with its pools' gauges. */
export async function metricsOnly(opts: { config: Config; admin: pg.Pool; pools: Record<string, pg.Pool>; log: Logger; name: string }): Promise<{ app: FastifyInstance; close(): Promise<void> }> {
  const uncollect = collectDatabase(opts.admin, opts.pools);
  const app = createServiceApp({ name: `${opts.name}-metrics`, log: opts.log, logRequests: false });
  metricsRoute(app, { serviceRoleKey: opts.config.serviceRoleKey, metricsToken: opts.config.ops.metricsToken });
  await app.ready();
  return {
    app,
    async close() {
      uncollect();
      await app.close();
    },
  };
}
