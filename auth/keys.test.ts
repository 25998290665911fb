/**
 * Asymmetric access tokens (JWT_SIGNING_KEYS): ES256 tokens with a `kid`, the public JWKS that
 * auth-js `getClaims()` verifies with, every service accepting them (gateway /verify, REST with
 * RLS, auth, GraphQL, storage, realtime), key rotation across a restart, and the forgeries every
 * service must refuse (wrong key, unknown kid, alg:none, HS256 with the public key, expired,
 * tampered).
 */
import { createPublicKey } from 'node:crypto';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type RunningStack } from '../cli/stack.ts';
import { loadConfig, type Config } from '../config/load.ts';
import { createTokenSigner, generateSigningJwk, parseSigningKeys, publicJwks } from '../config/keys.ts';
import { createJwtVerifier } from '../core/jwt.ts';
import { TEST_JWT_SECRET, type TestDatabase } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const K1 = generateSigningJwk('ES256');
const K2 = generateSigningJwk('ES256');
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const decode = (token: string, part: 0 | 1) => JSON.parse(Buffer.from(token.split('.')[part], 'base64url').toString()) as Record<string, unknown>;
const now = () => Math.floor(Date.now() / 1000);

describe('JWT_SIGNING_KEYS parsing and the verifier (no stack)', () => {
  it('accepts ES256 and RS256 private JWKs and publishes only their public halves', async () => {
    const rsa = generateSigningJwk('RS256');
    const keys = parseSigningKeys(JSON.stringify([K1, rsa]));
    expect(keys.map((k) => [k.kid, k.alg])).toEqual([[K1.kid, 'ES256'], [rsa.kid, 'RS256']]);
    const jwks = publicJwks({ signingKeys: keys });
    expect(jwks.keys[0]).toEqual({ kty: 'EC', crv: 'P-256', x: K1.x, y: K1.y, kid: K1.kid, alg: 'ES256', use: 'sig', key_ops: ['verify'] });
    expect(jwks.keys[1]).toEqual({ kty: 'RSA', n: rsa.n, e: rsa.e, kid: rsa.kid, alg: 'RS256', use: 'sig', key_ops: ['verify'] });
    for (const k of jwks.keys) for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(k).not.toHaveProperty(member);
    // A JWKS document is accepted as well as a bare array.
    expect(parseSigningKeys(JSON.stringify({ keys: [K2] }))[0].kid).toBe(K2.kid);
    // An RS256 token signed by the signer verifies with the published key.
    const signer = createTokenSigner({ jwtSecret: TEST_JWT_SECRET, signingKeys: [keys[1]] });
    const token = await signer.sign(new SignJWT({ role: 'authenticated' }).setExpirationTime('1h').setIssuedAt());
    expect(decode(token, 0)).toEqual({ alg: 'RS256', typ: 'JWT', kid: rsa.kid });
    expect((await createJwtVerifier(TEST_JWT_SECRET, jwks).verify(token)).role).toBe('authenticated');
  });

  it('refuses bad keys with a clear message', async () => {
    const p384 = await exportJWK((await generateKeyPair('ES384', { extractable: true })).privateKey);
    const { d: _d, ...publicOnly } = K1;
    const cases: [unknown, RegExp][] = [
      ['not json', /JSON array/],
      ['[]', /non-empty/],
      [[{ ...K1, kid: undefined }], /no "kid"/],
      [[K1, K1], /appears twice/],
      [[publicOnly], /not a private key/],
      [[{ ...p384, kid: 'p384' }], /P-256/],
      [[{ kty: 'oct', k: 'c2VjcmV0', kid: 'hs' }], /kty must be EC/],
      [[{ ...K1, alg: 'RS256' }], /does not fit/],
      [[{ ...K1, d: 'AAAA' }], /cannot be imported/],
    ];
    for (const [raw, message] of cases) expect(() => parseSigningKeys(typeof raw === 'string' ? raw : JSON.stringify(raw))).toThrow(message);
    await expect(loadConfig({ JWT_SECRET: TEST_JWT_SECRET, DATABASE_URL: 'postgres://x@h/db', JWT_SIGNING_KEYS: '[{}]' })).rejects.toThrow(/JWT_SIGNING_KEYS: key 1/);
  });

  it('config: signing keys come first in the verification JWKS, then JWT_JWKS; HS256 stays the default', async () => {
    const base = { JWT_SECRET: TEST_JWT_SECRET, DATABASE_URL: 'postgres://x@h/db' };
    const hs = await loadConfig(base);
    expect(hs.signingKeys).toEqual([]);
    expect(hs.jwks).toBeUndefined();
    expect(createTokenSigner(hs).alg).toBe('HS256');
    expect(publicJwks(hs)).toEqual({ keys: [] }); // the HS secret is never published
    const foreign = { ...(await exportJWK((await generateKeyPair('ES256')).publicKey)), kid: 'idp' };
    const cfg = await loadConfig({ ...base, JWT_SIGNING_KEYS: JSON.stringify([K2, K1]), JWT_JWKS: JSON.stringify({ keys: [foreign] }) });
    expect(cfg.jwks?.keys.map((k) => k.kid)).toEqual([K2.kid, K1.kid, 'idp']);
    expect(createTokenSigner(cfg)).toMatchObject({ alg: 'ES256', kid: K2.kid });
    expect(publicJwks(cfg).keys.map((k) => k.kid)).toEqual([K2.kid, K1.kid]); // other issuers' keys are not published
  });

  it('verifier: ignores oct keys and private members in the JWKS; without kid, any fitting key may verify', async () => {
    const a = await generateKeyPair('ES256', { extractable: true });
    const b = await generateKeyPair('ES256', { extractable: true });
    // A private JWK pasted into JWT_JWKS still verifies (as its public half); an oct key is never used.
    const jwks = { keys: [{ kty: 'oct', k: Buffer.from('x'.repeat(40)).toString('base64url'), kid: 'hs' }, await exportJWK(b.privateKey), await exportJWK(a.publicKey)] as JWK[] };
    const v = createJwtVerifier(TEST_JWT_SECRET, jwks);
    const es = (key: Parameters<SignJWT["sign"]>[0], header: Record<string, string> = {}) =>
      new SignJWT({ role: 'authenticated' }).setProtectedHeader({ alg: 'ES256', ...header }).setIssuedAt().setExpirationTime('1h').sign(key);
    expect((await v.verify(await es(a.privateKey))).role).toBe('authenticated');
    expect((await v.verify(await es(b.privateKey))).role).toBe('authenticated');
    const c = await generateKeyPair('ES256');
    await expect(v.verify(await es(c.privateKey))).rejects.toMatchObject({ code: 'jwt_invalid_signature' });
    const hsWithOct = await new SignJWT({ role: 'authenticated' }).setProtectedHeader({ alg: 'HS256', kid: 'hs' }).setIssuedAt().setExpirationTime('1h').sign(Buffer.from('x'.repeat(40)));
    await expect(v.verify(hsWithOct)).rejects.toMatchObject({ code: 'jwt_invalid_signature' });
  });
});

