/**
 * The gateway's own endpoints: `GET /health` and the ForwardAuth endpoint `/verify` that
 * Traefik calls before routing (compose). In embedded mode this app also answers every path
 * that no route matches (a JSON 404).
 */
import type { FastifyInstance } from 'fastify';
import { createServiceApp } from '../core/service-app.ts';
import type { Logger } from 'pino';
import { checkHealth, type HealthCheck } from './health.ts';
import { HEALTH_PATH, IDENTIFY_PATH, RATE_LIMIT_KEY_HEADER, VERIFY_PATH, isAdminPath, matchRoute } from './routes.ts';
import { verifyRequest } from '../core/caller.ts';
import { denialFor, edgeRefusal, identityHeaders } from './verify.ts';
import { createEdgeGuard, rateKey, type EdgeGuard } from './edge.ts';
import type { JwtVerifier } from '../core/jwt.ts';
import { VERSION } from '../config/version.ts';
import type { SuperAdminAudit } from '../core/super-admin-audit.ts';

export interface GatewayAppOptions {
  verifier: JwtVerifier;
  healthChecks: Record<string, HealthCheck>;
  log: Logger;
  /** The embedded gateway logs requests itself. */
  disableRequestLogging?: boolean;
  /** More routes on this app (ops/: /metrics, /dashboard, deployment hooks). */
  extend?: (app: FastifyInstance) => void;
  /** The client address and ADMIN_IP_ALLOWLIST; default: the peer address, no allowlist. */
  guard?: EdgeGuard;
  /** /verify writes a foreign super-admin's request to the audit log first (core/super-admin-audit.ts). */
  audit?: SuperAdminAudit;
}

export async function buildGatewayApp(opts: GatewayAppOptions): Promise<FastifyInstance> {
  const app = createServiceApp({ name: 'gateway', log: opts.log, logRequests: !opts.disableRequestLogging });
  const guard = opts.guard ?? createEdgeGuard({ trustProxy: false, adminIpAllowlist: [] });

  app.get(HEALTH_PATH, async (_req, reply) => {
    const report = await checkHealth(opts.healthChecks, VERSION);
    return reply.code(report.status === 'ok' ? 200 : 503).header('cache-control', 'no-store').send(report);
  });

  // Traefik ForwardAuth. The original request arrives as X-Forwarded-Uri (with a possible
  // ?apikey=), X-Forwarded-For and the caller's own headers. /verify refuses a bad key (routes with
  // auth: 'apikey'); /verify/identify (the other routes) only names the caller. Both refuse a
  // sensitive request from an address outside ADMIN_IP_ALLOWLIST, and return the key the rate
  // limit middleware counts by.
  for (const [path, required] of [[VERIFY_PATH, true], [IDENTIFY_PATH, false]] as const) {
    app.all(path, async (req, reply) => {
      const forwardedUri = req.headers['x-forwarded-uri'];
      const uri = typeof forwardedUri === 'string' ? forwardedUri : req.url;
      const target = uri.split('?')[0];
      const service = matchRoute(target)?.service;
      const result = await verifyRequest(opts.verifier, req.headers, uri);
      if (!result.ok && required) {
        const denied = denialFor(service, result, req.headers);
        return reply.code(denied.status).headers(denied.headers ?? {}).send(denied.body);
      }
      const identity = result.ok ? result.identity : undefined;
      const ip = guard.clientAddress(req.raw);
      if (!guard.adminAllowed(target, identity?.role, ip)) {
        const denied = edgeRefusal(service, { kind: 'address_not_allowed' }, req.headers);
        return reply.code(denied.status).headers(denied.headers ?? {}).send(denied.body);
      }
      const method = typeof req.headers['x-forwarded-method'] === 'string' ? req.headers['x-forwarded-method'] : req.method;
      if (identity && opts.audit && !(await opts.audit(identity, { method, path: target, route: matchRoute(target)?.name ?? 'gateway', ip }))) {
        const denied = edgeRefusal(service, { kind: 'not_audited' }, req.headers);
        return reply.code(denied.status).headers(denied.headers ?? {}).send(denied.body);
      }
      const headers = { ...(identity && required ? identityHeaders(identity) : {}), [RATE_LIMIT_KEY_HEADER]: rateKey(identity, ip) };
      return reply.code(200).headers(headers).send({ role: identity?.role ?? null });
    });
  }

  // The dashboard and /metrics from the allowlist only (in compose Traefik routes here directly).
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (!isAdminPath(path) || guard.adminAllowed(path, undefined, guard.clientAddress(req.raw))) return;
    const denied = edgeRefusal(undefined, { kind: 'address_not_allowed' }, req.headers);
    return reply.code(denied.status).send(denied.body);
  });

  opts.extend?.(app);

  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ code: 'not_found', message: `No route for ${req.method} ${req.url.split('?')[0]}` }),
  );
  await app.ready();
  return app;
}
