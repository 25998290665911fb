/**
 * Compose mode: each service alone on its own port (`nextmavens serve <name>`), and the gateway
 * alone serving /verify for Traefik's ForwardAuth and /health over the network.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveOne } from '../cli/stack.ts';
import { SERVICE_NAMES, SERVICES } from '../gateway/routes.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { body } from './helpers/http.ts';
import { freePort } from './helpers/net.ts';

let db: TestDatabase;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  db = await createTestDatabase();
  db.config.host = '127.0.0.1';
  db.config.port = 0;
  for (const name of SERVICE_NAMES) db.config.ports[name] = 0;
});

afterAll(() => db?.drop());

describe('serve <service>', () => {
  it('runs each service alone at its root path (Traefik strips the prefix), answering its health path', async () => {
    for (const name of SERVICE_NAMES) {
      const running = await serveOne(name, db.config, log);
      try {
        const health = await fetch(`${running.url}${SERVICES[name].healthPath}`);
        expect(health.status, name).toBe(200);
      } finally {
        await running.close();
      }
    }
  });

  it('serves its /metrics on METRICS_PORT, not on its own port (where it would be an API path)', async () => {
    const metricsPort = await freePort();
    const running = await serveOne('storage', { ...db.config, ops: { ...db.config.ops, metricsPort } }, log);
    try {
      const url = `http://127.0.0.1:${metricsPort}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      const res = await fetch(url, { headers: { authorization: `Bearer ${db.config.serviceRoleKey}` } });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain('nextmavens_db_pool_connections{pool="admin"');
      expect(text).toContain('nextmavens_postgres_up 1');
      expect((await fetch(`${running.url}/metrics`)).status).not.toBe(200);
    } finally {
      await running.close();
    }
  });

  it('the gateway alone answers ForwardAuth and reports unreachable services as down (503)', async () => {
    const running = await serveOne('gateway', db.config, log);
    try {
      const ok = await fetch(`${running.url}/verify`, { headers: { apikey: db.config.serviceRoleKey } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-user-role')).toBe('service_role');
      expect((await fetch(`${running.url}/verify`)).status).toBe(401);
      // Outside compose the service hosts (rest, auth, …) do not resolve.
      const health = await fetch(`${running.url}/health`);
      expect(health.status).toBe(503);
      const report = await body(health);
      expect(report.services.database.status).toBe('up');
      expect(report.services.auth.status).toBe('down');
    } finally {
      await running.close();
    }
  });
});
