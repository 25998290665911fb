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
