/**
 * GET /metrics: the process's registry (core/metrics.ts) in Prometheus text format, for the
 * service_role key (`apikey` or `Authorization: Bearer`) or METRICS_TOKEN; never public.
 */
import type { FastifyInstance } from 'fastify';
import { registry } from '../core/metrics.ts';
import { presentedToken, tokenMatches } from './access.ts';

export const METRICS_PATH = '/metrics';

export function metricsRoute(app: FastifyInstance, opts: { serviceRoleKey: string; metricsToken?: string }): void {
  app.get(METRICS_PATH, async (req, reply) => {
    if (!tokenMatches(presentedToken(req.headers), [opts.serviceRoleKey, opts.metricsToken])) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ code: 'unauthorized', message: 'GET /metrics needs the service_role key or METRICS_TOKEN (Authorization: Bearer …)' });
    }
    const text = await registry.metrics();
    return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(text);
  });
}
