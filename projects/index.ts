/**
 * Many projects in one stack (README "Many projects"): the hook cli/stack.ts gives its embedded
 * gateway. Requests for a project (projects/router.ts) and the projects' admin API
 * (projects/admin-api.ts) are taken before the default project's gateway sees them; every other
 * request reaches it exactly as before.
 */
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import type { JwtVerifier } from '../core/jwt.ts';
import type { EdgeGuard } from '../gateway/edge.ts';
import { projectsAdminApi } from './admin-api.ts';
import { projectsAdmin } from './manage.ts';
import { createProjectRouter, type ProjectRouter } from './router.ts';

export interface Projects {
  router: ProjectRouter;
  /** Puts the projects in front of `server`'s own request and upgrade listeners. */
  attach(server: http.Server): void;
  close(): Promise<void>;
}

export async function startProjects(opts: { config: Config; admin: pg.Pool; log: Logger; guard: EdgeGuard; verifier: JwtVerifier }): Promise<Projects> {
  const router = await createProjectRouter(opts);
  const api = projectsAdminApi({ admin: projectsAdmin(opts.config, opts.admin), verifier: opts.verifier, guard: opts.guard, log: opts.log, evict: router.evict });
  return {
    router,
    attach(server) {
      const [onRequest] = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
      const [onUpgrade] = server.listeners('upgrade') as ((req: IncomingMessage, socket: Duplex, head: Buffer) => void)[];
      server.removeAllListeners('request').removeAllListeners('upgrade');
      server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        if (!router.request(req, res) && !api(req, res)) onRequest?.(req, res);
      });
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (!router.upgrade(req, socket, head)) onUpgrade?.(req, socket, head);
      });
    },
    close: () => router.close(),
  };
}
