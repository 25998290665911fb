/**
 * npm run bench:auth — auth throughput and latency: sign-in/s, refresh/s and getUser/s.
 *
 * Starts the whole stack on a throwaway embedded Postgres (rate limits off), signs up one user,
 * then with autocannon at concurrency 16:
 *   1. POST /auth/v1/token?grant_type=password   (one bcrypt verify per request)
 *   2. POST /auth/v1/token?grant_type=refresh_token  (each request spends a fresh refresh token
 *      and hands the rotated one to a later request, so reuse detection never fires)
 *   3. GET /auth/v1/user with the access token
 * and prints req/s, p50, p99, the bcrypt cost in use with the time of one hash and the sign-in
 * ceiling that cost implies (≈ cores / hash time).
 *
 * BENCH_SECONDS sets the duration of each measurement; AUTH_BCRYPT_COST the cost (default from
 * config); BENCH_ES256=1 signs access tokens with an ES256 key instead of HS256.
 */
import os from 'node:os';
import { hashPassword, verifyPassword } from '../auth/passwords.ts';
import { generateSigningJwk } from '../config/keys.ts';
import { CONNECTIONS, SECONDS, cannon, startBenchStack, type Figures } from './harness.ts';

const EMAIL = 'bench@example.com';
const PASSWORD = 'bench-password-1';

/** Median wall time of `fn` over `n` runs, in ms. */
async function median(n: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)];
}

async function main(): Promise<void> {
  const { config, stack, close } = await startBenchStack({
    DB_POOL_MAX: String(CONNECTIONS),
    AUTH_RATE_LIMIT_SIGNIN: '0',
    AUTH_RATE_LIMIT_SIGNUP: '0',
    AUTH_RATE_LIMIT_REFRESH: '0',
    ...(process.env.AUTH_BCRYPT_COST ? { AUTH_BCRYPT_COST: process.env.AUTH_BCRYPT_COST } : {}),
    ...(process.env.BENCH_ES256 === '1' ? { JWT_SIGNING_KEYS: JSON.stringify([generateSigningJwk('ES256')]) } : {}),
  });
  const auth = `${stack.url}/auth/v1`;
  const headers = { apikey: config.anonKey, 'content-type': 'application/json' };
  const post = async (url: string, body: unknown) => {
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { access_token: string; refresh_token: string };
  };
  const signIn = () => post(`${auth}/token?grant_type=password`, { email: EMAIL, password: PASSWORD });
  await post(`${auth}/signup`, { email: EMAIL, password: PASSWORD });

  // Refresh tokens: more sessions than connections, each token spent once, its successor queued.
  const refreshTokens: string[] = [];
  for (let i = 0; i < CONNECTIONS * 4; i++) refreshTokens.push((await signIn()).refresh_token);
  const { access_token: accessToken } = await signIn();

  process.stderr.write(`${SECONDS} s per measurement at concurrency ${CONNECTIONS}\n`);
  const rows: [string, Figures][] = [];
  rows.push([
    'sign-in (password grant)',
    // Sign-ins queue behind bcrypt: allow slow answers (60 s) instead of counting them as errors.
    await cannon({ title: 'sign-in', timeout: 60, url: `${auth}/token?grant_type=password`, method: 'POST', headers, body: JSON.stringify({ email: EMAIL, password: PASSWORD }) }),
  ]);
  rows.push([
    'refresh (rotation)',
    await cannon({
      title: 'refresh',
      url: `${auth}/token?grant_type=refresh_token`,
      method: 'POST',
      headers,
      requests: [
        {
          setupRequest: (req) => ({ ...req, body: JSON.stringify({ refresh_token: refreshTokens.shift() }) }),
          onResponse: (status, body) => {
            if (status === 200) refreshTokens.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
          },
        },
      ],
    }),
  ]);
  rows.push(['getUser', await cannon({ title: 'getUser', url: `${auth}/user`, headers: { ...headers, authorization: `Bearer ${accessToken}` } })]);

  const cost = config.auth.bcryptCost;
  const hashed = await hashPassword(PASSWORD, cost);
  const hashMs = await median(5, () => hashPassword(PASSWORD, cost));
  const verifyMs = await median(5, () => verifyPassword(PASSWORD, hashed));
  const cores = os.availableParallelism();

  const fmt = (f: Figures) =>
    `${f.rps.toFixed(1).padStart(8)} req/s  p50 ${f.p50.toFixed(0).padStart(5)} ms  p99 ${f.p99.toFixed(0).padStart(5)} ms  (${f.requests} requests)`;
  const signer = config.signingKeys[0]?.alg ?? 'HS256';
  process.stdout.write(`\nAuth, concurrency ${CONNECTIONS}, ${SECONDS} s each, ${cores} cores, access tokens ${signer}\n\n`);
  for (const [name, f] of rows) process.stdout.write(`${name.padEnd(26)} ${fmt(f)}\n`);
  process.stdout.write(
    `\nbcrypt cost ${cost}: one hash ${hashMs.toFixed(1)} ms, one verify ${verifyMs.toFixed(1)} ms\n` +
      `sign-in ceiling at this cost ≈ ${cores} cores / ${verifyMs.toFixed(1)} ms ≈ ${((cores * 1000) / verifyMs).toFixed(0)} sign-ins/s\n`,
  );
  await close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
