/**
 * The edge of one embedded gateway from a configuration: the gateway app (/health, /verify, and
 * what `extend` adds), the rate limits of its route groups, and the embedded gateway over the
 * services — what cli/stack.ts builds for the default project and projects/service-set.ts for
 * each other project.
 */
import type http from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import type { JwtVerifier } from '../core/jwt.ts';
import type { Service } from '../core/service.ts';
import { buildGatewayApp } from './app.ts';
import type { EdgeGuard } from './edge.ts';
import { createEmbeddedGateway } from './embedded.ts';
import type { HealthCheck } from './health.ts';
import { createRateLimits, type RateLimits } from './rate-limit.ts';
import type { ServiceName } from './routes.ts';
import type { SuperAdminAudit } from '../core/super-admin-audit.ts';
import type { RequestLogSink } from './request-log-sink.ts';

export interface EmbeddedEdge {
  server: http.Server;
  gatewayApp: FastifyInstance;
  rateLimits: RateLimits;
}

export async function buildEmbeddedEdge(
  config: Config,
  opts: { services: Record<ServiceName, Service>; verifier: JwtVerifier; healthChecks: Record<string, HealthCheck>; log: Logger; guard: EdgeGuard; audit: SuperAdminAudit; extend?: (app: FastifyInstance) => void; rateKeyPrefix?: string; requestLog?: RequestLogSink },
  onPart: (what: string, close: () => Promise<unknown>) => void = () => undefined,
): Promise<EmbeddedEdge> {
  const { services, verifier, healthChecks, log, guard, audit } = opts;
  const gatewayApp = await buildGatewayApp({ verifier, healthChecks, log, disableRequestLogging: true, extend: opts.extend, guard, audit });
  onPart('gateway', () => gatewayApp.close());
  const rateLimits = await createRateLimits({ limits: config.rateLimits, redisUrl: config.realtime.redisUrl, keyPrefix: opts.rateKeyPrefix, log });
  onPart('rate limits', () => rateLimits.close());
  const server = createEmbeddedGateway({
    services,
    gatewayApp,
    verifier,
    log,
    corsOrigins: config.corsOrigins,
    bodyLimits: { rest: config.maxBodyBytes, auth: config.maxBodyBytes, graphql: config.graphql.maxBodyBytes },
    rateLimits,
    guard,
    audit,
    requestLog: opts.requestLog && ((fields) => opts.requestLog!.push(fields)),
  });
  return { server, gatewayApp, rateLimits };
}
