/**
 * What the gateway needs from a service. A service is built once (its Fastify app, pools,
 * background work) and then either mounted in the embedded gateway (`handle` receives requests
 * whose prefix the route table already stripped) or served alone on its own port in compose.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import type { Pools } from '../db/pool.ts';

/** The services behind the gateway (gateway/routes.ts routes public paths to them). */
export const SERVICE_NAMES = ['rest', 'auth', 'graphql', 'realtime', 'storage'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export type ComponentStatus = 'up' | 'down';

export interface ComponentHealth {
  status: ComponentStatus;
  /** Set when the component answers but has no implementation yet. */
  implemented?: boolean;
  error?: string;
  /** What else the component reports (backups: the last verified restore). */
  detail?: Record<string, unknown>;
}

export interface Service {
  name: ServiceName;
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** WebSocket upgrades (realtime, GraphQL subscriptions). */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  health(): Promise<ComponentHealth>;
  close(): Promise<void>;
}

/** What every service is built from. In embedded mode all services share the same pools. */
export interface ServiceContext {
  config: Config;
  pools: Pools;
  log: Logger;
  /** true when mounted in the embedded gateway (which already logs each request). */
  embedded: boolean;
}

export type ServiceFactory = (ctx: ServiceContext) => Promise<Service>;
