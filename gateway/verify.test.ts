import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { deriveApiKey } from '../config/keys.ts';
import { createJwtVerifier } from '../core/jwt.ts';
import { NO_TENANT, verifyRequest } from '../core/caller.ts';

const SECRET = 'verify-test-secret-with-more-than-32-chars';
const verifier = createJwtVerifier(SECRET);
const key = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

function sign(claims: Record<string, unknown>, opts: { secret?: Uint8Array; alg?: string; exp?: number; iat?: number } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
    .setIssuedAt(opts.iat ?? now())
    .setExpirationTime(opts.exp ?? now() + 3600)
    .sign(opts.secret ?? key);
}

describe('verifyRequest', () => {
  it('admits the anon and service_role API keys', async () => {
    for (const role of ['anon', 'service_role'] as const) {
      const result = await verifyRequest(verifier, { apikey: await deriveApiKey(role, SECRET) }, '/rest/v1/x');
      expect(result).toMatchObject({ ok: true, identity: { role, userId: '', tenantId: NO_TENANT } });
    }
  });

  it('takes the caller from the Bearer token: user id and tenant (top-level or app_metadata)', async () => {
    const apikey = await deriveApiKey('anon', SECRET);
    const top = await sign({ role: 'authenticated', sub: 'u1', tenant_id: 't1' });
    expect(await verifyRequest(verifier, { apikey, authorization: `Bearer ${top}` }, '/')).toMatchObject({
      ok: true,
      identity: { role: 'authenticated', userId: 'u1', tenantId: 't1' },
    });
    const meta = await sign({ role: 'authenticated', sub: 'u2', app_metadata: { tenant_id: 't2' } });
    expect(await verifyRequest(verifier, { apikey, authorization: `bearer ${meta}` }, '/')).toMatchObject({
      ok: true,
      identity: { userId: 'u2', tenantId: 't2' },
    });
  });

  it('reads the API key from the query string (WebSockets cannot send headers)', async () => {
    const apikey = await deriveApiKey('anon', SECRET);
    const result = await verifyRequest(verifier, {}, `/realtime/v1/websocket?apikey=${apikey}&vsn=1.0.0`);
    expect(result.ok).toBe(true);
  });

  it('refuses requests without any key', async () => {
    expect(await verifyRequest(verifier, {}, '/rest/v1/x')).toMatchObject({ ok: false, status: 401, body: { code: 'no_api_key' } });
  });

  it('refuses expired, tampered, wrong-secret, alg:none and garbage tokens', async () => {
    const apikey = await deriveApiKey('anon', SECRET);
    const expired = await sign({ role: 'authenticated' }, { iat: now() - 7200, exp: now() - 3600 });
    const wrongSecret = await sign({ role: 'service_role' }, { secret: new TextEncoder().encode('another-secret-of-more-than-32-chars!!') });
    const valid = await sign({ role: 'authenticated', sub: 'u1' });
    const [h, , s] = valid.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ role: 'service_role', sub: 'u1', exp: now() + 3600 })).toString('base64url')}.${s}`;
    const none = new UnsecuredJWT({ role: 'service_role' }).setExpirationTime('1h').encode();
    const cases: [string, string][] = [
      [expired, 'jwt_expired'],
      [wrongSecret, 'jwt_invalid_signature'],
      [tampered, 'jwt_invalid_signature'],
      [none, 'jwt_invalid'],
      ['not-a-jwt', 'jwt_malformed'],
    ];
    for (const [token, code] of cases) {
      expect(await verifyRequest(verifier, { apikey, authorization: `Bearer ${token}` }, '/'), code).toMatchObject({
        ok: false,
        status: 401,
        body: { code },
      });
      expect((await verifyRequest(verifier, { apikey: token }, '/')).ok).toBe(false);
    }
  });

  it('refuses an empty Bearer token and a token issued in the future', async () => {
    const apikey = await deriveApiKey('anon', SECRET);
    expect((await verifyRequest(verifier, { apikey, authorization: 'Bearer ' }, '/')).ok).toBe(false);
    const future = await sign({ role: 'anon' }, { iat: now() + 3600, exp: now() + 7200 });
    expect((await verifyRequest(verifier, { apikey: future }, '/')).ok).toBe(false);
  });

  it('refuses roles other than the API roles, even correctly signed', async () => {
    for (const role of ['postgres', 'nextmavens', 'authenticator']) {
      const token = await sign({ role });
      expect(await verifyRequest(verifier, { apikey: token }, '/')).toMatchObject({ ok: false, body: { code: 'invalid_role' } });
    }
  });

  it('tolerates 30 s of clock skew on exp, like PostgREST', async () => {
    const justExpired = await sign({ role: 'anon' }, { iat: now() - 100, exp: now() - 10 });
    expect((await verifyRequest(verifier, { apikey: justExpired }, '/')).ok).toBe(true);
  });
});

describe('asymmetric tokens with a configured JWKS', () => {
  it('verifies ES256 tokens by kid, still accepts HS256, refuses unknown keys', async () => {
    const { generateKeyPair, exportJWK } = await import('jose');
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const other = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const withJwks = createJwtVerifier(SECRET, { keys: [jwk] });
    const es = (key: Parameters<SignJWT["sign"]>[0], kid: string) =>
      new SignJWT({ role: 'authenticated', sub: 'u' }).setProtectedHeader({ alg: 'ES256', kid }).setIssuedAt().setExpirationTime('1h').sign(key);
    expect((await withJwks.verify(await es(privateKey, 'k1'))).sub).toBe('u');
    expect((await withJwks.verify(await sign({ role: 'anon' }))).role).toBe('anon');
    await expect(withJwks.verify(await es(other.privateKey, 'k1'))).rejects.toMatchObject({ code: 'jwt_invalid_signature' });
    await expect(withJwks.verify(await es(privateKey, 'unknown'))).rejects.toMatchObject({ code: 'jwt_invalid_signature' });
    // Without a JWKS, asymmetric tokens are refused outright.
    await expect(verifier.verify(await es(privateKey, 'k1'))).rejects.toMatchObject({ code: 'jwt_invalid' });
  });
});
