/**
 * The alert rules over the monitor's samples (ops/history.ts), with thresholds from ALERT_*:
 * which conditions hold now, and which rules could be judged at all (a rule that could not be
 * judged — the database unreadable — resolves nothing). The database being unreachable is not
 * here: it cannot be recorded while it lasts (ops/alerts/engine.ts handles it in memory).
 */
import type { OpsConfig } from '../../config/load.ts';
import type { History } from '../history.ts';
import type { NewAlert } from '../store.ts';

/** Fewer requests than this in the window judge neither error rate nor latency. */
export const MIN_WINDOW_REQUESTS = 20;

export interface Evaluation {
  conditions: NewAlert[];
  /** Whether an open condition that no longer holds may be resolved (the rule could judge that key now). */
  judged(rule: string, key: string): boolean;
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

/** The thresholds of the rules (ALERT_*; the channels are not theirs). */
export type RuleThresholds = Omit<OpsConfig['alerts'], 'webhook' | 'slackUrl' | 'discordUrl'>;

export function evaluateRules(cfg: RuleThresholds, history: History): Evaluation {
  const conditions: NewAlert[] = [];
  const judgedRules = new Set<string>();
  /** rule\0key pairs the rule could not judge this time: their open conditions stay open. */
  const undecided = new Set<string>();
  const last = history.latest();
  const evaluation = { conditions, judged: (rule: string, key: string) => judgedRules.has(rule) && !undecided.has(`${rule}\0${key}`) };
  if (!last) return evaluation;

  // A service failing its health check in two samples in a row while the database answered both
  // (a process or container gone; the database's own outage is database_down, and services are
  // down with it until it returns).
  const previous = history.samples.at(-2);
  if (last.health.database?.status === 'up') {
    judgedRules.add('service_down');
    for (const [name, c] of Object.entries(last.health)) {
      if (name === 'database' || c.status === 'up') continue;
      if (previous?.health.database?.status !== 'up') undecided.add(`service_down\0${name}`);
      if (previous?.health[name]?.status !== 'down' || previous.health.database?.status !== 'up') continue;
      conditions.push({ rule: 'service_down', key: name, severity: 'critical', summary: `${name} is down: ${c.error ?? 'its health check fails'}`, details: { service: name } });
    }
  }

  // Error rate and p99 latency, per service, over the window. With fewer than MIN_WINDOW_REQUESTS
  // requests nothing fires, and what fired resolves only once its errors (slow requests) have
  // left the window: a quiet minute is not a recovery.
  // A window that saw the database away is not judged: its 503s are the outage's, which
  // database_down reports.
  if (cfg.errorRatePercent > 0) judgedRules.add('error_rate');
  if (cfg.p99Ms > 0) judgedRules.add('latency_p99');
  const outage = history.samples.some((s) => last.t - s.t <= cfg.windowMinutes * 60_000 && s.health.database?.status !== 'up');
  for (const service of Object.keys(last.http)) {
    const w = history.window(cfg.windowMinutes, service);
    if (!w) continue;
    if (outage) {
      undecided.add(`error_rate\0${service}`).add(`latency_p99\0${service}`);
      continue;
    }
    if (w.requests < MIN_WINDOW_REQUESTS) {
      if (w.errors > 0) undecided.add(`error_rate\0${service}`);
      if (w.requests > 0) undecided.add(`latency_p99\0${service}`);
      continue;
    }
    const percent = (100 * w.errors) / w.requests;
    if (cfg.errorRatePercent > 0 && percent > cfg.errorRatePercent) {
      conditions.push({
        rule: 'error_rate',
        key: service,
        severity: 'critical',
        summary: `${service}: ${percent.toFixed(1)}% of requests failed (5xx) over the last ${cfg.windowMinutes} min (threshold ${cfg.errorRatePercent}%)`,
        details: { service, requests: w.requests, errors: w.errors, percent },
      });
    }
    if (cfg.p99Ms > 0 && w.p99 !== undefined && w.p99 > cfg.p99Ms) {
      conditions.push({
        rule: 'latency_p99',
        key: service,
        severity: 'warning',
        summary: `${service}: p99 latency ${Math.round(w.p99)} ms over the last ${cfg.windowMinutes} min (threshold ${cfg.p99Ms} ms)`,
        details: { service, requests: w.requests, p99_ms: w.p99 },
      });
    }
  }

  if (last.db && cfg.replicationLagBytes > 0) {
    judgedRules.add('replication_lag');
    for (const slot of last.db.slots) {
      if (slot.lagBytes > cfg.replicationLagBytes) {
        conditions.push({
          rule: 'replication_lag',
          key: slot.name,
          severity: 'warning',
          summary: `replication slot ${slot.name} retains ${mib(slot.lagBytes)} of WAL (threshold ${mib(cfg.replicationLagBytes)})${slot.active ? '' : ', no consumer connected'}`,
          details: { slot: slot.name, lag_bytes: slot.lagBytes, active: slot.active },
        });
      }
    }
  }

  if (last.diskFreePercent !== undefined && cfg.diskFreePercent > 0) {
    judgedRules.add('disk_free');
    if (last.diskFreePercent < cfg.diskFreePercent) {
      conditions.push({
        rule: 'disk_free',
        key: 'data_dir',
        severity: 'critical',
        summary: `only ${last.diskFreePercent.toFixed(1)}% of the disk under DATA_DIR is free (threshold ${cfg.diskFreePercent}%)`,
        details: { free_percent: last.diskFreePercent },
      });
    }
  }
  return evaluation;
}
