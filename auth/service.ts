/**
 * The auth service: GoTrue-compatible endpoints that @supabase/auth-js calls (signUp,
 * signInWithPassword, signInAnonymously, refreshSession with rotation and reuse detection,
 * getUser, updateUser, signOut), plus the short `/api/auth/*` routes. Route modules add the admin
 * API (routes/admin.ts), mail flows (routes/email.ts, routes/verify.ts; mails are graphile-worker
 * jobs run in this process, jobs/), PKCE and OAuth (routes/oauth.ts).
 * Everything runs over the owner pool on the `auth` schema; tokens carry the user's tenant.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { startWorker } from '../jobs/worker.ts';
import { sendEmailTask } from '../jobs/tasks/send-email.ts';
import { createJwtVerifier, bearerToken, type JwtClaims } from '../gateway/jwt.ts';
import type { Service, ServiceContext } from '../gateway/service.ts';
import { createServiceApp } from '../services/fastify.ts';
import { API_VERSION, AUTH_ERRORS, AuthError, sendAuthError } from './errors.ts';
import { challengeOf, exchangeAuthCode } from './flow-state.ts';
import { bodyOf, checkEmail, hasNul, obj, str, wrap, type AuthDeps } from './http.ts';
import { createAuthMail, createTransport, SEND_EMAIL_TASK } from './mailer.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { redirectOf, registerEmailRoutes, sendAuthEmail, sendEmailChange } from './routes/email.ts';
import { enabledProviders, idTokenRefusal, registerOAuthRoutes } from './routes/oauth.ts';
import { registerVerifyRoutes } from './routes/verify.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { RateLimiter } from './rate-limit.ts';
import {
  audit,
  createSession,
  createUser,
  findSession,
  findUserByEmail,
  findUserById,
  identitiesOf,
  newRefreshToken,
  withTransaction,
  type UserRow,
} from './store.ts';
import { sessionResponse, userJson } from './tokens.ts';
import { JWKS_CACHE_CONTROL, publicJwks } from './keys.ts';

type Body = Record<string, unknown>;

/** bcrypt's input limit. */
const MAX_PASSWORD_BYTES = 72;

/** What signUp answers for an address that is already confirmed (autoconfirm off). */
function obfuscatedUser(email: string): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    id: randomUUID(), aud: 'authenticated', role: '', email, phone: '', confirmation_sent_at: now,
    app_metadata: { provider: 'email', providers: ['email'] }, user_metadata: {}, identities: [],
    created_at: now, updated_at: now, is_anonymous: false,
  };
}

