/**
 * What every auth route gets (built once per service by createAuthDeps): configuration, the owner
 * pool, the mail queue, the per-address rate limiters, who is calling (auth/caller.ts) and how a
 * session is started.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Config } from '../config/load.ts';
import { effectiveAuthConfig } from '../core/auth-settings.ts';
import { createJwtVerifier } from '../core/jwt.ts';
import { createCaller, type AuthCaller } from './caller.ts';
import { AuthError } from './errors.ts';
import { str } from './http.ts';
import { createAuthMail, type AuthMail } from './mailer.ts';
import { checkPassword, hashPassword } from './passwords.ts';
import { RateLimiter, type SharedWindows } from './rate-limit.ts';
import { createSmsProvider, type SmsProvider } from './sms.ts';
import { audit, createSession, factorsOf, findUserById, identitiesOf, type UserRow } from './store/index.ts';
import { tokenTenantFor } from './tenancy.ts';
import { sessionResponse, type IssuedSession } from './tokens.ts';
import { counters } from '../core/metrics.ts';

export interface AuthDeps extends AuthCaller {
  config: Config;
  /** `config` with the SMTP, sender and providers in effect now (env, else the dashboard's, core/auth-settings.ts). */
  effectiveConfig(): Promise<Config>;
  pool: pg.Pool;
  mail: AuthMail;
  signinByIp: RateLimiter;
  /** Failed password sign-ins per address. */
  failuresByEmail: RateLimiter;
  signupByIp: RateLimiter;
  refreshByIp: RateLimiter;
  otpByIp: RateLimiter;
  /** GET/POST /verify per client address: 6-digit codes must not be guessable by brute force. */
  verifyByIp: RateLimiter;
  /** POST /factors/{id}/challenge and /verify per client address per minute (GoTrue's MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY). */
  mfaChallengeByIp: RateLimiter;
  mfaVerifyByIp: RateLimiter;
  /** The SMS provider; undefined while phone sign-in is off (AUTH_SMS_PROVIDER=none). */
  sms: SmsProvider | undefined;
  /** SMS the whole instance sends per hour (GoTrue's RATE_LIMIT_SMS_SENT). */
  smsSentPerHour: RateLimiter;
  /** Starts a session for `user` (amr `method`) and returns GoTrue's session response. */
  issue(client: pg.PoolClient, user: UserRow, method: string, req: FastifyRequest): Promise<IssuedSession>;
  checkPassword(password: string | undefined): string;
  /** A hash of a random password, made once: an unknown address costs one bcrypt too. */
  dummyHash(): Promise<string>;
}

/** `shared`: each limiter's windows across instances (Redis), by limiter name. */
export function createAuthDeps(config: Config, pool: pg.Pool, shared?: (limiter: string) => SharedWindows): AuthDeps {
  const limits = config.auth.rateLimits;
  const limited = (name: string, max: number, windowSeconds: number, error?: () => AuthError) => new RateLimiter(max, windowSeconds, error, shared?.(name));
  let dummyHash: Promise<string> | undefined;
  return {
    ...createCaller(createJwtVerifier(config.jwtSecret, config.jwks), pool),
    config,
    pool,
    effectiveConfig: () => effectiveAuthConfig(config, pool),
    mail: createAuthMail(config),
    signinByIp: limited('signinByIp', limits.signin, 300),
    failuresByEmail: limited('failuresByEmail', Math.ceil(limits.signin / 3), 900),
    signupByIp: limited('signupByIp', limits.signup, 3600),
    refreshByIp: limited('refreshByIp', limits.refresh, 300),
    otpByIp: limited('otpByIp', limits.otp, 3600),
    verifyByIp: limited('verifyByIp', limits.verify, 300),
    mfaChallengeByIp: limited('mfaChallengeByIp', limits.mfa, 60),
    mfaVerifyByIp: limited('mfaVerifyByIp', limits.mfa, 60),
    sms: createSmsProvider(config),
    smsSentPerHour: limited('smsSentPerHour', limits.smsSent, 3600, () => new AuthError(429, 'over_sms_send_rate_limit', 'SMS rate limit exceeded')),
    async issue(client, user, method, req) {
      const { session, refreshToken } = await createSession(client, user.id, method, config.auth.refreshTokenTtl, str(req.headers['user-agent']));
      const fresh = (await findUserById(client, user.id))!;
      await audit(client, 'login', { actor_id: user.id, method }, req.ip);
      const tenant = await tokenTenantFor(client, fresh);
      const issued = await sessionResponse(config, fresh, await identitiesOf(client, user.id), session, refreshToken, await factorsOf(client, user.id), tenant);
      counters.authSignins.inc();
      return issued;
    },
    checkPassword: (password) => checkPassword(config.auth.passwordMinLength, password),
    dummyHash: () => (dummyHash ??= hashPassword(randomUUID(), config.auth.bcryptCost)),
  };
}
