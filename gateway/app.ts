/**
 * The gateway's own endpoints: `GET /health` and the ForwardAuth endpoint `/verify` that
 * Traefik calls before routing (compose). In embedded mode this app also answers every path
 * that no route matches (a JSON 404).
 */
import type { FastifyInstance } from 'fastify';
import { createServiceApp } from '../core/service-app.ts';
import type { Logger } from 'pino';
import { checkHealth, type HealthCheck } from './health.ts';
import { HEALTH_PATH, VERIFY_PATH, matchRoute } from './routes.ts';
import { verifyRequest } from '../core/caller.ts';
import { denialFor, identityHeaders } from './verify.ts';
import type { JwtVerifier } from '../core/jwt.ts';
import { VERSION } from '../config/version.ts';

export interface GatewayAppOptions {
  verifier: JwtVerifier;
  healthChecks: Record<string, HealthCheck>;
  log: Logger;
  /** The embedded gateway logs requests itself. */
  disableRequestLogging?: boolean;
  /** More routes on this app (ops/: /metrics, /dashboard, deployment hooks). */
  extend?: (app: FastifyInstance) => void;
}

export async function buildGatewayApp(opts: GatewayAppOptions): Promise<FastifyInstance> {
  const app = createServiceApp({ name: 'gateway', log: opts.log, logRequests: !opts.disableRequestLogging });

  app.get(HEALTH_PATH, async (_req, reply) => {
    const report = await checkHealth(opts.healthChecks, VERSION);
    return reply.code(report.status === 'ok' ? 200 : 503).header('cache-control', 'no-store').send(report);
  });

  // Traefik ForwardAuth: the original URI (with a possible ?apikey=) arrives in X-Forwarded-Uri.
  app.all(VERIFY_PATH, async (req, reply) => {
    const forwardedUri = req.headers['x-forwarded-uri'];
    const uri = typeof forwardedUri === 'string' ? forwardedUri : req.url;
    const result = await verifyRequest(opts.verifier, req.headers, uri);
    if (!result.ok) {
      const denied = denialFor(matchRoute(uri.split('?')[0])?.service, result, req.headers);
      return reply.code(denied.status).headers(denied.headers ?? {}).send(denied.body);
    }
    return reply.code(200).headers(identityHeaders(result.identity)).send({ role: result.identity.role });
  });

  opts.extend?.(app);

  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ code: 'not_found', message: `No route for ${req.method} ${req.url.split('?')[0]}` }),
  );
  await app.ready();
  return app;
}