export async function createAuthService(ctx: ServiceContext): Promise<Service> {
  const { config } = ctx;
  const pool = ctx.pools.admin;
  const verifier = createJwtVerifier(config.jwtSecret, config.jwks);
  const app = createServiceApp({ name: 'auth', log: ctx.log, logRequests: !ctx.embedded, trustProxy: ctx.config.trustProxy });
  const limits = config.auth.rateLimits;
  const signinByIp = new RateLimiter(limits.signin, 300);
  const failuresByEmail = new RateLimiter(Math.ceil(limits.signin / 3), 900);
  const signupByIp = new RateLimiter(limits.signup, 3600);
  const refreshByIp = new RateLimiter(limits.refresh, 300);
  const otpByIp = new RateLimiter(limits.otp, 3600);
  const verifyByIp = new RateLimiter(limits.verify, 300);
  const mail = createAuthMail(config);
  let dummyHash: Promise<string> | undefined;
  const transport = createTransport(config, pool);

  // auth-js sends `Content-Type: application/json` on bodiless POSTs (signOut): an empty body is {}.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    if (text === '' || text === undefined) return done(null, {});
    let parsed: unknown;
    try {
      parsed = JSON.parse(text as string);
    } catch {
      return done(AUTH_ERRORS.badJson(), undefined);
    }
    if (hasNul(parsed)) return done(AUTH_ERRORS.validation('Request body must not contain NUL characters'), undefined);
    done(null, parsed);
  });
  // Query strings reach SQL too (inbox ?email=, refresh tokens): NUL is refused there as well.
  app.addHook('preHandler', async (req) => {
    if (hasNul(req.query)) throw AUTH_ERRORS.validation('Query parameters must not contain NUL characters');
  });
  app.addHook('onSend', async (_req, reply) => {
    reply.header('X-Supabase-Api-Version', API_VERSION);
  });
  app.setErrorHandler((err, req, reply) => {
    if ((err as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (err as { statusCode?: number }).statusCode === 400) {
      return sendAuthError(req, reply, AUTH_ERRORS.badJson());
    }
    // Other framework refusals (413 body too large, 415 content type …) keep their 4xx status.
    const status = (err as { statusCode?: number }).statusCode;
    if (!(err instanceof AuthError) && typeof status === 'number' && status >= 400 && status < 500) {
      return sendAuthError(req, reply, new AuthError(status, 'validation_failed', (err as Error).message));
    }
    return sendAuthError(req, reply, err);
  });
  app.setNotFoundHandler((req, reply) => sendAuthError(req, reply, AUTH_ERRORS.notFound()));

  /** Claims of the caller's Bearer token (a user's access token, or an API key). */
  async function claimsOf(req: FastifyRequest): Promise<JwtClaims> {
    const token = bearerToken(str(req.headers.authorization));
    if (!token) throw AUTH_ERRORS.noAuthorization();
    try {
      return await verifier.verify(token);
    } catch (err) {
      throw AUTH_ERRORS.badJwt((err as Error).message);
    }
  }

  /** The signed-in user and session of the request (GET/PUT /user, logout). */
  async function currentUser(req: FastifyRequest): Promise<{ user: UserRow; claims: JwtClaims }> {
    const claims = await claimsOf(req);
    if (typeof claims.sub !== 'string') throw AUTH_ERRORS.userNotFound(403);
    if (typeof claims.session_id === 'string' && !(await findSession(pool, claims.session_id))) throw AUTH_ERRORS.sessionNotFound();
    const user = await findUserById(pool, claims.sub);
    if (!user) throw AUTH_ERRORS.userNotFound(403);
    return { user, claims };
  }

  async function requireAdmin(req: FastifyRequest): Promise<void> {
    const claims = await claimsOf(req);
    if (claims.role !== 'service_role' && claims.role !== 'supabase_admin') throw AUTH_ERRORS.notAdmin();
  }

  /**
   * The tenant a new user joins: that of the `apikey` when it is a tenant's API key — signed by
   * us, with `tenant_id` (or `app_metadata.tenant_id`), an API-key role and no `sub`. A user's
   * access token carries its tenant too, but a member must not be able to enrol new members with
   * it: a key that names a user is no tenant key, and the new user joins no tenant.
   */
  async function tenantFromApiKey(req: FastifyRequest): Promise<string | null> {
    const key = str(req.headers.apikey);
    if (!key) return null;
    const claims = await verifier.verify(key).catch(() => undefined);
    if (!claims || claims.sub !== undefined || (claims.role !== 'anon' && claims.role !== 'service_role')) return null;
    const tenant = claims.tenant_id ?? obj(claims.app_metadata).tenant_id;
    return typeof tenant === 'string' ? tenant : null;
  }

  function checkPassword(password: string | undefined): string {
    if (!password) throw AUTH_ERRORS.validation('Signup requires a valid password');
    // bcrypt only reads the first 72 bytes: a longer password would be silently truncated (GoTrue refuses it too).
    if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw AUTH_ERRORS.validation(`Password cannot be longer than ${MAX_PASSWORD_BYTES} characters`);
    if (password.length < config.auth.passwordMinLength) throw AUTH_ERRORS.weakPassword(config.auth.passwordMinLength);
    return password;
  }

  async function issue(client: pg.PoolClient, user: UserRow, method: string, req: FastifyRequest) {
    const { session, refreshToken } = await createSession(client, user.id, method, config.auth.refreshTokenTtl, str(req.headers['user-agent']));
    const fresh = (await findUserById(client, user.id))!;
    await audit(client, 'login', { actor_id: user.id, method }, req.ip);
    return sessionResponse(config, fresh, await identitiesOf(client, user.id), session, refreshToken);
  }

  // ------------------------------------------------------------------------- handlers

  async function signup(req: FastifyRequest) {
    signupByIp.hit(req.ip);
    const body = bodyOf(req);
    const email = str(body.email)?.trim().toLowerCase();
    const data = obj(body.data);
    const phone = str(body.phone);
    const tenantId = await tenantFromApiKey(req);
    if (!email && !phone) {
      // signInAnonymously (GoTrue's order: the anonymous switch, then DISABLE_SIGNUP).
      if (!config.auth.anonymousSignins) throw AUTH_ERRORS.anonymousDisabled();
      if (config.auth.disableSignup) throw AUTH_ERRORS.signupDisabled();
      return withTransaction(pool, async (c) => {
        const user = await createUser(c, { confirmed: false, userMetadata: data, appMetadata: {}, isAnonymous: true, tenantId });
        return issue(c, user, 'anonymous', req);
      });
    }
    if (config.auth.disableSignup) throw AUTH_ERRORS.signupDisabled();
    const password = checkPassword(str(body.password));
    if (email && phone) throw AUTH_ERRORS.validation('Only an email address or phone number should be provided on signup.');
    if (!email) throw AUTH_ERRORS.phoneSignupsDisabled();
    checkEmail(email);
    const passwordHash = await hashPassword(password, config.auth.bcryptCost);
    const challenge = challengeOf(body);
    const redirectTo = redirectOf(deps, req, body);
    return withTransaction(pool, async (c) => {
      const existing = await findUserByEmail(c, email);
      if (existing && config.auth.autoconfirm) throw AUTH_ERRORS.userExists();
      // Without autoconfirm the answer must not reveal who is registered (GoTrue obfuscation).
      if (existing?.email_confirmed_at) return obfuscatedUser(email);
      if (existing) {
        // Still unconfirmed: the confirmation goes out again; the password is not replaced (whoever
        // signs up again must not be able to set the password the owner then confirms).
        await sendAuthEmail(deps, c, { user: existing, action: 'signup', email, redirectTo, challenge });
        const again = (await findUserById(c, existing.id))!;
        return userJson(again, await identitiesOf(c, again.id));
      }
      const user = await createUser(c, {
        email,
        passwordHash,
        confirmed: config.auth.autoconfirm,
        userMetadata: data,
        appMetadata: { provider: 'email', providers: ['email'] },
        isAnonymous: false,
        tenantId,
      });
      await audit(c, 'user_signedup', { actor_id: user.id }, req.ip);
      if (config.auth.autoconfirm) return issue(c, user, 'password', req);
      await sendAuthEmail(deps, c, { user, action: 'signup', email, redirectTo, challenge });
      const sent = (await findUserById(c, user.id))!;
      return userJson(sent, await identitiesOf(c, user.id));
    });
  }

  async function passwordGrant(req: FastifyRequest) {
    const body = bodyOf(req);
    const email = str(body.email)?.trim();
    const password = str(body.password);
    if (email && str(body.phone)) throw AUTH_ERRORS.validation('Only an email address or phone number should be provided on login.');
    if (!email && str(body.phone)) throw AUTH_ERRORS.phoneLoginsDisabled(422);
    if (!email || !password) throw AUTH_ERRORS.invalidCredentials();
    signinByIp.hit(req.ip);
    const emailKey = email.toLowerCase();
    const user = await findUserByEmail(pool, email);
    // An unknown address costs one bcrypt too: response times do not tell who is registered.
    if (!user) await verifyPassword(password, await (dummyHash ??= hashPassword(randomUUID(), config.auth.bcryptCost)));
    if (!user || !(await verifyPassword(password, user.encrypted_password))) {
      failuresByEmail.hit(emailKey);
      throw AUTH_ERRORS.invalidCredentials();
    }
    failuresByEmail.reset(emailKey);
    if (!user.email_confirmed_at) throw AUTH_ERRORS.emailNotConfirmed();
    if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
    return withTransaction(pool, (c) => issue(c, user, 'password', req));
  }

  /** Rotation with reuse detection (protocols.md §2.8). */
  async function refreshGrant(req: FastifyRequest) {
    refreshByIp.hit(req.ip);
    const token = str(bodyOf(req).refresh_token);
    if (!token) throw new AuthError(400, 'validation_failed', 'refresh_token required');
    const result = await withTransaction(pool, async (c) => {
      const { rows } = await c.query<{ id: string; token: string; user_id: string; session_id: string; revoked: boolean; updated_at: Date; expired: boolean }>(
        `select rt.*, coalesce(s.not_after < now(), false) as expired
         from auth.refresh_tokens rt join auth.sessions s on s.id = rt.session_id
         where rt.token = $1 for update of rt`,
        [token],
      );
      const rt = rows[0];
      if (!rt) throw AUTH_ERRORS.refreshNotFound();
      if (rt.expired) throw AUTH_ERRORS.sessionExpired();
      let next: string;
      if (rt.revoked) {
        const child = await c.query<{ token: string }>(
          `select token from auth.refresh_tokens where parent = $1 and not revoked order by id desc limit 1`,
          [rt.token],
        );
        const withinReuse = Date.now() - rt.updated_at.getTime() <= config.auth.refreshReuseInterval * 1000;
        if (!child.rows[0] || !withinReuse) {
          // A stolen token was replayed: end the whole session (every token of the family).
          await c.query(`delete from auth.sessions where id = $1`, [rt.session_id]);
          await audit(c, 'token_revoked', { actor_id: rt.user_id, reason: 'refresh_token_reused' }, req.ip);
          return 'reused' as const;
        }
        next = child.rows[0].token;
      } else {
        next = newRefreshToken();
        await c.query(`update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1`, [rt.id]);
        await c.query(`insert into auth.refresh_tokens (token, user_id, session_id, parent) values ($1, $2, $3, $4)`, [next, rt.user_id, rt.session_id, rt.token]);
        await c.query(`update auth.sessions set refreshed_at = now(), updated_at = now() where id = $1`, [rt.session_id]);
      }
      const user = await findUserById(c, rt.user_id);
      if (!user) throw AUTH_ERRORS.refreshNotFound();
      if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
      const session = (await findSession(c, rt.session_id))!;
      return sessionResponse(config, user, await identitiesOf(c, user.id), session, next);
    });
    if (result === 'reused') throw AUTH_ERRORS.refreshReused();
    return result;
  }

  /** exchangeCodeForSession: code + verifier (flow-state.ts) → a session, provider tokens included. */
  async function pkceGrant(req: FastifyRequest) {
    const body = bodyOf(req);
    return withTransaction(pool, async (c) => {
      const flow = await exchangeAuthCode(c, str(body.auth_code), str(body.code_verifier));
      const user = await findUserById(c, flow.user_id);
      if (!user) throw AUTH_ERRORS.userNotFound();
      if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
      const session = await issue(c, user, flow.authentication_method, req);
      return {
        ...session,
        ...(flow.provider_access_token ? { provider_token: flow.provider_access_token } : {}),
        ...(flow.provider_refresh_token ? { provider_refresh_token: flow.provider_refresh_token } : {}),
      };
    });
  }

  async function token(req: FastifyRequest) {
    const grant = str((req.query as Body).grant_type) ?? str(bodyOf(req).grant_type);
    if (grant === 'password') return passwordGrant(req);
    if (grant === 'refresh_token') return refreshGrant(req);
    if (grant === 'pkce') return pkceGrant(req);
    if (grant === 'id_token') throw idTokenRefusal(config, bodyOf(req));
    if (grant === 'web3') throw AUTH_ERRORS.web3Disabled();
    throw AUTH_ERRORS.unsupportedGrant();
  }

  async function getUser(req: FastifyRequest) {
    const { user } = await currentUser(req);
    return userJson(user, await identitiesOf(pool, user.id));
  }

  async function updateUser(req: FastifyRequest) {
    const { user } = await currentUser(req);
    const body = bodyOf(req);
    const sets: string[] = [];
    const values: unknown[] = [user.id];
    if (body.data !== undefined) {
      values.push(obj(body.data));
      sets.push(`raw_user_meta_data = raw_user_meta_data || $${values.length}`);
    }
    const password = str(body.password);
    if (password !== undefined) {
      checkPassword(password);
      if (await verifyPassword(password, user.encrypted_password)) throw AUTH_ERRORS.samePassword();
      values.push(await hashPassword(password, config.auth.bcryptCost));
      sets.push(`encrypted_password = $${values.length}`);
    }
    const email = str(body.email)?.trim().toLowerCase();
    let emailChange = false;
    if (email !== undefined && email !== user.email) {
      checkEmail(email);
      if (await findUserByEmail(pool, email)) throw AUTH_ERRORS.emailExists();
      // Autoconfirm changes the address at once; otherwise both addresses confirm by mail first.
      emailChange = !config.auth.autoconfirm;
      if (config.auth.autoconfirm) {
        values.push(email);
        sets.push(`email = $${values.length}, email_confirmed_at = coalesce(email_confirmed_at, now()), is_anonymous = false`);
      }
    }
    const challenge = challengeOf(body);
    return withTransaction(pool, async (c) => {
      if (sets.length) await c.query(`update auth.users set ${sets.join(', ')}, updated_at = now() where id = $1`, values);
      if (emailChange) await sendEmailChange(deps, c, user, email!, redirectOf(deps, req, body), challenge);
      const fresh = (await findUserById(c, user.id))!;
      return userJson(fresh, await identitiesOf(c, user.id));
    });
  }

  async function logout(req: FastifyRequest, reply: FastifyReply) {
    const { claims } = await currentUser(req);
    const scope = str((req.query as Body).scope) ?? 'global';
    const sessionId = str(claims.session_id);
    if (scope === 'local' && sessionId) await pool.query(`delete from auth.sessions where id = $1`, [sessionId]);
    else if (scope === 'others') await pool.query(`delete from auth.sessions where user_id = $1 and id <> $2`, [claims.sub, sessionId ?? null]);
    else await pool.query(`delete from auth.sessions where user_id = $1`, [claims.sub]);
    return reply.code(204).send();
  }

  // ------------------------------------------------------------------------- routes

  app.get('/health', async () => ({ status: 'up' }));
  app.get('/settings', async () => ({
    external: { email: true, phone: false, anonymous_users: config.auth.anonymousSignins, ...enabledProviders(config) },
    disable_signup: config.auth.disableSignup,
    mailer_autoconfirm: config.auth.autoconfirm,
    phone_autoconfirm: false,
    sms_provider: '',
    saml_enabled: false,
  }));
  app.get('/.well-known/jwks.json', async (_req, reply) => reply.header('cache-control', JWKS_CACHE_CONTROL).send(publicJwks(config)));
  app.post('/signup', wrap(signup));
  app.post('/token', wrap(token));
  app.get('/user', wrap(getUser));
  app.put('/user', wrap(updateUser));
  app.post('/logout', wrap(logout));
  const deps: AuthDeps = { app, config, pool, mail, otpByIp, signupByIp, verifyByIp, issue, requireAdmin, currentUser, tenantFromApiKey, checkPassword };
  registerAdminRoutes(deps);
  registerEmailRoutes(deps);
  registerVerifyRoutes(deps);
  registerOAuthRoutes(deps);
  for (const path of ['/reauthenticate', '/factors']) {
    const what = `${path.slice(1)} (MFA and reauthentication)`;
    app.all(path, wrap(async () => Promise.reject(AUTH_ERRORS.notImplemented(what))));
  }
  // Switched off as in a GoTrue without SAML and with manual linking disabled: signInWithSSO (and
  // the SAML endpoints) answer before reading anything; linkIdentity/unlinkIdentity after the
  // caller's session is checked.
  for (const path of ['/sso', '/sso/*']) app.all(path, wrap(async () => Promise.reject(AUTH_ERRORS.samlDisabled())));
  for (const path of ['/user/identities', '/user/identities/*']) {
    app.all(path, wrap(async (req) => {
      await currentUser(req);
      throw AUTH_ERRORS.manualLinkingDisabled();
    }));
  }

  // Short routes of the product spec: same logic, same JSON.
  app.post('/api/auth/signup', wrap(signup));
  app.post('/api/auth/login', wrap(passwordGrant));
  app.post('/api/auth/refresh', wrap(refreshGrant));
  app.post('/api/auth/logout', wrap(logout));
  app.get('/api/auth/me', wrap(getUser));

  await app.ready();
  const worker = await startWorker({ pool, log: ctx.log, tasks: { [SEND_EMAIL_TASK]: sendEmailTask({ pool, config, transport }) } });
  return {
    name: 'auth',
    handle: (req, res) => app.routing(req, res),
    async health() {
      await pool.query('select 1 from auth.users limit 1');
      return { status: 'up' };
    },
    async close() {
      await app.close();
      await worker.stop();
      transport.close();
    },
  };
}

