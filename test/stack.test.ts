/**
 * The whole embedded stack (all services + gateway in one process) over a real database,
 * driven by the official supabase-js client where it applies.
 */
import { createClient } from '@supabase/supabase-js';
import pino from 'pino';
import { body } from './helpers/http.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type RunningStack } from '../cli/stack.ts';
import { SERVICE_NAMES } from '../gateway/routes.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

let db: TestDatabase;
let stack: RunningStack;

beforeAll(async () => {
  db = await createTestDatabase();
  db.config.port = 0;
  db.config.host = '127.0.0.1';
  stack = await startStack(db.config, pino({ level: 'silent' }));
});

afterAll(async () => {
  await stack?.close();
  await db?.drop();
});

describe('embedded stack', () => {
  it('GET /health reports the database and every service with response times', async () => {
    const res = await fetch(`${stack.url}/health`);
    expect(res.status).toBe(200);
    const report = await body(res);
    expect(report).toMatchObject({ status: 'ok', version: expect.any(String), timestamp: expect.any(String) });
    expect(Object.keys(report.services).sort()).toEqual(['database', 'backups', ...SERVICE_NAMES].sort());
    expect(report.services.backups.detail).toEqual({ last_verified_restore: null, last_verified_backup: null }); // never verified (backup/verify.ts)
    for (const component of Object.values(report.services) as { status: string; response_time_ms: number }[]) {
      expect(component.status).toBe('up');
      expect(component.response_time_ms).toBeGreaterThanOrEqual(0);
    }
  });

  it('auth endpoints of a signed-in user answer 401 without a user token; unknown storage and realtime routes a JSON 404', async () => {
    for (const path of ['/auth/v1/reauthenticate', '/auth/v1/user']) {
      const res = await fetch(stack.url + path, { headers: { apikey: db.config.anonKey } });
      expect(res.status, path).toBe(401);
      expect((await body(res)).error_code, path).toBe('no_authorization');
    }
    for (const path of ['/storage/v1/no/such/route', '/realtime/v1/api/nothing']) {
      const res = await fetch(stack.url + path, { headers: { apikey: db.config.anonKey } });
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect((await body(res)).message).toMatch(/not found/);
    }
  });

  it('supabase-js reaches REST with the printed anon key', async () => {
    const supabase = createClient(stack.url, db.config.anonKey, { auth: { persistSession: false } });
    const missing = await supabase.from('todos').select('*');
    expect(missing.status).toBe(404);
    expect(missing.error?.code).toBe('PGRST205');
    await db.admin.query(`create table public.todos (id int primary key, title text); insert into public.todos values (1, 'hello')`);
    const deadline = Date.now() + 5000;
    let res = await supabase.from('todos').select('*');
    while (res.error && Date.now() < deadline) res = await supabase.from('todos').select('*');
    expect(res.data).toEqual([{ id: 1, title: 'hello' }]);
  });

  it('a wrong key is refused at the edge with 401', async () => {
    const supabase = createClient(stack.url, 'eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.forged', { auth: { persistSession: false } });
    const { error, status } = await supabase.from('todos').select('*');
    expect(status).toBe(401);
    expect(error?.message).toMatch(/Invalid API key/);
  });

  it('/health answers 503 naming the database when it is gone', async () => {
    const other = await createTestDatabase();
    other.config.port = 0;
    other.config.host = '127.0.0.1';
    const doomed = await startStack(other.config, pino({ level: 'silent' }));
    try {
      await other.drop();
      const res = await fetch(`${doomed.url}/health`);
      expect(res.status).toBe(503);
      const report = await body(res);
      expect(report.status).toBe('error');
      expect(report.services.database.status).toBe('down');
      expect(report.services.rest.status).toBe('down');
      expect(report.services.auth.status).toBe('down');
      // graphql and realtime too: both need the database (their health queries it).
      expect(report.services.graphql.status).toBe('down');
      expect(report.services.realtime.status).toBe('down');
    } finally {
      await doomed.close();
    }
  });
});
