import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { EDGE_POLICY, GATEWAY_SERVICE, HEALTH_PATH, matchRoute, ROUTES, VERIFY_PATH } from './routes.ts';
import { renderTraefikDynamicConfig, routerMiddlewares, TRAEFIK_DYNAMIC_PATH } from './traefik.ts';

interface Router {
  rule: string;
  priority: number;
  entryPoints: string[];
  middlewares: string[];
  service: string;
}

const { http } = parse(renderTraefikDynamicConfig()) as {
  http: {
    routers: Record<string, Router>;
    middlewares: Record<string, Record<string, Record<string, unknown>>>;
    services: Record<string, { loadBalancer: { servers: { url: string }[] } }>;
  };
};
const routers = Object.entries(http.routers);

const UPGRADE_MATCHER = ' && HeaderRegexp(`Upgrade`, `(?i)^websocket$`)';

/**
 * The router Traefik picks for `path`: among those whose Path/PathPrefix rule matches, the highest
 * priority. A router with the Upgrade matcher matches only a WebSocket upgrade (`websocket`).
 */
function routerFor(path: string, websocket = false): string | undefined {
  const matching = routers.filter(([, r]) => {
    const upgradeOnly = r.rule.endsWith(UPGRADE_MATCHER);
    if (upgradeOnly && !websocket) return false;
    const paths = upgradeOnly ? r.rule.slice(0, -UPGRADE_MATCHER.length) : r.rule;
    if (/\b(Header|Host|Method|Query)\w*\(/.test(paths)) throw new Error(`routerFor does not model ${r.rule}`);
    return [...paths.matchAll(/(Path|PathPrefix)\(`([^`]+)`\)/g)].some(([, kind, p]) => (kind === 'Path' ? path === p : path.startsWith(p)));
  });
  matching.sort(([, a], [, b]) => b.priority - a.priority);
  return matching[0]?.[0];
}

describe('generated Traefik dynamic configuration', () => {
  it('is what is committed', async () => {
    const committed = await readFile(path.resolve(import.meta.dirname, '..', TRAEFIK_DYNAMIC_PATH), 'utf8');
    expect(committed, `${TRAEFIK_DYNAMIC_PATH} is stale: run \`npm run gen -- traefik\``).toBe(renderTraefikDynamicConfig());
  });

  it('has one router per route, on the web entry point, matching the prefix and everything below it', () => {
    for (const route of ROUTES) {
      const router = http.routers[route.name];
      expect(router, route.name).toBeDefined();
      expect(router.rule).toBe(`Path(\`${route.prefix}\`) || PathPrefix(\`${route.prefix}/\`)`);
      expect(router.entryPoints).toEqual(['web']);
      expect(router.service).toBe(route.service);
    }
  });

  it('puts CORS first everywhere, ForwardAuth exactly on key-checked routes, the tenant limit after it', () => {
    for (const [name, r] of routers) {
      expect(r.middlewares[0], name).toBe('cors');
      for (const m of r.middlewares) expect(http.middlewares[m], `${name} uses ${m}`).toBeDefined();
      if (r.middlewares.includes('rl-tenant')) expect(r.middlewares.indexOf('verify'), name).toBe(1);
    }
    for (const route of ROUTES) {
      expect(http.routers[route.name].middlewares.includes('verify'), route.name).toBe(route.auth === 'apikey');
    }
    expect(http.routers.rest.middlewares).toEqual(['cors', 'verify', 'rl-tenant', 'body-limit', 'strip-rest-v1']);
    // Without /verify there is no X-Tenant-Id to key on (Traefik would answer 500).
    expect(() => routerMiddlewares({ ...ROUTES[0], rateLimit: 'tenant', auth: 'none' })).toThrow(/per-tenant/);
  });

  it('never buffers streamed routes (storage uploads, realtime WebSockets)', () => {
    for (const name of ['storage', 'storage-short', 'realtime']) expect(http.routers[name].middlewares, name).not.toContain('body-limit');
    for (const route of ROUTES) expect(http.routers[route.name].middlewares.includes('body-limit'), route.name).toBe(route.bufferBody);
    expect(http.middlewares['body-limit'].buffering.maxRequestBodyBytes).toBe(EDGE_POLICY.maxBodyBytes);
  });

  it('sends ForwardAuth to the gateway /verify and copies only the asserted identity headers', () => {
    const fa = http.middlewares.verify.forwardAuth;
    expect(fa.address).toBe(`http://${GATEWAY_SERVICE.composeService}:${GATEWAY_SERVICE.port}${VERIFY_PATH}`);
    expect(fa.trustForwardHeader).toBe(true);
    expect(fa.authResponseHeaders).toEqual([...EDGE_POLICY.authResponseHeaders]);
    expect(fa.authResponseHeaders).toContain('X-Tenant-Id');
    expect(http.middlewares['rl-tenant'].rateLimit.sourceCriterion).toEqual({ requestHeaderName: 'X-Tenant-Id' });
  });

  it('routes every router to a defined service; the gateway serves /health and the operations pages', () => {
    for (const [name, r] of routers) expect(http.services[r.service], `${name} → ${r.service}`).toBeDefined();
    expect(http.services.gateway.loadBalancer.servers).toEqual([{ url: `http://${GATEWAY_SERVICE.composeService}:${GATEWAY_SERVICE.port}` }]);
    expect(routerFor(HEALTH_PATH)).toBe('health');
    expect(routerFor(VERIFY_PATH)).toBeUndefined();
    expect(routers.filter(([, r]) => r.service === 'gateway').map(([name]) => name)).toEqual(['health', 'ops']);
    for (const path of ['/dashboard', '/dashboard/api/summary', '/ops/hooks/dokploy', '/ops/hooks/deploy']) expect(routerFor(path), path).toBe('ops');
    for (const path of ['/metrics', '/dashboards', '/ops']) expect(routerFor(path), path).toBeUndefined();
  });

  it('lets the longest prefix win, as the embedded gateway does', () => {
    const r = http.routers;
    expect(r.graphql.priority).toBeGreaterThan(r['graphql-short'].priority);
    expect(r.storage.priority).toBeGreaterThan(r['storage-short'].priority);
    expect(r['auth-open-verify'].priority).toBeGreaterThan(r.auth.priority);
    for (const route of ROUTES) {
      for (const p of [route.prefix, `${route.prefix}/x`]) expect(routerFor(p), p).toBe(matchRoute(p)?.name);
    }
    expect(routerFor('/graphqlx')).toBeUndefined();
  });

  it('sends the playground\'s assets (/ruru-static/) to the graphql service without a key check', () => {
    expect(routerFor('/ruru-static/ruru.js')).toBe('graphql-ruru');
    expect(http.routers['graphql-ruru'].service).toBe('graphql');
    expect(http.routers['graphql-ruru'].middlewares).not.toContain('verify');
  });

  it('lets WebSocket upgrades on /graphql/v1 through without a key (graphql-ws authenticates from connectionParams); other upgrades keep theirs', () => {
    const ws = http.routers['graphql-websocket'];
    expect(ws.rule).toBe(`(Path(\`/graphql/v1\`) || PathPrefix(\`/graphql/v1/\`))${UPGRADE_MATCHER}`);
    expect(ws.middlewares).toEqual(['cors', 'rl-ip']);
    expect(ws.service).toBe('graphql');
    expect(ws.priority).toBe(http.routers.graphql.priority + 1);
    for (const p of ['/graphql/v1', '/graphql/v1/x']) {
      expect(routerFor(p, true), p).toBe('graphql-websocket');
      expect(routerFor(p), p).toBe('graphql');
    }
    expect(routerFor('/graphql', true)).toBe('graphql-short');
    expect(routerFor('/realtime/v1/websocket', true)).toBe('realtime');
    expect(http.routers.realtime.middlewares).toContain('verify');
    expect(routers.filter(([, r]) => r.rule.endsWith(UPGRADE_MATCHER)).map(([n]) => n)).toEqual(
      ROUTES.filter((r) => r.websocketAuth && r.websocketAuth !== r.auth).map((r) => `${r.name}-websocket`),
    );
  });
});
