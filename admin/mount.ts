/**
 * The admin dashboard's mount on the gateway app: a stub that costs nothing until the first
 * request under /admin, which imports the admin server (admin/server.ts: its routes, the UI's
 * files) and hands it that request and every later one. The stack starts as fast, and idles in as
 * little memory, as without the dashboard until somebody opens it (figures: docs/admin.md).
 * Runs as an onRequest hook, before the gateway app reads any body: the admin server parses its own.
 * Only types and the route table are imported here.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import { OPS_PATHS, ROUTES, SERVICES } from '../gateway/routes.ts';
import type { AdminDeps, UpstreamService } from './deps.ts';

export const isAdminUiPath = (path: string) => path === OPS_PATHS.admin || path.startsWith(`${OPS_PATHS.admin}/`);

export interface MountOptions {
  config: Config;
  db: pg.Pool;
  log: Logger;
  clientAddress(req: IncomingMessage): string;
  healthSummary(): Promise<unknown>;
  /** Embedded: the services answer on this same server under their public prefixes; compose: in their containers. */
  embedded: boolean;
}

const PUBLIC_PREFIX: Record<UpstreamService, string> = Object.fromEntries(
  (['auth', 'storage', 'rest'] as const).map((s) => [s, ROUTES.find((r) => r.name === s)!.prefix]),
) as Record<UpstreamService, string>;

/** Where a service answers the admin server: this server (the address the request came in on) or the service's container. */
function serviceUrl(embedded: boolean): AdminDeps['serviceUrl'] {
  return (service, req) => {
    if (!embedded) return `http://${SERVICES[service].composeService}:${SERVICES[service].port}`;
    const host = req.socket.localAddress ?? '127.0.0.1';
    const plain = host.startsWith('::ffff:') ? host.slice(7) : host;
    return `http://${plain.includes(':') ? `[${plain}]` : plain}:${req.socket.localPort}${PUBLIC_PREFIX[service]}`;
  };
}

export function mountAdmin(app: FastifyInstance, o: MountOptions): void {
  let server: Promise<FastifyInstance> | undefined;
  const deps = (): AdminDeps => ({ config: o.config, db: o.db, log: o.log, clientAddress: o.clientAddress, healthSummary: o.healthSummary, serviceUrl: serviceUrl(o.embedded) });
  app.addHook('onClose', async () => {
    const loaded = await server?.catch(() => undefined);
    await loaded?.close();
  });
  app.addHook('onRequest', async (req, reply) => {
    if (!isAdminUiPath(req.url.split('?')[0])) return;
    reply.hijack();
    server ??= import('./server.ts').then((m) => m.buildAdminServer(deps()));
    try {
      (await server).routing(req.raw, reply.raw);
    } catch (err) {
      server = undefined; // the next request tries again
      req.log.error({ err }, 'the admin dashboard failed to load');
      reply.raw.writeHead(503, { 'content-type': 'application/json; charset=utf-8' });
      reply.raw.end(JSON.stringify({ code: 'unavailable', message: 'The admin dashboard failed to load; see the server log' }));
    }
  });
}
