/**
 * A service that is mounted and routed but not built yet: `GET /health` answers, every other
 * request gets a clear 501 JSON error naming the service. Replaced service by service.
 */
import type { Service, ServiceContext } from '../gateway/service.ts';
import { SERVICES, type ServiceName } from '../gateway/routes.ts';
import { createServiceApp } from './fastify.ts';

export async function createStubService(name: ServiceName, ctx: ServiceContext): Promise<Service> {
  const app = createServiceApp({ name, log: ctx.log, logRequests: !ctx.embedded });
  const what = SERVICES[name].description;
  app.get('/health', async () => ({ status: 'up', implemented: false }));
  app.all('/*', async (_req, reply) =>
    reply.code(501).send({
      code: 'not_implemented',
      message: `${what} is not implemented yet in this build of NextMavens Stack`,
      details: null,
      hint: null,
    }),
  );
  await app.ready();
  return {
    name,
    handle: (req, res) => app.routing(req, res),
    health: async () => ({ status: 'up', implemented: false }),
    close: () => app.close(),
  };
}
