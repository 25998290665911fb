import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { envDefault } from '../config/schema.ts';
import { BODY_LIMIT_ENV, EDGE_POLICY, GATEWAY_SERVICE, HEALTH_PATH, IDENTIFY_PATH, matchRoute, RATE_LIMIT_ENV, ROUTE_GROUPS, ROUTES, VERIFY_PATH } from './routes.ts';
import { renderTemplateValues, renderTraefikDynamicConfig, routerMiddlewares, TRAEFIK_DYNAMIC_PATH, traefikDynamicConfig } from './traefik.ts';

interface Router {
  rule: string;
  priority: number;
  entryPoints: string[];
  middlewares: string[];
  service: string;
}

type Dynamic = {
  http: {
    routers: Record<string, Router>;
    middlewares: Record<string, Record<string, Record<string, unknown>>>;
    services: Record<string, { loadBalancer: { servers: { url: string }[] } }>;
  };
};
/** The file as Traefik reads it with no operator values set (every template value at its default). */
const { http } = traefikDynamicConfig() as Dynamic;
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

  it('puts CORS first everywhere, then ForwardAuth (/verify on key-checked routes, /verify/identify elsewhere), then the group\'s limit', () => {
    for (const [name, r] of routers) {
      expect(r.middlewares[0], name).toBe('cors');
      for (const m of r.middlewares) expect(http.middlewares[m], `${name} uses ${m}`).toBeDefined();
    }
    for (const route of ROUTES) {
      const chain = http.routers[route.name].middlewares;
      expect(chain[1], route.name).toBe(route.auth === 'apikey' ? 'verify' : 'identify');
      expect(chain[2], route.name).toBe(`rl-${route.group}`);
    }
    expect(http.routers.rest.middlewares).toEqual(['cors', 'verify', 'rl-rest', 'body-rest', 'strip-rest-v1']);
    expect(http.routers.storage.middlewares).toEqual(['cors', 'identify', 'rl-storage', 'strip-storage-v1']);
    expect(http.middlewares.identify.forwardAuth.address).toBe(`http://${GATEWAY_SERVICE.composeService}:${GATEWAY_SERVICE.port}${IDENTIFY_PATH}`);
    // Storage streams its uploads: there is no body limit of its group to buffer with.
    expect(() => routerMiddlewares({ ...ROUTES[0], group: 'storage', bufferBody: true })).toThrow(/no body limit/);
  });

  it('has one rate limit per route group, per minute, keyed by the caller key /verify returns, at the defaults of config/schema.ts', () => {
    for (const group of ROUTE_GROUPS) {
      const perMinute = Number(envDefault(RATE_LIMIT_ENV[group]));
      expect(http.middlewares[`rl-${group}`].rateLimit, group).toEqual({ average: perMinute, burst: perMinute, period: '1m', sourceCriterion: { requestHeaderName: 'X-Rate-Limit-Key' } });
    }
    expect(http.middlewares.verify.forwardAuth.authResponseHeaders).toContain('X-Rate-Limit-Key');
    expect(http.middlewares.identify.forwardAuth.authResponseHeaders).toEqual(http.middlewares.verify.forwardAuth.authResponseHeaders);
  });

  it('follows the operator\'s RATE_LIMIT_*, body limits, CORS_ALLOWED_ORIGINS and ADMIN_IP_ALLOWLIST as compose passes them to Traefik', () => {
    const env = {
      RATE_LIMIT_REST: '600',
      RATE_LIMIT_GRAPHQL: '0',
      RATE_LIMIT_AUTH: '',
      MAX_BODY_BYTES: '2048',
      GRAPHQL_MAX_BODY_BYTES: '4096',
      CORS_ALLOWED_ORIGINS: 'https://app.example, https://admin.example',
      ADMIN_IP_ALLOWLIST: '10.0.0.0/8,2001:db8::1',
    };
    const { http: h } = traefikDynamicConfig(env) as Dynamic;
    expect(h.middlewares['rl-rest'].rateLimit).toMatchObject({ average: 600, burst: 600, period: '1m' });
    expect(h.middlewares['rl-graphql'].rateLimit).toMatchObject({ average: 0 }); // 0: Traefik does not limit
    expect(h.middlewares['rl-auth'].rateLimit).toMatchObject({ average: Number(envDefault('RATE_LIMIT_AUTH')) }); // empty: the default
    expect(h.middlewares['body-rest'].buffering.maxRequestBodyBytes).toBe(2048);
    expect(h.middlewares['body-auth'].buffering.maxRequestBodyBytes).toBe(2048);
    expect(h.middlewares['body-graphql'].buffering.maxRequestBodyBytes).toBe(4096);
    expect(h.middlewares.cors.headers.accessControlAllowOriginList).toEqual(['https://app.example', 'https://admin.example']);
    expect(h.middlewares['admin-ips'].ipAllowList.sourceRange).toEqual(['10.0.0.0/8', '2001:db8::1']);
    // Unset: CORS for every origin, the dashboard from everywhere.
    expect(http.middlewares.cors.headers.accessControlAllowOriginList).toEqual(['*']);
    expect(http.middlewares['admin-ips'].ipAllowList.sourceRange).toEqual(['0.0.0.0/0', '::/0']);
  });

  it('is a template whose only expressions are the values above; rendered, it is plain YAML', () => {
    const text = renderTraefikDynamicConfig();
    const expressions = text.match(/\{\{[^}]*\}\}/g) ?? [];
    expect(expressions.length).toBeGreaterThan(0);
    for (const e of expressions) expect(e).toMatch(/^\{\{ (range \$i, \$v := env "[A-Z_]+" \| default "[^"]*" \| splitList ","|env "[A-Z_]+" \| default "[^"]*"|if \$i|end|trim \$v \| quote) \}\}$/);
    const rendered = renderTemplateValues(text, {});
    expect(rendered).not.toContain('{{');
    expect(() => parse(rendered)).not.toThrow();
    expect(() => renderTemplateValues('x: {{ env "HOME" | default "/" }}', {})).toThrow(/not a template value/);
    // The variables named exist in config/schema.ts with the defaults written here.
    for (const [, name, fallback] of text.matchAll(/env "([A-Z_]+)" \| default "([^"]*)"/g)) {
      if (name !== 'ADMIN_IP_ALLOWLIST') expect(fallback, name).toBe(envDefault(name as Parameters<typeof envDefault>[0]));
    }
  });

  it('gets every variable its templates read from compose, in the traefik container\'s environment', async () => {
    const compose = parse(await readFile(path.resolve(import.meta.dirname, '..', 'docker-compose.yml'), 'utf8'), { merge: true });
    const names = new Set([...renderTraefikDynamicConfig().matchAll(/env "([A-Z_]+)"/g)].map(([, n]) => n));
    const traefikEnv = Object.keys(compose.services.traefik.environment ?? {});
    const gatewayEnv = Object.keys(compose.services.gateway.environment ?? {});
    for (const name of names) {
      expect(traefikEnv, name).toContain(name);
      expect(gatewayEnv, `${name}: the gateway validates it and /verify applies it`).toContain(name);
    }
  });

  it('never buffers streamed routes (storage uploads, realtime WebSockets); each buffered group has its own body limit', () => {
    for (const name of ['storage', 'storage-short', 'realtime']) expect(http.routers[name].middlewares.some((m) => m.startsWith('body-')), name).toBe(false);
    for (const route of ROUTES) expect(http.routers[route.name].middlewares.includes(`body-${route.group}`), route.name).toBe(route.bufferBody);
    for (const [group, env] of Object.entries(BODY_LIMIT_ENV)) expect(http.middlewares[`body-${group}`].buffering.maxRequestBodyBytes, group).toBe(Number(envDefault(env)));
  });

  it('sends ForwardAuth to the gateway /verify and copies only the asserted identity headers', () => {
    const fa = http.middlewares.verify.forwardAuth;
    expect(fa.address).toBe(`http://${GATEWAY_SERVICE.composeService}:${GATEWAY_SERVICE.port}${VERIFY_PATH}`);
    expect(fa.trustForwardHeader).toBe(true);
    expect(fa.authResponseHeaders).toEqual([...EDGE_POLICY.authResponseHeaders]);
    expect(fa.authResponseHeaders).toContain('X-Tenant-Id');
  });

  it('routes every router to a defined service; the gateway serves /health and the operations pages', () => {
    for (const [name, r] of routers) expect(http.services[r.service], `${name} → ${r.service}`).toBeDefined();
    expect(http.services.gateway.loadBalancer.servers).toEqual([{ url: `http://${GATEWAY_SERVICE.composeService}:${GATEWAY_SERVICE.port}` }]);
    expect(routerFor(HEALTH_PATH)).toBe('health');
    expect(routerFor(VERIFY_PATH)).toBeUndefined();
    expect(routers.filter(([, r]) => r.service === 'gateway').map(([name]) => name)).toEqual(['health', 'dashboard', 'admin', 'ops-hooks']);
    for (const path of ['/dashboard', '/dashboard/api/summary']) expect(routerFor(path), path).toBe('dashboard');
    for (const path of ['/admin', '/admin/api/login', '/admin/assets/app.js']) expect(routerFor(path), path).toBe('admin');
    for (const path of ['/ops/hooks/dokploy', '/ops/hooks/deploy']) expect(routerFor(path), path).toBe('ops-hooks');
    // The dashboard from ADMIN_IP_ALLOWLIST only (the hooks check their own token).
    expect(http.routers.dashboard.middlewares).toContain('admin-ips');
    expect(http.routers.admin.middlewares).toContain('admin-ips');
    expect(http.routers['ops-hooks'].middlewares).not.toContain('admin-ips');
    for (const path of ['/metrics', '/dashboards', '/ops', '/administrator']) expect(routerFor(path), path).toBeUndefined();
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
    expect(ws.middlewares).toEqual(['cors', 'identify', 'rl-graphql']);
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
