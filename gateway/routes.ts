/**
 * The route table: the single source of truth for how public paths reach services.
 *
 * The embedded gateway dispatches requests with it in-process (gateway/embedded.ts), and
 * `nextmavens gen traefik` turns it into Traefik's dynamic configuration for compose
 * (gateway/traefik.ts). Both apply the same edge policy: CORS first, then the apikey/JWT
 * check (ForwardAuth to /verify in compose), the allowlist of sensitive requests, the rate limit
 * of the route's group, body limits, prefix stripping. Each route names its `group`: the unit of
 * rate and size limits (RATE_LIMIT_<GROUP>, the body limit variable of the group). Ports and
 * limits are the defaults and names of config/schema.ts, not copies of them.
 */
import { envDefault, type EnvName } from '../config/schema.ts';
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
/** ForwardAuth of routes the edge does not key-check: names the caller (rate key, allowlist), never refuses a key. */
export const IDENTIFY_PATH = '/verify/identify';
/** What the rate limits count by, asserted by /verify (gateway/edge.ts rateKey). */
export const RATE_LIMIT_KEY_HEADER = 'X-Rate-Limit-Key';
export const HEALTH_PATH = '/health';
/**
 * The gateway's operations pages (ops/): the dashboard (its page, assets and API), the admin
 * dashboard (admin/: its UI and API, its own sign-in) and the deployment hooks; each
 * authenticates itself. `/metrics` is not public: Prometheus scrapes the containers directly
 * (docs/operations.md).
 */
export const OPS_PATHS = { dashboard: '/dashboard', admin: '/admin', hooks: '/ops/hooks/' } as const;

/**
 * - `apikey`: a valid `apikey` (header or `?apikey=` query) or `Authorization: Bearer` JWT is required at the edge.
 * - `none`: the edge lets the request through; the service authenticates it itself
 *   (browser navigations such as `/auth/v1/verify`, storage public objects, the GraphQL playground).
 */
export type EdgeAuth = 'apikey' | 'none';

/** The groups of routes that share a rate limit (RATE_LIMIT_<GROUP>) and a body limit. */
export const ROUTE_GROUPS = ['rest', 'graphql', 'storage', 'realtime', 'auth'] as const;
export type RouteGroup = (typeof ROUTE_GROUPS)[number];

/** The variable giving each group's limit in requests per minute per tenant (config/schema.ts). */
export const RATE_LIMIT_ENV = {
  rest: 'RATE_LIMIT_REST',
  graphql: 'RATE_LIMIT_GRAPHQL',
  storage: 'RATE_LIMIT_STORAGE',
  realtime: 'RATE_LIMIT_REALTIME',
  auth: 'RATE_LIMIT_AUTH',
} as const satisfies Record<RouteGroup, EnvName>;

/** The variable giving the largest body of the buffered groups (storage and realtime stream theirs). */
export const BODY_LIMIT_ENV = { rest: 'MAX_BODY_BYTES', graphql: 'GRAPHQL_MAX_BODY_BYTES', auth: 'MAX_BODY_BYTES' } as const satisfies Partial<Record<RouteGroup, EnvName>>;
export type BufferedGroup = keyof typeof BODY_LIMIT_ENV;

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
  /**
   * The route's rate and size limits. Rate limits count per caller key (gateway/edge.ts
   * rateKey): the tenant claim, else the user, else the client address.
   */
  group: RouteGroup;
  /**
   * Buffer the body at the edge and reject bodies over the group's limit (BODY_LIMIT_ENV) with
   * 413. Never on streamed uploads or WebSockets; only for groups of BODY_LIMIT_ENV.
   */
  bufferBody: boolean;
}

/** Paths of the auth service that browsers navigate to (no apikey possible), as in Supabase's Kong config. */
const OPEN_AUTH_PATHS = ['/auth/v1/verify', '/auth/v1/callback', '/auth/v1/authorize', '/auth/v1/.well-known/jwks.json', '/auth/v1/.well-known', '/auth/v1/oauth', '/auth/v1/sso/saml'];

