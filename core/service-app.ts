/**
 * The Fastify instance every service (and the gateway app) starts from: the shared pino logger
 * as a child named after the service, request ids from `x-request-id` (set by the gateway),
 * per-request logging off when the embedded gateway already logs each request, and no
 * framework banner or stack trace in any response.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { metricsEnabled, observeHttp } from './metrics.ts';

/**
 * Fastify's own schema compilers (ajv and fast-json-stringify, ~90 modules, ~45 ms of a start),
 * built when the first route with a schema needs them rather than with the first instance: no
 * route of the stack declares one. Fastify then counts them as custom compilers, which changes
 * only how a `headers` schema is compiled (lib/route.js) — there is none.
 */
const fastifyRequire = createRequire(createRequire(import.meta.url).resolve('fastify'));
type Builder = (...args: unknown[]) => unknown;
const compilersFactory = {
  buildValidator: (...args: unknown[]) => (fastifyRequire('@fastify/ajv-compiler') as () => Builder)()(...args),
  buildSerializer: (...args: unknown[]) => (fastifyRequire('@fastify/fast-json-stringify-compiler') as () => Builder)()(...args),
};

export interface ServiceAppOptions {
  name: string;
  log: Logger;
  /** Per-request log lines (off in embedded mode, where the gateway logs every request). */
  logRequests: boolean;
  bodyLimit?: number;
  /** Whose X-Forwarded-For to believe for `request.ip` (config.trustProxy). */
  trustProxy?: boolean | string[];
  /** Errors Fastify raises before routing (e.g. FST_ERR_BAD_URL), for services with their own wire format. */
  frameworkErrors?: FastifyServerOptions['frameworkErrors'];
  /**
   * The route label of a request in the HTTP metrics, for services whose Fastify route is a
   * catch-all (REST: `/:table`, `/rpc/:function`). Default: the matched route's template.
   */
  routeLabel?: (request: FastifyRequest) => string;
}

export function createServiceApp(opts: ServiceAppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.log.child({ service: opts.name }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: !opts.logRequests }),
    requestIdHeader: 'x-request-id',
    bodyLimit: opts.bodyLimit,
    trustProxy: opts.trustProxy ?? false,
    schemaController: { compilersFactory } as FastifyServerOptions['schemaController'],
    ...(opts.frameworkErrors && { frameworkErrors: opts.frameworkErrors }),
  });
  // Every answered request in the process's metrics (core/metrics.ts), by route template: a URL
  // no route matched is `not_found`, never its path (unbounded label values).
  if (metricsEnabled()) {
    const label = opts.routeLabel ?? ((request: FastifyRequest) => request.routeOptions.url ?? 'not_found');
    app.addHook('onResponse', (request, reply, done) => {
      observeHttp(opts.name, label(request), request.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }
  return app;
}
