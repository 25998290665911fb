/**
 * Composition roots. `startStack` is embedded mode: Postgres (embedded unless configured),
 * migrations, the background jobs (jobs/index.ts), every service and the gateway in one process.
 * `serveOne` is compose mode: one service (or the gateway's /health + /verify) alone on its own
 * port; the gateway brings the jobs along (mails, automation, backups, alert deliveries), as it alone keeps the owner connection.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { directUrlOf, type Config } from '../config/load.ts';
import { EmbeddedPostgres, findRunningPostgres } from '../db/embedded.ts';
import type { Pools } from '../db/pool.ts';
import type { HealthCheck } from '../gateway/health.ts';
import { SERVICE_NAMES, SERVICES, type ServiceName } from '../gateway/routes.ts';
import type { Service } from '../core/service.ts';
import { walArchiveSettings } from '../backup/wal-archive.ts';
import { VERSION } from '../config/version.ts';
// The rest loads on use, in startStack while Postgres starts (cli/stack-modules.ts says why).
import type * as StackModules from './stack-modules.ts';

type Modules = typeof StackModules;

export interface RunningStack {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The database a command works on, and how to let go of it when done. */
export interface Database {
  /** The superuser/owner connection URL (config.postgres.url, or the running stack's port). */
  url: string;
  /** Stops the embedded Postgres this command started; a no-op for a shared or external one. */
  stop(): Promise<void>;
  /** The live command whose embedded Postgres this is (shared), e.g. `nextmavens start (pid 123)`. */
  sharedWith?: string;
  /** Resolves when what a new embedded cluster's start left running is done (EmbeddedPostgres.settled). */
  settled(): Promise<void>;
}

/**
 * The database of `config`. Embedded: with `share` (migrate, gen types), the Postgres already
 * running on DATA_DIR — a running stack's — is used as it is and never stopped; otherwise (and
 * for `start`) this process launches its own, recorded in DATA_DIR/postgres.owner so that another
 * command can tell a live stack from an orphan. `start` on a DATA_DIR a live process holds refuses
 * (DataDirInUseError) instead of stopping it.
 */
