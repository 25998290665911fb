/**
 * PostgREST v13 conformance suite: the §9 cases of docs/postgrest.md (./cases.ts)
 * over the fixtures in ./fixtures.sql, run against our REST engine or against a real PostgREST.
 *
 * Our engine (default): boots the embedded stack on a cloned test database with the fixtures
 * loaded and `REST_SCHEMAS=test,v1,v2`, and sends every case to `${stack.url}/rest/v1` through
 * the gateway. Cases marked `known` run as `it.fails`: the suite stays green while they fail and
 * turns red the day one of them passes (then drop its `known`).
 *
 * A real PostgREST (v13): load the fixtures into a database and start PostgREST on it with
 *
 *   psql "$DB" -f test/rest-conformance/fixtures.sql
 *   PGRST_DB_URI="$DB"                       # a role that is member of anon, authenticated, service_role
 *   PGRST_DB_SCHEMAS=test,v1,v2
 *   PGRST_DB_ANON_ROLE=anon
 *   PGRST_JWT_SECRET=test-secret-of-at-least-thirty-two-characters   # or set REST_CONFORMANCE_JWT_SECRET to yours
 *   PGRST_DB_TX_END=commit-allow-override    # Prefer: tx=commit|rollback cases
 *   PGRST_DB_AGGREGATES_ENABLED=false PGRST_DB_PLAN_ENABLED=false   (defaults)
 *   # no PGRST_DB_PRE_REQUEST, no PGRST_DB_MAX_ROWS
 *
 * then run
 *
 *   REST_CONFORMANCE_URL=http://localhost:3000 REST_CONFORMANCE_DB_URL="$DB" npx vitest run test/rest-conformance
 *
 * REST_CONFORMANCE_KNOWN=run runs the `known` cases as ordinary tests, to see how they fail.
 *
 * REST_CONFORMANCE_DB_URL lets the suite reload the fixture data (`select conformance.reset()`)
 * after mutating cases; without it, mutations leak into later cases. In this mode `known` cases
 * are ordinary tests: PostgREST is expected to pass them all.
 */
import { readFile } from 'node:fs/promises';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from '../helpers/db.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { CASES, type ConformanceCase, type RequestSpec } from './cases.ts';

const EXTERNAL_URL = process.env.REST_CONFORMANCE_URL?.replace(/\/+$/, '');
/** Run `known` cases as ordinary tests (to see how they fail): REST_CONFORMANCE_KNOWN=run. */
const EXPECT_KNOWN_TO_FAIL = !EXTERNAL_URL && process.env.REST_CONFORMANCE_KNOWN !== 'run';
const JWT_SECRET = process.env.REST_CONFORMANCE_JWT_SECRET ?? TEST_JWT_SECRET;
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

let stack: TestStack | undefined;
let admin: pg.Pool | undefined;
let baseUrl = '';
let apikey = '';
/** Whether a previous case may have changed the data (the next one reloads it first). */
let dirty = false;

function sign(payload: Record<string, unknown>): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(JWT_SECRET));
}

function mutates(c: ConformanceCase): boolean {
  return !READ_METHODS.has(c.method) || (c.setup?.length ?? 0) > 0;
}

/** Sends one request the way the case describes it; returns the response and the token used. */
async function send(r: RequestSpec): Promise<{ res: Response; text: string; token: string }> {
  const token = await sign(r.claims ?? { role: r.role ?? 'anon' });
  const headers = new Headers({ apikey });
  if (r.authorization !== null) headers.set('Authorization', (r.authorization ?? 'Bearer ${token}').replace('${token}', token));
  for (const [name, value] of Object.entries(r.headers ?? {})) headers.set(name, value);
  let body: string | undefined;
  if (r.body !== undefined) {
    body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    if (!headers.has('content-type')) headers.set('Content-Type', 'application/json');
  }
  const res = await fetch(`${baseUrl}${r.path}`, { method: r.method, headers, body });
  return { res, text: await res.text(), token };
}

function isTextExpectation(body: unknown): body is { text: string } {
  return typeof body === 'object' && body !== null && Object.keys(body).length === 1 && typeof (body as { text?: unknown }).text === 'string';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`response body is not JSON: ${JSON.stringify(text.slice(0, 500))}`);
  }
}

async function check(c: ConformanceCase): Promise<void> {
  for (const step of c.setup ?? []) await send(step);
  const { res, text, token } = await send(c);
  const { expect: want } = c;
  const context = `${c.method} ${c.path}\n→ ${res.status} ${JSON.stringify(Object.fromEntries(res.headers))}\n${text.slice(0, 2000)}`;
  expect(res.status, context).toBe(want.status);
  if (want.statusText !== undefined) expect(res.statusText, context).toBe(want.statusText);
  if (want.body !== undefined) {
    if (isTextExpectation(want.body)) expect(text, context).toBe(want.body.text);
    else {
      const expected = typeof want.body === 'string' ? want.body.replace('${token}', token) : want.body;
      expect(parseJson(text), context).toEqual(expected);
    }
  }
  if (want.bodyMatch !== undefined) expect(parseJson(text), context).toMatchObject(want.bodyMatch as object);
  for (const [name, value] of Object.entries(want.headers ?? {})) {
    if (value === null) expect(res.headers.has(name), `${context}\nheader ${name} should be absent`).toBe(false);
    else if (Array.isArray(value)) expect(name.toLowerCase() === 'set-cookie' ? res.headers.getSetCookie() : res.headers.get(name)?.split(', '), context).toEqual(value);
    else expect(res.headers.get(name), `${context}\nheader ${name}`).toBe(value);
  }
}

beforeAll(async () => {
  apikey = await sign({ role: 'anon' });
  if (EXTERNAL_URL) {
    baseUrl = EXTERNAL_URL;
    if (process.env.REST_CONFORMANCE_DB_URL) admin = new pg.Pool({ connectionString: process.env.REST_CONFORMANCE_DB_URL, max: 1 });
    else console.warn('REST_CONFORMANCE_DB_URL is not set: fixture data is not reloaded between mutating cases');
    return;
  }
  const sql = await readFile(new URL('./fixtures.sql', import.meta.url), 'utf8');
  stack = await startTestStack({ sql, env: { REST_SCHEMAS: 'test,v1,v2' } });
  admin = stack.db.admin;
  baseUrl = `${stack.stack.url}/rest/v1`;
});

afterAll(async () => {
  if (EXTERNAL_URL) await admin?.end();
  await stack?.close();
});

beforeEach(async () => {
  if (dirty && admin) await admin.query('select conformance.reset()');
  dirty = false;
});

const SECTIONS: Record<string, string> = {
  A: 'A. read & filters',
  B: 'B. embedding',
  C: 'C. insert',
  D: 'D. upsert & PUT',
  E: 'E. update',
  F: 'F. delete',
  G: 'G. RPC',
  H: 'H. range & count',
  I: 'I. singular',
  J: 'J. errors & misc',
  K: 'K. auth & roles',
};

for (const [letter, name] of Object.entries(SECTIONS)) {
  describe(name, () => {
    for (const c of CASES.filter((x) => x.id.startsWith(letter))) {
      const known = c.known !== undefined && EXPECT_KNOWN_TO_FAIL;
      const run = known ? it.fails : it;
      const title = `${c.id} ${c.title}${known ? ` [known: ${c.known}]` : ''}`;
      run(title, async () => {
        dirty ||= mutates(c);
        await check(c);
      });
    }
  });
}

it('every case has a unique id in a known section', () => {
  const ids = CASES.map((c) => c.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) expect(Object.keys(SECTIONS)).toContain(id[0]);
});