describe('ES256 access tokens end to end', () => {
  let t: TestStack;
  let db: TestDatabase;
  let stack: RunningStack;
  /** The stack now running (t.stack until the first restart). */
  let running: RunningStack | undefined;
  const sockets: WebSocket[] = [];
  const TENANT = '00000000-0000-4000-8000-0000000000e5';

  const client = (): SupabaseClient => createClient(stack.url, db.config.anonKey, { auth: { persistSession: false, autoRefreshToken: false } });

  /** Restarts the stack on the same database with other signing keys (a deploy with new config). */
  async function restartWith(keys: JWK[]): Promise<Config> {
    const previous = running;
    running = undefined;
    await previous?.close();
    const config = await loadConfig({
      DATABASE_URL: db.url,
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'silent',
      DATA_DIR: db.config.dataDir,
      POSTGRESQL_REPLICATION_SLOT: db.name,
      AUTH_BCRYPT_COST: '4',
      JWT_SIGNING_KEYS: JSON.stringify(keys),
    });
    config.port = 0;
    config.host = '127.0.0.1';
    running = stack = await startStack(config, pino({ level: 'silent' }));
    return config;
  }

  /** Which services let `token` in: the edge, REST, auth, GraphQL, storage and a realtime join. */
  async function acceptedBy(token: string): Promise<Record<string, boolean>> {
    const headers = { apikey: db.config.anonKey, authorization: `Bearer ${token}` };
    const ok = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${stack.url}${path}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
      await res.arrayBuffer();
      return res.status === 200;
    };
    return {
      verify: await ok('/verify'),
      rest: await ok('/rest/v1/notes?select=id'),
      auth: await ok('/auth/v1/user'),
      graphql: await ok('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) }),
      storage: await ok('/storage/v1/bucket'),
      realtime: await realtimeJoin(token),
    };
  }

  async function realtimeJoin(token: string): Promise<boolean> {
    const ws = new WebSocket(`${stack.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${db.config.anonKey}&vsn=1.0.0`);
    sockets.push(ws);
    const reply = new Promise<string>((resolve) => {
      ws.onmessage = (e) => {
        const m = JSON.parse(String(e.data)) as { event: string; payload: { status: string } };
        if (m.event === 'phx_reply') resolve(m.payload.status);
      };
    });
    await new Promise((r) => (ws.onopen = r));
    ws.send(JSON.stringify({ topic: 'realtime:keys', event: 'phx_join', payload: { config: {}, access_token: token }, ref: '1', join_ref: '1' }));
    const status = await reply;
    ws.close();
    return status === 'ok';
  }
  const everywhere = { verify: true, rest: true, auth: true, graphql: true, storage: true, realtime: true };
  const nowhere = { verify: false, rest: false, auth: false, graphql: false, storage: false, realtime: false };

  let annToken = '';
  let annId = '';

  beforeAll(async () => {
    t = await startTestStack({
      env: { AUTH_BCRYPT_COST: '4', JWT_SIGNING_KEYS: JSON.stringify([K1]) },
      sql: `
      insert into public.tenants (id, name) values ('${TENANT}', 'Keys');
      create table public.notes (id bigint generated always as identity primary key, owner uuid not null default auth.uid(), body text);
      alter table public.notes enable row level security;
      create policy own_notes on public.notes using (owner = auth.uid()) with check (owner = auth.uid());
      grant select, insert on public.notes to authenticated;
    `,
    });
    ({ db, stack } = t);
    running = t.stack;
  });

  afterAll(async () => {
    for (const ws of sockets) ws.close();
    await running?.close();
    await db?.drop();
  });

  it('signUp / signInWithPassword issue ES256 tokens with the kid; the JWKS lists public keys only (no apikey needed)', async () => {
    const sb = client();
    const up = await sb.auth.signUp({ email: 'ann@example.com', password: 'secret123' });
    expect(up.error).toBeNull();
    const { data, error } = await sb.auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' });
    expect(error).toBeNull();
    annToken = data.session!.access_token;
    annId = data.user!.id;
    expect(decode(annToken, 0)).toEqual({ alg: 'ES256', typ: 'JWT', kid: K1.kid });
    expect(decode(annToken, 1)).toMatchObject({ sub: annId, role: 'authenticated', aud: 'authenticated', iss: `${db.config.publicUrl}/auth/v1` });

    const res = await fetch(`${stack.url}/auth/v1/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=600');
    const jwks = (await res.json()) as { keys: JWK[] };
    expect(jwks.keys).toEqual([{ kty: 'EC', crv: 'P-256', x: K1.x, y: K1.y, kid: K1.kid, alg: 'ES256', use: 'sig', key_ops: ['verify'] }]);
    expect(JSON.stringify(jwks)).not.toContain(K1.d!);
    expect(JSON.stringify(jwks)).not.toContain(Buffer.from(TEST_JWT_SECRET).toString('base64url'));
  });

  it('getClaims() verifies ES256 locally with the JWKS (no /user call); HS256 tokens fall back to getUser', async () => {
    const calls: string[] = [];
    const sb = createClient(stack.url, db.config.anonKey, {
      auth: { persistSession: false, autoRefreshToken: false, storageKey: 'keys-test-getclaims' },
      global: { fetch: (input, init) => (calls.push(new URL(String(input instanceof Request ? input.url : input)).pathname), fetch(input, init)) },
    });
    const { data, error } = await sb.auth.getClaims(annToken);
    expect(error).toBeNull();
    expect(data?.header).toMatchObject({ alg: 'ES256', kid: K1.kid });
    expect(data?.claims).toMatchObject({ sub: annId, role: 'authenticated' });
    expect(calls).toEqual(['/auth/v1/.well-known/jwks.json']);
    // Cached: a second call does not fetch anything.
    expect((await sb.auth.getClaims(annToken)).error).toBeNull();
    expect(calls).toHaveLength(1);

    // A forged ES256 token (other key, same kid) fails locally.
    const other = await generateKeyPair('ES256');
    const forged = await new SignJWT(decode(annToken, 1)).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: K1.kid }).sign(other.privateKey);
    expect((await sb.auth.getClaims(forged)).error?.message).toMatch(/Invalid JWT signature/);

    // HS256 with JWT_SECRET (still accepted while migrating) has no kid: auth-js asks GET /user.
    const hs = await new SignJWT(decode(annToken, 1)).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(TEST_JWT_SECRET));
    calls.length = 0;
    const viaUser = await sb.auth.getClaims(hs);
    expect(viaUser.error).toBeNull();
    expect(viaUser.data?.claims.sub).toBe(annId);
    expect(calls).toEqual(['/auth/v1/user']);
    const badHs = await new SignJWT(decode(annToken, 1)).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode('x'.repeat(40)));
    expect((await sb.auth.getClaims(badHs)).error).not.toBeNull();
  });

  it('REST with RLS on auth.uid() works with the ES256 token; another user sees none of it', async () => {
    const sb = client();
    await sb.auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' });
    expect((await sb.from('notes').insert({ body: 'ann only' })).error).toBeNull();
    const mine = await sb.from('notes').select('body, owner');
    expect(mine.data).toEqual([{ body: 'ann only', owner: annId }]);
    const bob = client();
    expect((await bob.auth.signUp({ email: 'bob@example.com', password: 'secret123' })).error).toBeNull();
    expect((await bob.from('notes').select('body')).data).toEqual([]);
    expect((await bob.from('notes').insert({ body: 'spoof', owner: annId })).error?.code).toBe('42501');
  });

  it('every service accepts the ES256 token', async () => {
    expect(await acceptedBy(annToken)).toEqual(everywhere);
  });

  it('every service refuses forgeries: wrong key, unknown kid, alg:none, HS256 with the public key, expired, tampered', async () => {
    const claims = decode(annToken, 1);
    const other = await generateKeyPair('ES256');
    const k1 = parseSigningKeys(JSON.stringify([K1]))[0].privateKey;
    const es = (payload: Record<string, unknown>, key: Parameters<SignJWT['sign']>[0], kid = K1.kid!) =>
      new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid }).sign(key);
    const pem = createPublicKey(k1).export({ type: 'spki', format: 'pem' });
    const publicJwk = JSON.stringify(publicJwks({ signingKeys: parseSigningKeys(JSON.stringify([K1])) }).keys[0]);
    const [h, , s] = annToken.split('.');
    const forgeries: Record<string, string> = {
      wrongKey: await es(claims, other.privateKey),
      unknownKid: await es(claims, other.privateKey, 'no-such-kid'),
      algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
      algNoneWithKid: `${b64({ alg: 'none', typ: 'JWT', kid: K1.kid })}.${b64(claims)}.${s}`,
      hsWithPublicPem: await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: K1.kid }).sign(Buffer.from(pem)),
      hsWithPublicJwk: await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: K1.kid }).sign(Buffer.from(publicJwk)),
      expired: await es({ ...claims, iat: now() - 7200, exp: now() - 3600 }, k1),
      tampered: `${h}.${b64({ ...claims, role: 'service_role' })}.${s}`,
      resignedHeader: `${b64({ alg: 'ES384', typ: 'JWT', kid: K1.kid })}.${annToken.split('.')[1]}.${s}`,
    };
    for (const [name, token] of Object.entries(forgeries)) {
      expect({ name, ...(await acceptedBy(token)) }).toEqual({ name, ...nowhere });
    }
    // The signing key itself still works for a fresh token with the same claims (the checks above are not vacuous).
    expect(await acceptedBy(await es({ ...claims, iat: now(), exp: now() + 600 }, k1))).toEqual(everywhere);
  });

  it('rotation: a new key in front signs new tokens; tokens of the old key stay valid while it is listed, and die once it is removed', async () => {
    const oldToken = annToken;
    await restartWith([K2, K1]);
    const jwks = (await (await fetch(`${stack.url}/auth/v1/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([K2.kid, K1.kid]);

    const sb = client();
    const { data, error } = await sb.auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' });
    expect(error).toBeNull();
    const newToken = data.session!.access_token;
    expect(decode(newToken, 0)).toMatchObject({ alg: 'ES256', kid: K2.kid });
    const refreshed = await sb.auth.refreshSession();
    expect(decode(refreshed.data.session!.access_token, 0)).toMatchObject({ kid: K2.kid });

    expect(await acceptedBy(oldToken)).toEqual(everywhere);
    expect(await acceptedBy(newToken)).toEqual(everywhere);
    const fresh = createClient(stack.url, db.config.anonKey, { auth: { persistSession: false, autoRefreshToken: false, storageKey: 'keys-test-rotation' } });
    expect((await fresh.auth.getClaims(oldToken)).data?.header.kid).toBe(K1.kid);
    expect((await fresh.auth.getClaims(newToken)).data?.header.kid).toBe(K2.kid);
    expect((await sb.from('notes').select('body')).data).toEqual([{ body: 'ann only' }]);

    // The old key retired: its tokens are refused everywhere, the new ones still work.
    await restartWith([K2]);
    expect(await acceptedBy(oldToken)).toEqual(nowhere);
    expect(await acceptedBy(newToken)).toEqual(everywhere);
  });
});