export async function startDatabase(
  config: Config,
  log: Logger,
  opts: { command: string; share?: boolean; onSpawn?: () => void; /** The caller awaits settled() before it serves. */ settleLater?: boolean },
): Promise<Database> {
  const pg = config.postgres;
  // Past any transaction pooler: migrations hold a session advisory lock, dumps a snapshot.
  if (!pg.embedded) return { url: directUrlOf(pg), stop: async () => undefined, settled: async () => undefined };
  const dataDir = path.join(config.dataDir, 'postgres');
  const ownerFile = path.join(config.dataDir, 'postgres.owner');
  if (opts.share) {
    const running = await findRunningPostgres(dataDir, ownerFile);
    if (running) {
      const by = running.owner ? ` of \`${running.owner.command}\` (pid ${running.owner.pid})` : '';
      log.info(`using the running Postgres${by} on ${dataDir}, port ${running.port}`);
      const url = new URL(pg.url);
      url.port = String(running.port);
      return { url: url.toString(), stop: async () => undefined, settled: async () => undefined, sharedWith: running.owner ? `${running.owner.command} (pid ${running.owner.pid})` : undefined };
    }
  }
  const server = new EmbeddedPostgres({
    dataDir,
    port: pg.port,
    user: pg.user,
    password: pg.password,
    ownerFile,
    command: `nextmavens ${opts.command}`,
    settings: walArchiveSettings(config),
    onLog: (line) => log.debug({ component: 'postgres' }, line),
    onSpawn: opts.onSpawn,
  });
  const first = !existsSync(path.join(dataDir, 'PG_VERSION'));
  if (first) log.info(`first start: creating the Postgres cluster in ${dataDir}`);
  await server.start();
  if (first) log.info(`Postgres ${pg.port} ready; applying the migrations`);
  try {
    await server.ensureDatabase(pg.database, { maintenanceLater: opts.settleLater });
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { url: pg.url, stop: () => server.stop(), settled: () => server.settled() };
}

/**
 * `start`'s database: started (its modules loading from `onSpawn` on), migrated, and settled
 * (EmbeddedPostgres.settled: a new cluster's sync and maintenance database), stopped again when
 * any of it fails. Used by startStack and by the cluster's primary (cli/cluster.ts).
 */
export async function startMigratedDatabase(config: Config, log: Logger, opts: { onSpawn?: () => void; phase?: (name: string) => void } = {}): Promise<Database> {
  const database = await startDatabase(config, log, { command: 'start', onSpawn: opts.onSpawn, settleLater: true });
  opts.phase?.('postgres');
  try {
    // Imported here, not with this module: it brings pg, which is better loaded beside initdb.
    const { migrateAll } = await import('../db/project-migrations.ts');
    await migrateAll(config, database.url, (m) => log.info(m));
    opts.phase?.('migrations');
    await database.settled();
    opts.phase?.('settled');
  } catch (err) {
    await database.stop();
    throw err;
  }
  return database;
}

function databaseCheck(pools: Pools): HealthCheck {
  return async () => {
    await pools.admin.query('select 1');
    return { status: 'up' };
  };
}

/** The last verified restore (`nextmavens backup verify`): down only when that verification failed. */
function backupsCheck(pools: Pools, lastVerification: Modules['lastVerification']): HealthCheck {
  return async () => {
    const last = await lastVerification(pools.admin);
    const detail = { last_verified_restore: last?.verified_at.toISOString() ?? null, last_verified_backup: last?.backup ?? null };
    return last && !last.ok ? { status: 'down', error: `the verification of backup ${last.backup} failed`, detail } : { status: 'up', detail };
  };
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
async function closeServer(server: http.Server, graceMs = 5000): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(timer);
}

const SHUTDOWN_STEP_MS = 10_000;

/**
 * A shutdown that runs each step in order even when an earlier one fails or hangs (each step
 * gets SHUTDOWN_STEP_MS), so Postgres is always stopped last and no process is left behind.
 */
function shutdownSequence(log: Logger, steps: [string, () => Promise<unknown> | undefined][]): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () =>
    (running ??= (async () => {
      for (const [what, step] of steps) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not finish within ${SHUTDOWN_STEP_MS} ms`)), SHUTDOWN_STEP_MS);
        });
        try {
          await Promise.race([Promise.resolve(step()), timeout]);
        } catch (err) {
          log.error({ err }, `shutdown: ${what} failed`);
        } finally {
          clearTimeout(timer);
        }
      }
    })());
}

/**
 * Where start time goes: each phase's duration and the time since the process started (Node's
 * performance.now() counts from then), at debug level (LOG_LEVEL=debug). bench/footprint.ts times the whole.
 */
export function startPhases(log: Logger): (phase: string) => void {
  let last = 0; // the first phase runs from the process's start: Node, the CLI's modules, the configuration
  return (phase) => {
    const now = performance.now();
    log.debug({ phase, ms: Math.round(now - last), at: Math.round(now) }, `start: ${phase} took ${Math.round(now - last)} ms`);
    last = now;
  };
}

/**
 * `worker`: this process is one of the node:cluster workers of `nextmavens start` with
 * WEB_CONCURRENCY > 1 (cli/cluster.ts): the primary has started Postgres and migrated, so the
 * worker starts neither; the worker of slot 1 alone runs the job worker. Everything else runs in
 * every worker: realtime elects its replication leader by advisory lock, the alert engine's
 * unique indexes decide which instance sends (ops/alerts/engine.ts), and what must be shared
 * goes through the primary (core/cluster.ts) or Redis.
 */
export async function startStack(config: Config, log: Logger, opts: { worker?: { slot: number } } = {}): Promise<RunningStack> {
  const phase = startPhases(log);
  phase('cli');
  const cleanup: [string, () => Promise<unknown> | undefined][] = [];
  const close = () => shutdownSequence(log, [...cleanup].reverse())();
  // The rest of the stack's modules load beside Postgres: from the moment initdb or the server is
  // spawned (onSpawn), or at once for an external database.
  let loading: Promise<Modules> | undefined;
  const load = () => {
    loading ??= import('./stack-modules.ts');
    loading.catch(() => undefined); // awaited below; a failed Postgres start must not leave it unhandled
    return loading;
  };
  try {
    if (!opts.worker) {
      const database = await startMigratedDatabase(config, log, { onSpawn: load, phase });
      cleanup.push(['postgres', () => database.stop()]);
    }
    const m = await load();
    phase('modules');
    const { createPools, startJobs, SERVICE_FACTORIES, createJwtVerifier, startOps, createEdgeGuard, superAdminAudit, mountAdmin, createRequestLogSink, buildEmbeddedEdge, startProjects } = m;
    m.setMetricsEnabled(config.ops.metricsEnabled); // before the services: their apps record requests
    const pools = createPools(config.postgres, opts.worker ? `nextmavens worker ${opts.worker.slot}` : 'nextmavens');
    cleanup.push(['pools', () => pools.end()]);
    // The job worker and the services start side by side: most of each start is a round trip
    // (REST's catalog, the schema watchers' LISTEN, graphile-worker's first poll). What started is
    // stopped in the same order as before, also when another part failed.
    const ctx = { config, pools, log, embedded: true };
    const withJobs = !opts.worker || opts.worker.slot === 1;
    const [jobs, ...built] = await Promise.allSettled([
      withJobs ? startJobs({ config, pool: pools.direct, log }) : undefined,
      ...SERVICE_NAMES.map((name) => SERVICE_FACTORIES[name](ctx)),
    ]);
    if (jobs.status === 'fulfilled' && jobs.value) cleanup.push(['jobs', () => jobs.value!.stop()]);
    const services = {} as Record<ServiceName, Service>;
    for (const [i, name] of SERVICE_NAMES.entries()) {
      const result = built[i];
      if (result.status === 'fulfilled') {
        services[name] = result.value as Service;
        cleanup.push([name, () => services[name].close()]);
      }
    }
    const failed = [jobs, ...built].find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    phase('services');
    const verifier = createJwtVerifier(config.jwtSecret, config.jwks);
    const healthChecks: Record<string, HealthCheck> = { database: databaseCheck(pools) };
    for (const name of SERVICE_NAMES) healthChecks[name] = () => services[name].health();
    healthChecks.backups = backupsCheck(pools, m.lastVerification);
    const ops = startOps({ config, admin: pools.admin, pools: { admin: pools.admin, request: pools.request }, health: () => m.checkHealth(healthChecks, VERSION), log });
    cleanup.push(['ops', () => ops.stop()]);
    const guard = createEdgeGuard({ trustProxy: config.trustProxy, adminIpAllowlist: config.adminIpAllowlist });
    const audit = superAdminAudit(pools.admin, log);
    const admin = { config, db: pools.admin, log, clientAddress: guard.clientAddress, healthSummary: ops.summary, embedded: true };
    const extend = (app: FastifyInstance) => (ops.routes(app), mountAdmin(app, admin));
    // Requests kept for the admin dashboard's Logs page (sql/0036), written after the server stops.
    const requestLog = config.requestLog.retentionHours > 0 ? createRequestLogSink({ pool: pools.admin, log, ...config.requestLog }) : undefined;
    if (requestLog) cleanup.push(['request log', () => requestLog.close()]);
    phase('ops');
    const { server } = await buildEmbeddedEdge(config, { services, verifier, healthChecks, log, guard, audit, extend, requestLog }, (what, stop) => cleanup.push([what, stop]));
    phase('edge');
    // Projects beside the default one (projects/): their requests are taken before it sees them.
    const projects = await startProjects({ config, admin: pools.admin, log, guard, verifier });
    cleanup.push(['projects', () => projects.close()]);
    projects.attach(server);
    phase('projects');
    const port = await listen(server, config.port, config.host);
    cleanup.push(['http server', () => closeServer(server)]);
    phase('listen');
    return { url: `http://localhost:${port}`, port, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Compose mode: one service alone (`gateway` = /health and /verify with remote health checks). */
export async function serveOne(name: ServiceName | 'gateway', config: Config, log: Logger): Promise<RunningStack> {
  const { setMetricsEnabled, createPools, httpHealthCheck, startOps, checkHealth, createEdgeGuard, startJobs, mountAdmin, buildGatewayApp, createJwtVerifier, superAdminAudit, SERVICE_FACTORIES, metricsOnly } = await import('./stack-modules.ts');
  setMetricsEnabled(config.ops.metricsEnabled);
  const pools = createPools(config.postgres, `nextmavens ${name}`);
  const poolsByName = { admin: pools.admin, request: pools.request };
  let metricsServer: http.Server | undefined;
  let closeMetrics: () => Promise<void> = async () => undefined;
  let handler: http.RequestListener;
  let closeService: () => Promise<void>;
  let upgrade: Service['upgrade'];
  let port: number;
  if (name === 'gateway') {
    const healthChecks: Record<string, HealthCheck> = { database: databaseCheck(pools) };
    for (const s of SERVICE_NAMES) {
      const { composeService, port: p, healthPath } = SERVICES[s];
      healthChecks[s] = httpHealthCheck(`http://${composeService}:${p}${healthPath}`);
    }
    // The gateway runs the monitor and alerts, and serves /metrics, the dashboard, the admin dashboard and the hooks.
    const ops = startOps({ config, admin: pools.admin, pools: poolsByName, health: () => checkHealth(healthChecks, VERSION), log });
    const guard = createEdgeGuard({ trustProxy: config.trustProxy, adminIpAllowlist: config.adminIpAllowlist });
    // The job worker too (mails, automation, backups, alert deliveries): it needs the owner's
    // connection, which in compose only the gateway keeps (the services log in as their roles).
    const jobs = await startJobs({ config, pool: pools.direct, log });
    const admin = { config, db: pools.admin, log, clientAddress: guard.clientAddress, healthSummary: ops.summary, embedded: false };
    const extend = (a: FastifyInstance) => (ops.routes(a), mountAdmin(a, admin));
    const app = await buildGatewayApp({ verifier: createJwtVerifier(config.jwtSecret, config.jwks), healthChecks, log, extend, guard, audit: superAdminAudit(pools.admin, log) });
    handler = (req, res) => app.routing(req, res);
    closeService = async () => {
      await app.close();
      await ops.stop();
      await jobs.stop();
    };
    port = config.port;
  } else {
    const service = await SERVICE_FACTORIES[name]({ config, pools, log, embedded: false });
    handler = (req, res) => service.handle(req, res);
    upgrade = service.upgrade?.bind(service);
    closeService = async () => {
      await service.close();
    };
    port = config.ports[name];
    if (config.ops.metricsEnabled && config.ops.metricsPort !== undefined) {
      // Its own port: on the service's, /metrics would hide a route of its API (REST's table "metrics").
      const metrics = await metricsOnly({ config, admin: pools.admin, pools: poolsByName, log, name });
      metricsServer = http.createServer((req, res) => metrics.app.routing(req, res));
      await listen(metricsServer, config.ops.metricsPort, config.host);
      log.info(`${name}: /metrics on port ${config.ops.metricsPort}`);
      closeMetrics = async () => {
        await closeServer(metricsServer!);
        await metrics.close();
      };
    }
  }
  const server = http.createServer(handler);
  if (upgrade) server.on('upgrade', upgrade);
  const bound = await listen(server, port, config.host);
  const close = shutdownSequence(log, [
    ['http server', () => closeServer(server)],
    ['metrics', closeMetrics],
    [name, closeService],
    ['pools', () => pools.end()],
  ]);
  return { url: `http://localhost:${bound}`, port: bound, close };
}