export const ROUTES: readonly RouteDef[] = [
  { name: 'rest', prefix: '/rest/v1', service: 'rest', stripPrefix: '/rest/v1', auth: 'apikey', group: 'rest', bufferBody: true },
  ...OPEN_AUTH_PATHS.map(
    (prefix): RouteDef => ({
      name: `auth-open-${prefix.split('/').pop()!.replace(/[^a-z]/g, '') || 'root'}`,
      prefix,
      service: 'auth',
      stripPrefix: '/auth/v1',
      auth: 'none',
      group: 'auth',
      bufferBody: true,
    }),
  ),
  { name: 'auth', prefix: '/auth/v1', service: 'auth', stripPrefix: '/auth/v1', auth: 'apikey', group: 'auth', bufferBody: true },
  { name: 'auth-short', prefix: '/api/auth', service: 'auth', auth: 'none', group: 'auth', bufferBody: true },
  { name: 'graphql', prefix: '/graphql/v1', service: 'graphql', auth: 'apikey', websocketAuth: 'none', group: 'graphql', bufferBody: true },
  { name: 'graphql-short', prefix: '/graphql', service: 'graphql', auth: 'none', group: 'graphql', bufferBody: true },
  // The playground's scripts, styles and editor workers: the Ruru page on GET /graphql loads them from here.
  { name: 'graphql-ruru', prefix: '/ruru-static', service: 'graphql', auth: 'none', group: 'graphql', bufferBody: true },
  { name: 'realtime', prefix: '/realtime/v1', service: 'realtime', stripPrefix: '/realtime/v1', auth: 'apikey', group: 'realtime', bufferBody: false },
  { name: 'storage', prefix: '/storage/v1', service: 'storage', stripPrefix: '/storage/v1', auth: 'none', group: 'storage', bufferBody: false },
  { name: 'storage-short', prefix: '/storage', service: 'storage', auth: 'none', group: 'storage', bufferBody: false },
];

/** Edge policy shared by the embedded gateway and the generated Traefik config. */
export const EDGE_POLICY = {
  cors: {
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
      'x-read-primary', // db/read-pools.ts: read-your-writes past the read replicas
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
      // The edge's rate limits (gateway/rate-limit.ts), readable by browser apps.
      'retry-after',
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
    ],
    maxAgeSeconds: 600,
  },
  /** The per-address limit of the gateway's own pages (/health, the dashboard, hooks) in Traefik. */
  pageRateLimit: { average: 30, burst: 60 },
  /**
   * Headers /verify asserts; the edge always deletes client-sent copies (spoof-proof).
   * X-Rate-Limit-Key is what the rate limits count by (tenant, else user, else client address).
   */
  authResponseHeaders: ['X-User-Role', 'X-User-Id', 'X-Tenant-Id', 'X-Rate-Limit-Key'],
} as const;

/** The route as it applies to a WebSocket upgrade: its `websocketAuth`, never buffered. */
export function websocketRoute(route: RouteDef): RouteDef {
  return { ...route, auth: route.websocketAuth ?? route.auth, bufferBody: false };
}

/**
 * Sensitive paths (ADMIN_IP_ALLOWLIST): the auth admin API, the dashboard (page, assets, API),
 * the admin dashboard and /metrics. Requests made as service_role are sensitive on every path.
 */
export const ADMIN_PATHS = ['/auth/v1/admin', OPS_PATHS.dashboard, OPS_PATHS.admin, '/metrics'] as const;

/** Is `path` sensitive? Judged as the service's router sees it: percent-decoded, repeated slashes as one. */
export function isAdminPath(path: string): boolean {
  let plain = path;
  try {
    plain = decodeURIComponent(path);
  } catch {
    // malformed escapes: the services answer 400/404; judged as written
  }
  plain = plain.replace(/\/{2,}/g, '/');
  return ADMIN_PATHS.some((p) => plain === p || plain.startsWith(p + '/'));
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
