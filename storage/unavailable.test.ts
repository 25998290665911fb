/**
 * Storage while Postgres is not there: the storage service alone (as compose runs it) reaches
 * the test Postgres through the outage proxy (test/helpers/db-outage.ts), which forwards,
 * answers every new connection as a Postgres that is shutting down (FATAL 57P03), or refuses
 * connections. Each state but the first must be a 503 in storage's shape naming no host, port
 * or path, through supabase-js and TUS too, and the service must recover when Postgres is back.
 */
import { createClient } from '@supabase/supabase-js';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveOne, type RunningStack } from '../cli/stack.ts';
import { DATABASE_UNAVAILABLE_MESSAGE } from '../db/unavailable.ts';
import { createTestDatabase, type TestDatabase, testToken } from '../test/helpers/db.ts';
import { startDbProxy, throughProxy, type DbProxy } from '../test/helpers/db-outage.ts';

let db: TestDatabase;
let proxy: DbProxy;
let proxiedUrl: string;
let storage: RunningStack;
let userToken: string;

beforeAll(async () => {
  db = await createTestDatabase({ STORAGE_BACKEND: 'fs', STORAGE_CLEANUP_INTERVAL: '0' });
  await db.admin.query(`insert into storage.buckets (id, name, public) values ('up', 'up', false), ('uppub', 'uppub', true)`);
  await db.admin.query(`create policy "up: all" on storage.objects for all to authenticated using (bucket_id = 'up') with check (bucket_id = 'up')`);
  proxy = await startDbProxy();
  const postgres = throughProxy(db.config.postgres, proxy);
  proxiedUrl = postgres.url;
  const config = { ...db.config, host: '127.0.0.1', ports: { ...db.config.ports, storage: 0 }, postgres };
  storage = await serveOne('storage', config, pino({ level: 'silent' }));
  userToken = await testToken({ role: 'authenticated', sub: '88888888-8888-4888-8888-88888888888a' });
});

afterAll(async () => {
  await storage?.close();
  await proxy?.close();
  await db?.drop();
});

describe('storage while Postgres is unavailable', () => {
  const auth = () => ({ authorization: `Bearer ${userToken}` });
  /** One request per kind of database work: as the caller, the bucket lookup, reads, writes, TUS. */
  const requests = (): [string, string, RequestInit][] => [
    ['list buckets', '/bucket', { headers: auth() }],
    ['get bucket', '/bucket/up', { headers: auth() }],
    ['list', '/object/list/up', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"prefix":""}' }],
    ['list-v2', '/object/list-v2/up', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{}' }],
    ['upload', '/object/up/a.txt', { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'a' }],
    ['download', '/object/up/a.txt', { headers: auth() }],
    ['public download', '/object/public/uppub/a.txt', {}],
    ['sign', '/object/sign/up/a.txt', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"expiresIn":60}' }],
    ['remove', '/object/up', { method: 'DELETE', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"prefixes":["a.txt"]}' }],
    ['tus', '/upload/resumable', {
      method: 'POST',
      headers: { ...auth(), 'tus-resumable': '1.0.0', 'upload-length': '1', 'upload-metadata': `bucketName ${btoa('up')},objectName ${btoa('t.txt')}` },
    }],
  ];

  it('answers 503 in its own shape, with no host, port or path, while Postgres shuts down or is gone, and recovers', async () => {
    const client = createClient(storage.url, db.config.anonKey, {
      auth: { persistSession: false },
      global: { headers: { Authorization: `Bearer ${userToken}` }, fetch: (input, init) => fetch(String(input).replace(`${storage.url}/storage/v1`, storage.url), init) },
    });
    expect((await client.storage.from('up').upload('kept.txt', 'kept')).error).toBeNull();

    for (const mode of ['shutting-down', 'gone'] as const) {
      await (mode === 'shutting-down' ? proxy.shutDown() : proxy.cut());
      // What a driver sees in this state: Postgres's own FATAL, or no server at all.
      const probe = new pg.Client({ connectionString: proxiedUrl });
      await expect(probe.connect()).rejects.toMatchObject({ code: mode === 'shutting-down' ? '57P03' : 'ECONNREFUSED' });
      await probe.end().catch(() => undefined);
      for (const [name, path, init] of requests()) {
        const r = await fetch(`${storage.url}${path}`, init);
        const text = await r.text();
        expect(r.status, `${mode} ${name}: ${text}`).toBe(503);
        const body = JSON.parse(text) as Record<string, unknown>;
        if (name === 'tus') expect(body, `${mode} ${name}`).toMatchObject({ statusCode: '503', message: DATABASE_UNAVAILABLE_MESSAGE });
        else expect(body, `${mode} ${name}`).toEqual({ statusCode: '503', code: 'DatabaseUnavailable', error: 'Service Unavailable', message: DATABASE_UNAVAILABLE_MESSAGE });
        for (const secret of ['127.0.0.1', 'localhost', String(proxy.port), String(db.config.postgres.port), db.config.dataDir, 'ECONN', '57P03', 'shutting down']) {
          expect(text, `${mode} ${name} names ${secret}`).not.toContain(secret);
        }
      }
      const { data, error } = await client.storage.listBuckets();
      expect(data).toBeNull();
      expect(error).toMatchObject({ status: 503, message: DATABASE_UNAVAILABLE_MESSAGE });
    }

    await proxy.restore();
    const back = await client.storage.from('up').download('kept.txt');
    expect(back.error).toBeNull();
    expect(await back.data?.text()).toBe('kept');
  });
});
