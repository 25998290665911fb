/**
 * `nextmavens serve projects` (compose, docker-compose.projects.yml): the projects alone — every
 * project's service set in this process, dispatched by Host or path prefix exactly as in the
 * embedded stack, plus the admin API — behind Traefik, which routes `<ref>.<PROJECTS_DOMAIN>`,
 * `/project/` and `/projects/v1` here. The instances keep no state of their own (the registry is
 * in the default database, notices keep their caches right), so any number of them can run.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import { createJwtVerifier } from '../core/jwt.ts';
import { createPools } from '../db/pool.ts';
import { createEdgeGuard } from '../gateway/edge.ts';
import { startProjects } from './index.ts';

export async function serveProjects(config: Config, log: Logger): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const pools = createPools(config.postgres, 'nextmavens projects');
  const guard = createEdgeGuard({ trustProxy: config.trustProxy, adminIpAllowlist: config.adminIpAllowlist });
  const projects = await startProjects({ config, admin: pools.admin, log, guard, verifier: createJwtVerifier(config.jwtSecret, config.jwks) });
  const server = http.createServer((_req, res) => {
    const body = JSON.stringify({ code: 'not_found', message: 'Not a project: use http://<ref>.<PROJECTS_DOMAIN> or /project/<ref>/' });
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  projects.attach(server);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.port, config.host, () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${port}`,
    port,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await projects.close();
      await pools.end();
    },
  };
}
