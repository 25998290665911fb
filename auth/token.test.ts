/**
 * POST /token against the auth app alone (app.inject, no gateway, no stack): the grant_type
 * dispatch of auth/routes/token/index.ts, the grants' refusals in both of GoTrue's error shapes,
 * and the password and refresh_token grants over a real database.
 */
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { buildAuthApp } from './service.ts';

let db: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  db = await createTestDatabase({ AUTH_BCRYPT_COST: '4', AUTH_AUTOCONFIRM: 'true' });
  app = await buildAuthApp({ config: db.config, pool: db.admin, log: pino({ level: 'silent' }), logRequests: false });
});

afterAll(async () => {
  await app?.close();
  await db?.drop();
});

const token = (grant: string | undefined, payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: grant === undefined ? '/token' : `/token?grant_type=${encodeURIComponent(grant)}`, payload, headers });

describe('POST /token', () => {
  it('an unknown, missing or inherited grant_type is 400 unsupported_grant_type, in the legacy and the 2024-01-01 shape', async () => {
    for (const grant of [undefined, 'client_credentials', 'toString', '__proto__']) {
      const legacy = await token(grant, {});
      expect(legacy.statusCode).toBe(400);
      expect(legacy.headers['x-sb-error-code']).toBe('unsupported_grant_type');
      expect(legacy.json()).toEqual({ code: 400, error_code: 'unsupported_grant_type', msg: 'unsupported_grant_type' });
      const modern = await token(grant, {}, { 'x-supabase-api-version': '2024-01-01' });
      expect(modern.statusCode).toBe(400);
      expect(modern.json()).toEqual({ code: 'unsupported_grant_type', message: 'unsupported_grant_type' });
    }
  });

  it('grant_type may come in the body too; web3 and id_token answer as a GoTrue without those providers', async () => {
    const body = await app.inject({ method: 'POST', url: '/token', payload: { grant_type: 'web3' } });
    expect(body.statusCode).toBe(422);
    expect(body.json().error_code).toBe('web3_provider_disabled');
    const noToken = await token('id_token', { provider: 'google' });
    expect(noToken.statusCode).toBe(400);
    expect(noToken.json()).toEqual({ error: 'invalid request', error_description: 'id_token required' });
  });

  it('password then refresh_token: a session, then a rotated one; the spent token again after the reuse interval ends the session', async () => {
    const email = `ann-${Date.now()}@example.com`;
    const signup = await app.inject({ method: 'POST', url: '/signup', payload: { email, password: 'correct horse' } });
    expect(signup.statusCode).toBe(200);
    const wrong = await token('password', { email, password: 'wrong horse' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error_code).toBe('invalid_credentials');
    const session = await token('password', { email, password: 'correct horse' });
    expect(session.statusCode).toBe(200);
    const first = session.json();
    expect(first.user.email).toBe(email);
    const refreshed = await token('refresh_token', { refresh_token: first.refresh_token });
    expect(refreshed.statusCode).toBe(200);
    const second = refreshed.json();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    // Make the first token's revocation older than the reuse interval: replaying it is theft.
    await db.admin.query(`update auth.refresh_tokens set updated_at = now() - interval '1 hour' where token = $1`, [first.refresh_token]);
    const replay = await token('refresh_token', { refresh_token: first.refresh_token });
    expect(replay.statusCode).toBe(400);
    expect(replay.json().error_code).toBe('refresh_token_already_used');
    const afterTheft = await token('refresh_token', { refresh_token: second.refresh_token });
    expect(afterTheft.statusCode).toBe(400);
    expect(afterTheft.json().error_code).toBe('refresh_token_not_found');
  });
});
