/**
 * The route table: the single source of truth for how public paths reach services.
 *
 * The embedded gateway dispatches requests with it in-process (gateway/embedded.ts), and
 * `nextmavens gen traefik` turns it into Traefik's dynamic configuration for compose
 * (gateway/traefik.ts). Both apply the same edge policy: CORS first, then the apikey/JWT
 * check (ForwardAuth to /verify in compose), body buffering, prefix stripping. Each route names
 * the key its rate limit counts by (`rateLimit`: tenant or client address). Ports and the body
 * limit are the defaults of config/schema.ts, not copies of them.
 */
import { envDefault } from '../config/schema.ts';
import type { ServiceName } from '../core/service.ts';

export { SERVICE_NAMES, type ServiceName } from '../core/service.ts';

/** The services behind the gateway. Each one is also a standalone process in compose. */
export const SERVICES = {
  // rest: in compose this is the real PostgREST, whose root (the OpenAPI document) is its health check.
  rest: { composeService: 'rest', port: Number(envDefault('REST_PORT')), healthPath: '/', description: 'The REST API (/rest/v1)' },
  auth: { composeService: 'auth', port: Number(envDefault('AUTH_PORT')), healthPath: '/health', description: 'The auth API (/auth/v1)' },
  graphql: { composeService: 'graphql', port: Number(envDefault('GRAPHILE_PORT')), healthPath: '/health', description: 'The GraphQL API (/graphql/v1)' },
  realtime: { composeService: 'realtime', port: Number(envDefault('REALTIME_PORT')), healthPath: '/health', description: 'The realtime API (/realtime/v1)' },
  storage: { composeService: 'storage', port: Number(envDefault('STORAGE_PORT')), healthPath: '/health', description: 'The storage API (/storage/v1)' },
} as const satisfies Record<ServiceName, { composeService: string; port: number; healthPath: string; description: string }>;


/** The gateway's own compose service: serves /health and the ForwardAuth endpoint /verify. */
export const GATEWAY_SERVICE = { composeService: 'gateway', port: Number(envDefault('PORT')) } as const;
export const VERIFY_PATH = '/verify';
export const HEALTH_PATH = '/health';
/**
 * The gateway's operations pages (ops/): the dashboard (its page, assets and API) and the
 * deployment hooks; each authenticates itself. `/metrics` is not public: Prometheus scrapes the
 * containers directly (docs/operations.md).
 */
export const OPS_PATHS = { dashboard: '/dashboard', hooks: '/ops/hooks/' } as const;

/**
 * - `apikey`: a valid `apikey` (header or `?apikey=` query) or `Authorization: Bearer` JWT is required at the edge.
 * - `none`: the edge lets the request through; the service authenticates it itself
 *   (browser navigations such as `/auth/v1/verify`, storage public objects, the GraphQL playground).
 */
export type EdgeAuth = 'apikey' | 'none';

/** `tenant`: token bucket per X-Tenant-Id asserted by /verify; `ip`: per client address. */
export type RateLimitKey = 'tenant' | 'ip';

export interface RouteDef {
  /** Unique router name. */
  name: string;
  /** Path prefix; matches the path itself and everything below `prefix/`. */
  prefix: string;
  service: ServiceName;
  /** The prefix removed before the service sees the path (undefined: the path is passed as is). */
  stripPrefix?: string;
  auth: EdgeAuth;
  /**
   * The edge check of WebSocket upgrades, when it differs from `auth`. `none`: the upgrade reaches
   * the service without an apikey, and the service authenticates the connection from what the
   * protocol sends (graphql-ws `connectionParams`); a bad token there is its refusal (4403).
   */
  websocketAuth?: EdgeAuth;
  rateLimit: RateLimitKey;
  /**
   * Buffer the body at the edge and reject bodies over EDGE_POLICY.maxBodyBytes with 413.
   * Never on streamed uploads or WebSockets.
   */
  bufferBody: boolean;
}

/** Paths of the auth service that browsers navigate to (no apikey possible), as in Supabase's Kong config. */
const OPEN_AUTH_PATHS = ['/auth/v1/verify', '/auth/v1/callback', '/auth/v1/authorize', '/auth/v1/.well-known/jwks.json', '/auth/v1/.well-known', '/auth/v1/oauth'];

