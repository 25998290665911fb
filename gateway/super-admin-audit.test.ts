/**
 * A foreign super-admin's request (tenant_role super_admin) is written to the audit chain before
 * /verify (Traefik's ForwardAuth) lets it through, with the forwarded method and path; a member's
 * is not; when the entry cannot be written the request is refused, 503, in the service's shape.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createJwtVerifier } from '../core/jwt.ts';
import { createTestDatabase, TEST_JWT_SECRET, testToken, type TestDatabase } from '../test/helpers/db.ts';
import { buildGatewayApp } from './app.ts';
import { superAdminAudit } from '../core/super-admin-audit.ts';

const TENANT = '7d1f0c4e-2a55-4f3e-9b1a-5a0f6c2d9e11';
const ROOT = '0b6a5a3e-8f3c-4c69-a2b1-0e7d5c4f3a21';
let db: TestDatabase;
let app: FastifyInstance;
let broken: FastifyInstance;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  db = await createTestDatabase();
  const verifier = createJwtVerifier(TEST_JWT_SECRET);
  app = await buildGatewayApp({ verifier, healthChecks: {}, log, audit: superAdminAudit(db.admin, log) });
  // An audit whose database refuses the entry.
  broken = await buildGatewayApp({ verifier, healthChecks: {}, log, audit: superAdminAudit({ query: () => Promise.reject(new Error('down')) } as never, log) });
});
afterAll(async () => {
  await app?.close();
  await broken?.close();
  await db?.drop();
});

const verify = async (gateway: FastifyInstance, token: string, method: string, uri: string) =>
  gateway.inject({ method: 'GET', url: '/verify', headers: { authorization: `Bearer ${token}`, 'x-forwarded-method': method, 'x-forwarded-uri': uri } });

describe('super-admin requests into a foreign tenant', () => {
  it('are audited (method and path, no query) before /verify lets them through; a member\'s are not', async () => {
    const root = await testToken({ role: 'authenticated', sub: ROOT, tenant_id: TENANT, tenant_role: 'super_admin', is_super_admin: true });
    const res = await verify(app, root, 'PATCH', '/rest/v1/projects?id=eq.1&select=id');
    expect(res.statusCode).toBe(200);
    const member = await testToken({ role: 'authenticated', sub: '5e0c8f7a-1b2d-4c3e-8f9a-0b1c2d3e4f5a', tenant_id: TENANT, tenant_role: 'member' });
    expect((await verify(app, member, 'GET', '/rest/v1/projects')).statusCode).toBe(200);
    const { rows } = await db.admin.query(`select action, target, tenant_id, actor_id, actor_role, detail from audit.entries where action = 'super_admin.request'`);
    expect(rows).toEqual([{ action: 'super_admin.request', target: 'PATCH /rest/v1/projects', tenant_id: TENANT, actor_id: ROOT, actor_role: 'super_admin', detail: expect.objectContaining({ route: 'rest', method: 'PATCH' }) }]);
  });

  it('are refused when the audit log cannot take the entry: 503 in the service\'s error shape', async () => {
    const root = await testToken({ role: 'authenticated', sub: ROOT, tenant_id: TENANT, tenant_role: 'super_admin' });
    const rest = await verify(broken, root, 'DELETE', '/rest/v1/projects');
    expect(rest.statusCode).toBe(503);
    expect(rest.json()).toMatchObject({ code: 'audit_unavailable', details: null, hint: null });
    const storage = await verify(broken, root, 'GET', '/storage/v1/bucket');
    expect(storage.statusCode).toBe(503);
    expect(storage.json()).toMatchObject({ statusCode: '503', error: 'Service unavailable' });
  });
});
