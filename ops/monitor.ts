/**
 * The monitor: every ALERT_INTERVAL seconds one sample (health of the database and every service,
 * request totals, database statistics, pools, free disk) into the last hour's history, then one
 * evaluation of the alert rules over it.
 */
import { statfs } from 'node:fs/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { httpTotals } from '../core/metrics.ts';
import type { Config } from '../config/load.ts';
import type { AlertEngine } from './alerts/engine.ts';
import { poolStats, statsWithin } from './collectors.ts';
import { History, type ComponentSample, type Sample } from './history.ts';

/** The health report of the stack (gateway/health.ts's checkHealth, passed in by the composition root). */
export type HealthProbe = () => Promise<{ services: Record<string, ComponentSample> }>;

export interface Monitor {
  history: History;
  /** Takes a sample now (also what the timer does). */
  sample(): Promise<Sample>;
  stop(): Promise<void>;
}

async function diskFreePercent(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.blocks > 0 ? (100 * s.bavail) / s.blocks : undefined;
  } catch {
    return undefined;
  }
}

export function startMonitor(deps: { config: Config; admin: pg.Pool; pools: Record<string, pg.Pool>; health: HealthProbe; engine: (h: History) => AlertEngine; log: Logger }): Monitor & { engine: AlertEngine } {
  const history = new History();
  const engine = deps.engine(history);
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;

  async function sample(): Promise<Sample> {
    const health = (await deps.health()).services;
    const s: Sample = {
      t: Date.now(),
      http: httpTotals(),
      health,
      db: health.database?.status === 'up' ? await statsWithin(deps.admin, 2000) : undefined,
      pools: Object.fromEntries(Object.entries(deps.pools).map(([name, p]) => [name, poolStats(p)])),
      diskFreePercent: await diskFreePercent(deps.config.dataDir),
    };
    history.push(s);
    return s;
  }

  async function tick(): Promise<void> {
    const s = await sample();
    if (!stopped) await engine.tick(s);
  }

  // The first sample one interval after start (the dashboard takes one on demand before that).
  const timer = setInterval(() => {
    // One tick at a time: a slow one (the database timing out) is not overlapped by the next.
    running = running.then(tick).catch((err: Error) => deps.log.warn({ err: err.message }, 'ops: monitor tick failed'));
  }, deps.config.ops.alerts.intervalSeconds * 1000);

  return {
    history,
    engine,
    sample,
    async stop() {
      stopped = true;
      clearInterval(timer);
      engine.stop();
      await running;
    },
  };
}
