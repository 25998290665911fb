import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { GATEWAY_SERVICE, ROUTES, SERVICES, VERIFY_PATH } from './routes.ts';
import { renderTraefikDynamicConfig, TRAEFIK_DYNAMIC_PATH } from './traefik.ts';

interface Router {
  rule: string;
  priority: number;
  middlewares: string[];
  service: string;
}

const generated = parse(renderTraefikDynamicConfig()).http as {
  routers: Record<string, Router>;
  middlewares: Record<string, Record<string, Record<string, unknown>>>;
  services: Record<string, unknown>;
};

describe('generated Traefik configuration', () => {
  it('is what is committed (run `npm run gen -- traefik` after changing the route table)', async () => {
    const committed = await readFile(path.resolve(import.meta.dirname, '..', TRAEFIK_DYNAMIC_PATH), 'utf8');
    expect(committed).toBe(renderTraefikDynamicConfig());
  });

  it('has one router per route, CORS first, ForwardAuth on key-checked routes', () => {
    for (const route of ROUTES) {
      const router = generated.routers[route.name];
      expect(router, route.name).toBeDefined();
      expect(router.rule).toBe(`Path(\`${route.prefix}\`) || PathPrefix(\`${route.prefix}/\`)`);
      expect(router.middlewares[0]).toBe('cors');
      expect(router.middlewares.includes('verify')).toBe(route.auth === 'apikey');
      if (router.middlewares.includes('rl-tenant')) {
        expect(router.middlewares.indexOf('verify')).toBeLessThan(router.middlewares.indexOf('rl-tenant'));
      }
      expect(generated.services[router.service], router.service).toBeDefined();
    }
  });

  it('never buffers streamed routes (storage uploads, realtime WebSockets)', () => {
    for (const name of ['storage', 'storage-short', 'realtime']) {
      expect(generated.routers[name].middlewares).not.toContain('body-limit');
    }
    expect(generated.routers.rest.middlewares).toContain('body-limit');
  });

  it('sends ForwardAuth to the gateway /verify and trusts only its identity headers', () => {
    const fa = generated.middlewares.verify.forwardAuth;
    expect(fa.address).toBe(`http://${GATEWAY_SERVICE.composeService}:${GATEWAY_SERVICE.port}${VERIFY_PATH}`);
    expect(fa.authResponseHeaders).toEqual(['X-User-Role', 'X-User-Id', 'X-Tenant-Id']);
  });

  it('lets longer prefixes win and strips prefixes the services do not expect', () => {
    const r = generated.routers;
    expect(r.graphql.priority).toBeGreaterThan(r['graphql-short'].priority);
    expect(r.storage.priority).toBeGreaterThan(r['storage-short'].priority);
    expect(r['auth-open-verify'].priority).toBeGreaterThan(r.auth.priority);
    expect(generated.middlewares['strip-rest-v1'].stripPrefix.prefixes).toEqual(['/rest/v1']);
    for (const [name, s] of Object.entries(SERVICES)) {
      expect(JSON.stringify(generated.services[name])).toContain(`http://${s.composeService}:${s.port}`);
    }
  });
});
