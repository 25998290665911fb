/**
 * A project's service set: what cli/stack.ts builds for the default project — pools over the
 * project's database, the five services from the same factories (cli/registry.ts), the jobs, the
 * gateway's /health, its rate limits, one embedded gateway (gateway/embedded.ts) over them — built
 * from the project's Config. Each service is built on its first request (a REST-only project never
 * builds PostGraphile nor takes a replication slot), the job worker with auth (the mails it queues).
 * `close` releases everything, including the project's replication slot when no instance consumes it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import { createJwtVerifier } from '../core/jwt.ts';
import type { Service } from '../core/service.ts';
import { createPools } from '../db/pool.ts';
import { buildEmbeddedEdge } from '../gateway/embedded-edge.ts';
import type { EdgeGuard } from '../gateway/edge.ts';
import type { HealthCheck } from '../gateway/health.ts';
import { SERVICE_NAMES, type ServiceName } from '../gateway/routes.ts';
import { superAdminAudit } from '../core/super-admin-audit.ts';
import { startJobs } from '../jobs/index.ts';
import type { JobWorker } from '../jobs/worker.ts';
import { SERVICE_FACTORIES } from '../cli/registry.ts';

export interface ProjectServices {
  /** The embedded gateway of the project (never listening: requests are emitted to it). */
  server: http.Server;
  /** The owner pool of the project's database (quota checks). */
  admin: import('pg').Pool;
  /** Which services have been built. */
  built(): ServiceName[];
  close(): Promise<void>;
}

function unavailable(res: ServerResponse, message: string): void {
  if (res.headersSent) return void res.destroy();
  const body = JSON.stringify({ code: 'service_unavailable', message });
  res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** A service built on first use; requests that come meanwhile wait for it. */
function lazyService(name: ServiceName, build: () => Promise<Service>, log: Logger): Service & { instance?: Promise<Service> } {
  const lazy: Service & { instance?: Promise<Service> } = {
    name,
    handle(req: IncomingMessage, res: ServerResponse) {
      (lazy.instance ??= build()).then(
        (s) => s.handle(req, res),
        (err: Error) => {
          log.error({ err }, `project: ${name} could not start`);
          lazy.instance = undefined;
          unavailable(res, `The ${name} service of this project could not start`);
        },
      );
    },
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      (lazy.instance ??= build()).then(
        (s) => (s.upgrade ? s.upgrade(req, socket, head) : socket.destroy()),
        () => {
          lazy.instance = undefined;
          socket.destroy();
        },
      );
    },
    async health() {
      return lazy.instance ? (await lazy.instance).health() : { status: 'up', detail: { started: false } };
    },
    async close() {
      const s = await lazy.instance?.catch(() => undefined);
      await s?.close();
    },
  };
  return lazy;
}

export async function openProjectServices(config: Config, log: Logger, guard: EdgeGuard): Promise<ProjectServices> {
  const pools = createPools(config.postgres, `nextmavens project ${config.postgres.database}`);
  const ctx = { config, pools, log, embedded: true };
  let jobs: Promise<JobWorker> | undefined;
  const services = {} as Record<ServiceName, ReturnType<typeof lazyService>>;
  for (const name of SERVICE_NAMES) {
    services[name] = lazyService(name, async () => {
      if (name === 'auth') jobs ??= startJobs({ config, pool: pools.admin, log });
      return SERVICE_FACTORIES[name](ctx);
    }, log);
  }
  const verifier = createJwtVerifier(config.jwtSecret, config.jwks);
  const healthChecks: Record<string, HealthCheck> = {
    database: async () => {
      await pools.admin.query('select 1');
      return { status: 'up' };
    },
  };
  for (const name of SERVICE_NAMES) healthChecks[name] = () => services[name].health();
  const audit = superAdminAudit(pools.admin, log);
  const { server, gatewayApp, rateLimits } = await buildEmbeddedEdge(config, { services, verifier, healthChecks, log, guard, audit, rateKeyPrefix: `nextmavens:rl:${config.postgres.database}` });
  return {
    server,
    admin: pools.admin,
    built: () => SERVICE_NAMES.filter((n) => services[n].instance),
    async close() {
      const realtime = !!services.realtime.instance;
      const steps: (() => Promise<unknown>)[] = [
        ...SERVICE_NAMES.map((n) => () => services[n].close()),
        async () => (await jobs?.catch(() => undefined))?.stop(),
        () => gatewayApp.close(),
        () => rateLimits.close(),
        // An idle project keeps no slot (and so no WAL): nobody is subscribed to its changes.
        async () => realtime && pools.admin.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active', [config.postgres.replicationSlot]),
        () => pools.end(),
      ];
      for (const step of steps) await step().catch((err: Error) => log.warn({ err }, 'project: a step of closing failed'));
    },
  };
}
