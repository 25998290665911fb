/**
 * The Fastify instance every service (and the gateway app) starts from: the shared pino logger
 * as a child named after the service, request ids from `x-request-id` (set by the gateway),
 * per-request logging off when the embedded gateway already logs each request, and no
 * framework banner or stack trace in any response.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';

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
}

export function createServiceApp(opts: ServiceAppOptions): FastifyInstance {
  return Fastify({
    loggerInstance: opts.log.child({ service: opts.name }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: !opts.logRequests }),
    requestIdHeader: 'x-request-id',
    bodyLimit: opts.bodyLimit,
    trustProxy: opts.trustProxy ?? false,
    ...(opts.frameworkErrors && { frameworkErrors: opts.frameworkErrors }),
  });
}
