/** What the admin server is given by the composition root (cli/stack.ts): types only, so the lazy mount imports nothing heavy. */
import type { IncomingMessage } from 'node:http';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';

/** The services the admin server calls on the admin's behalf with the service_role key (server side only). */
export type UpstreamService = 'auth' | 'storage' | 'rest';

export interface AdminDeps {
  config: Config;
  /** The owner connection (the stack's admin pool): DDL, the admin tables, the SQL editor. */
  db: pg.Pool;
  log: Logger;
  /** The client's address (TRUST_PROXY rules, gateway/edge.ts). */
  clientAddress(req: IncomingMessage): string;
  /** The health dashboard's summary (ops/dashboard/routes.ts dashboardSummary). */
  healthSummary(): Promise<unknown>;
  /**
   * Where a service's API answers for this request, without the public prefix: in embedded mode
   * the stack's own server under the public prefix (`http://127.0.0.1:<port>/auth/v1`), in
   * compose the service's container (`http://auth:9999`).
   */
  serviceUrl(service: UpstreamService, req: IncomingMessage): string;
}
