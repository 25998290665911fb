/**
 * createServiceApp's schema compilers load on first use (core/service-app.ts): a route that
 * declares a schema still gets Fastify's ajv validation and fast-json-stringify serialization.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createServiceApp } from './service-app.ts';

describe('createServiceApp', () => {
  it('validates and serializes with Fastify own compilers when a route declares a schema', async () => {
    const app = createServiceApp({ name: 'probe', log: pino({ level: 'silent' }), logRequests: false });
    app.post(
      '/echo',
      { schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } }, response: { 200: { type: 'object', properties: { n: { type: 'integer' } } } } } },
      async (request) => ({ n: (request.body as { n: number }).n, hidden: 'dropped by the response schema' }),
    );
    await app.ready();
    const ok = await app.inject({ method: 'POST', url: '/echo', payload: { n: 7 } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ n: 7 });
    const bad = await app.inject({ method: 'POST', url: '/echo', payload: { n: 'seven' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/body\/n must be integer/);
    await app.close();
  });
});
