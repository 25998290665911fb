/**
 * A fake GitHub and Google for OAuth tests (a node:http server): authorize (who "logs in" is
 * `next`), the token endpoint with its PKCE and client-secret checks, the profile endpoints, and
 * Google's JWKS with `signIdToken` for ID tokens the tests make themselves.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';

export interface FakeUser {
  id: string;
  login: string;
  name: string;
  email: string;
  verified: boolean;
}

/** GitHub and Google as far as a sign-in needs them; `next` is who "logs in" at the provider. */
export async function startFakeProvider() {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const KID = 'fake-google-1';
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: KID, alg: 'RS256', use: 'sig' }] };
  const next: { github?: FakeUser; google?: FakeUser } = {};
  const codes = new Map<string, { user: FakeUser; challenge: string; redirectUri: string; clientId: string }>();
  const tokens = new Map<string, FakeUser>();
  const seen = { tokenRequests: 0 };
  let origin = '';
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url!, origin);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const provider = url.pathname.startsWith('/github') ? 'github' : 'google';
    if (url.pathname === '/github/login/oauth/authorize' || url.pathname === '/google/auth') {
      const user = next[provider]!;
      const code = randomUUID();
      codes.set(code, { user, challenge: url.searchParams.get('code_challenge')!, redirectUri: url.searchParams.get('redirect_uri')!, clientId: url.searchParams.get('client_id')! });
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state')!);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (req.method === 'POST' && (url.pathname === '/github/login/oauth/access_token' || url.pathname === '/google/token')) {
      seen.tokenRequests++;
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const form = new URLSearchParams(raw);
      const grant = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      const challengeOk = grant && createHash('sha256').update(verifier).digest('base64url') === grant.challenge;
      if (!grant || !challengeOk || form.get('client_secret') !== `${provider}-secret` || form.get('redirect_uri') !== grant.redirectUri) {
        return send(400, { error: 'invalid_grant' });
      }
      const accessToken = `${provider}-at-${randomUUID()}`;
      tokens.set(accessToken, grant.user);
      if (provider === 'github') return send(200, { access_token: accessToken, token_type: 'bearer', scope: 'read:user,user:email' });
      const now = Math.floor(Date.now() / 1000);
      const idToken = await new SignJWT({ email: grant.user.email, email_verified: grant.user.verified })
        .setProtectedHeader({ alg: 'RS256', kid: KID }).setIssuer(origin).setAudience(grant.clientId).setSubject(grant.user.id).setIssuedAt(now).setExpirationTime(now + 300).sign(privateKey);
      return send(200, { access_token: accessToken, token_type: 'Bearer', expires_in: 3599, refresh_token: `google-rt-${randomUUID()}`, id_token: idToken, scope: 'openid email profile' });
    }
    if (url.pathname === '/google/jwks') return send(200, jwks);
    const user = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /i, ''));
    if (!user) return send(401, { message: 'Bad credentials' });
    if (url.pathname === '/github/api/user') return send(200, { id: Number(user.id), login: user.login, name: user.name, avatar_url: `https://avatars.test/${user.login}`, email: null });
    if (url.pathname === '/github/api/user/emails') return send(200, [{ email: user.email, primary: true, verified: user.verified }]);
    if (url.pathname === '/google/userinfo') return send(200, { sub: user.id, email: user.email, email_verified: user.verified, name: user.name, picture: 'https://pics.test/me.png' });
    send(404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  /** An ID token signed with the fake Google's published key (claims as given; iss, iat and exp defaulted). */
  const signIdToken = (claims: JWTPayload, key: typeof privateKey = privateKey) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: 'https://accounts.google.com', iat: now, exp: now + 300, ...claims }).setProtectedHeader({ alg: 'RS256', kid: KID }).sign(key);
  };
  return { origin, next, seen, signIdToken, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

