/**
 * REST error answers at the edges of a request: an unsecured JWT (`alg: none`) is PostgREST's
 * 401 PGRST301, percent-encoded bytes that are not UTF-8 are a 400 (not a silent `200 []`), and
 * while Postgres cannot be reached or drops the connection the answer is a 503 PGRST000/PGRST001
 * that names no host, port or socket path. Real Postgres throughout; the unreachable one is a
 * port nothing listens on.
 */
import { UnsecuredJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtVerifier } from '../core/jwt.ts';
import { TEST_JWT_SECRET } from '../test/helpers/db.ts';
import { freePort } from '../test/helpers/net.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { loadCatalog } from '../db/catalog.ts';
import { handleRestRequest, type RestEngineOptions } from './engine.ts';
import { buildRestModel } from './model-build.ts';
import type { RestModel } from './model.ts';

const SCHEMA = `
set search_path = public;
create table words (id int primary key, word text);
insert into words values (1, 'café'), (2, 'naïve');
create function slow_words(seconds float8) returns setof words language sql as $$ select pg_sleep(seconds); select * from words $$;
`;

let t: TestStack;
let model: RestModel;

/** One request straight to the REST engine (no gateway in front), over `pool`. */
function engine(pool: pg.Pool, path: string, headers: Record<string, string> = {}) {
  const opts: RestEngineOptions = { pool, verifier: createJwtVerifier(TEST_JWT_SECRET), schemas: ['public'], model: () => model };
  const [p, search = ''] = path.split('?');
  return handleRestRequest(opts, { method: 'GET', path: p, search, headers });
}

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${t.stack.url}/rest/v1${path}`, { headers: { apikey: t.db.config.anonKey, ...headers } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: JSON.parse(text) as Record<string, unknown> };
}

beforeAll(async () => {
  t = await startTestStack({ sql: SCHEMA });
  model = buildRestModel(await loadCatalog(t.db.admin, ['public']), ['public']);
});

afterAll(() => t?.close());

describe('alg: none', () => {
  const unsecured = () => new UnsecuredJWT({ role: 'service_role' }).setExpirationTime('1h').encode();
  const expected = { code: 'PGRST301', details: "JWT is unsecured but expected 'alg' was not 'none'", hint: null, message: 'Wrong or unsupported encoding algorithm' };

  it('is 401 PGRST301 through the gateway, with the invalid_token challenge', async () => {
    const res = await get('/words', { Authorization: `Bearer ${unsecured()}` });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(expected);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token", error_description="Wrong or unsupported encoding algorithm"');
  });

  it('is 401 PGRST301 from the REST service itself (compose: no gateway check in front)', async () => {
    const res = await engine(t.db.admin, '/words', { authorization: `Bearer ${unsecured()}` });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body!)).toEqual(expected);
  });
});

describe('percent-encoded bytes that are not UTF-8', () => {
  it('are a 400 naming the bytes, wherever they are in the query string', async () => {
    for (const [path, bytes] of [
      ['/words?word=eq.%C3%28', '0xc3 0x28'],
      ['/words?word=eq.%FF', '0xff'],
      ['/words?word=in.(caf%C3,x)', '0xc3 0x2c'],
      ['/words?or=(word.eq.%E2%82)', '0xe2 0x82 0x29'],
      ['/words?select=%ED%A0%80', '0xed 0xa0 0x80'],
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(400);
      expect(res.body, path).toEqual({ code: 'PGRST100', details: `invalid byte sequence for encoding "UTF8": ${bytes}`, hint: null, message: 'The query string is not valid UTF-8' });
    }
  });

  it('valid UTF-8, `+` and a stray `%` decode as before', async () => {
    expect((await get('/words?word=eq.caf%C3%A9&select=id')).body).toEqual([{ id: 1 }]);
    expect((await get('/words?word=in.(na%C3%AFve,x%zz)&select=id')).body).toEqual([{ id: 2 }]);
    const plus = await get('/words?select=id&word=eq.a+b');
    expect(plus.status).toBe(200);
    expect(plus.body).toEqual([]);
  });
});

describe('Postgres unavailable', () => {
  const noInternals = (text: string, port: number) => {
    expect(text).not.toContain(String(port));
    expect(text).not.toMatch(/127\.0\.0\.1|localhost|ECONNREFUSED|\/tmp|\.s\.PGSQL/);
  };

  it('no server listening: 503 PGRST000 with Retry-After, no host or port', async () => {
    const port = await freePort();
    const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'nobody', database: 'none', connectionTimeoutMillis: 2000 });
    pool.on('error', () => undefined);
    try {
      const res = await engine(pool, '/words');
      expect(res.status).toBe(503);
      expect(res.headers['Retry-After']).toBe('1');
      expect(JSON.parse(res.body!)).toEqual({ code: 'PGRST000', details: 'The database is not available right now. Retry shortly.', hint: null, message: 'Database connection error. Retrying the connection.' });
      noInternals(res.body!, port);
    } finally {
      await pool.end();
    }
  });

  it('connections refused by the server (too many): 503 PGRST000; a connection lost mid-request: 503 PGRST001', async () => {
    const port = t.db.config.postgres.port;
    // Only the request pool's backends (application_name of the embedded stack's pools): other
    // services keep their own connections.
    const terminate = (filter: string) =>
      t.db.admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and usename = 'authenticator' and application_name = 'nextmavens' ${filter}`);
    // Lost mid-request: the backend running the call is terminated (57P01, then the socket closes).
    const pending = get('/rpc/slow_words?seconds=5');
    for (let i = 0; i < 100 && (await t.db.admin.query(`select 1 from pg_stat_activity where query like '%slow_words%' and usename = 'authenticator'`)).rowCount === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await terminate(`and query like '%slow_words%'`);
    const lost = await pending;
    expect(lost.status).toBe(503);
    expect(lost.body).toMatchObject({ code: 'PGRST001', message: 'Database client error. Retrying the connection.' });
    noInternals(lost.text, port);

    // Refused: the database takes no more connections from the API role (53300).
    await t.db.admin.query(`alter database ${t.db.name} connection limit 0`);
    try {
      await terminate('');
      const refused = await get('/words');
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body).toMatchObject({ code: 'PGRST000', message: 'Database connection error. Retrying the connection.' });
      noInternals(refused.text, port);
    } finally {
      await t.db.admin.query(`alter database ${t.db.name} connection limit -1`);
    }
    expect((await get('/words?select=id&id=eq.1')).body).toEqual([{ id: 1 }]);
  });
});