export const ROUTES: readonly RouteDef[] = [
  { name: 'rest', prefix: '/rest/v1', service: 'rest', stripPrefix: '/rest/v1', auth: 'apikey', rateLimit: 'tenant', bufferBody: true },
  ...OPEN_AUTH_PATHS.map(
    (prefix): RouteDef => ({
      name: `auth-open-${prefix.split('/').pop()!.replace(/[^a-z]/g, '') || 'root'}`,
      prefix,
      service: 'auth',
      stripPrefix: '/auth/v1',
      auth: 'none',
      rateLimit: 'ip',
      bufferBody: true,
    }),
  ),
  { name: 'auth', prefix: '/auth/v1', service: 'auth', stripPrefix: '/auth/v1', auth: 'apikey', rateLimit: 'ip', bufferBody: true },
  { name: 'auth-short', prefix: '/api/auth', service: 'auth', auth: 'none', rateLimit: 'ip', bufferBody: true },
  { name: 'graphql', prefix: '/graphql/v1', service: 'graphql', auth: 'apikey', websocketAuth: 'none', rateLimit: 'tenant', bufferBody: true },
  { name: 'graphql-short', prefix: '/graphql', service: 'graphql', auth: 'none', rateLimit: 'ip', bufferBody: true },
  // The playground's scripts, styles and editor workers: the Ruru page on GET /graphql loads them from here.
  { name: 'graphql-ruru', prefix: '/ruru-static', service: 'graphql', auth: 'none', rateLimit: 'ip', bufferBody: true },
  { name: 'realtime', prefix: '/realtime/v1', service: 'realtime', stripPrefix: '/realtime/v1', auth: 'apikey', rateLimit: 'tenant', bufferBody: false },
  { name: 'storage', prefix: '/storage/v1', service: 'storage', stripPrefix: '/storage/v1', auth: 'none', rateLimit: 'ip', bufferBody: false },
  { name: 'storage-short', prefix: '/storage', service: 'storage', auth: 'none', rateLimit: 'ip', bufferBody: false },
];

/** Edge policy shared by the embedded gateway and the generated Traefik config. */
export const EDGE_POLICY = {
  maxBodyBytes: Number(envDefault('MAX_BODY_BYTES')),
  cors: {
    allowOrigins: ['*'],
    allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowHeaders: [
      'authorization',
      'apikey',
      'content-type',
      'content-profile',
      'accept-profile',
      'prefer',
      'range',
      'range-unit',
      'x-client-info',
      'x-supabase-api-version',
      'x-retry-count', // postgrest-js retries
      'traceparent', // supabase-js tracePropagation
      'tracestate',
      'baggage',
      'x-upsert',
      'x-request-id',
      'cache-control',
      'if-none-match',
      'if-modified-since',
      'tus-resumable',
      'upload-length',
      'upload-defer-length',
      'upload-metadata',
      'upload-offset',
      'x-metadata',
    ],
    exposeHeaders: [
      'content-range',
      'content-location',
      'location',
      'preference-applied',
      'x-supabase-api-version',
      'x-request-id',
      'etag',
      'last-modified',
      'range-unit',
      'upload-offset',
      'upload-length',
      'upload-expires',
      'tus-resumable',
    ],
    maxAgeSeconds: 600,
  },
  rateLimits: {
    tenant: { average: 200, burst: 400 },
    ip: { average: 30, burst: 60 },
  },
  /** Headers /verify asserts; the edge always deletes client-sent copies (spoof-proof). */
  authResponseHeaders: ['X-User-Role', 'X-User-Id', 'X-Tenant-Id'],
} as const;

/** The route as it applies to a WebSocket upgrade: its `websocketAuth`, never buffered, per-IP limit without a key check. */
export function websocketRoute(route: RouteDef): RouteDef {
  const auth = route.websocketAuth ?? route.auth;
  return { ...route, auth, rateLimit: auth === 'apikey' ? route.rateLimit : 'ip', bufferBody: false };
}

function matches(route: RouteDef, path: string): boolean {
  return path === route.prefix || path.startsWith(route.prefix + '/');
}

/** The most specific route for a request path (longest matching prefix), or undefined. */
export function matchRoute(path: string): RouteDef | undefined {
  let best: RouteDef | undefined;
  for (const route of ROUTES) {
    if (matches(route, path) && (!best || route.prefix.length > best.prefix.length)) best = route;
  }
  return best;
}
