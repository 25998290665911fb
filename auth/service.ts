/**
 * The auth service: GoTrue-compatible endpoints that @supabase/auth-js calls (signUp,
 * signInWithPassword, signInAnonymously, refreshSession with rotation and reuse detection,
 * getUser, updateUser, signOut, the admin user API), plus the short `/api/auth/*` routes.
 * Everything runs over the owner pool on the `auth` schema; tokens carry the user's tenant.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { createJwtVerifier, bearerToken, type JwtClaims } from '../gateway/jwt.ts';
import type { Service, ServiceContext } from '../gateway/service.ts';
import { createServiceApp } from '../services/fastify.ts';
import { API_VERSION, AUTH_ERRORS, AuthError, sendAuthError } from './errors.ts';
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

type Body = Record<string, unknown>;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function bodyOf(req: FastifyRequest): Body {
  const b = req.body;
  if (b === undefined || b === null || b === '') return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw AUTH_ERRORS.badJson();
  return b as Body;
}

/** GoTrue's ban_duration: "none" lifts a ban; otherwise a Go duration such as "24h" or "90m". */
function banSeconds(duration: string): number | null {
  if (duration === 'none') return null;
  const units: Record<string, number> = { s: 1, m: 60, h: 3600 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(h|m|s)/g;
  let matched = '';
  for (let m = re.exec(duration); m; m = re.exec(duration)) {
    total += Number(m[1]) * units[m[2]];
    matched += m[0];
  }
  if (!matched || matched !== duration) throw AUTH_ERRORS.validation(`invalid format for ban duration: ${duration}`);
  return total;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Body) : {});

export async function createAuthService(ctx: ServiceContext): Promise<Service> {
  const { config } = ctx;
  const pool = ctx.pools.admin;
  const verifier = createJwtVerifier(config.jwtSecret, config.jwks);
  const app = createServiceApp({ name: 'auth', log: ctx.log, logRequests: !ctx.embedded });
  const limits = config.auth.rateLimits;
  const signinByIp = new RateLimiter(limits.signin, 300);
  const failuresByEmail = new RateLimiter(Math.ceil(limits.signin / 3), 900);
  const signupByIp = new RateLimiter(limits.signup, 3600);
  const refreshByIp = new RateLimiter(limits.refresh, 300);

  // auth-js sends `Content-Type: application/json` on bodiless POSTs (signOut): an empty body is {}.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    if (text === '' || text === undefined) return done(null, {});
    try {
      done(null, JSON.parse(text as string));
    } catch {
      done(AUTH_ERRORS.badJson(), undefined);
    }
  });
  app.addHook('onSend', async (_req, reply) => {
    reply.header('X-Supabase-Api-Version', API_VERSION);
  });
  app.setErrorHandler((err, req, reply) => {
    if ((err as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (err as { statusCode?: number }).statusCode === 400) {
      return sendAuthError(req, reply, AUTH_ERRORS.badJson());
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

  /** The tenant of the API key used to sign up (a tenant-scoped anon key), if any. */
  async function tenantFromApiKey(req: FastifyRequest): Promise<string | null> {
    const key = str(req.headers.apikey);
    if (!key) return null;
    const claims = await verifier.verify(key).catch(() => undefined);
    const tenant = claims?.tenant_id ?? obj(claims?.app_metadata).tenant_id;
    return typeof tenant === 'string' ? tenant : null;
  }

  function checkPassword(password: string | undefined): string {
    if (!password) throw AUTH_ERRORS.validation('Signup requires a valid password');
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
    const tenantId = await tenantFromApiKey(req);
    if (!email && !str(body.phone)) {
      if (!config.auth.anonymousSignins) throw AUTH_ERRORS.anonymousDisabled();
      return withTransaction(pool, async (c) => {
        const user = await createUser(c, { confirmed: false, userMetadata: data, appMetadata: {}, isAnonymous: true, tenantId });
        return issue(c, user, 'anonymous', req);
      });
    }
    if (config.auth.disableSignup) throw AUTH_ERRORS.signupDisabled();
    if (!email || !EMAIL.test(email)) throw AUTH_ERRORS.validation('Unable to validate email address: invalid format');
    const password = checkPassword(str(body.password));
    const passwordHash = await hashPassword(password, config.auth.bcryptCost);
    return withTransaction(pool, async (c) => {
      if (await findUserByEmail(c, email)) {
        if (config.auth.autoconfirm) throw AUTH_ERRORS.userExists();
        throw AUTH_ERRORS.emailExists();
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
      return userJson(user, await identitiesOf(c, user.id));
    });
  }

  async function passwordGrant(req: FastifyRequest) {
    const body = bodyOf(req);
    const email = str(body.email)?.trim();
    const password = str(body.password);
    if (!email || !password) throw AUTH_ERRORS.invalidCredentials();
    signinByIp.hit(req.ip);
    const emailKey = email.toLowerCase();
    const user = await findUserByEmail(pool, email);
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

  async function token(req: FastifyRequest) {
    const grant = str((req.query as Body).grant_type) ?? str(bodyOf(req).grant_type);
    if (grant === 'password') return passwordGrant(req);
    if (grant === 'refresh_token') return refreshGrant(req);
    if (grant === 'pkce' || grant === 'id_token') throw AUTH_ERRORS.notImplemented(`grant_type=${grant}`);
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
    if (email !== undefined && email !== user.email) {
      if (!EMAIL.test(email)) throw AUTH_ERRORS.validation('Unable to validate email address: invalid format');
      if (!config.auth.autoconfirm) throw AUTH_ERRORS.notImplemented('Email change confirmation');
      if (await findUserByEmail(pool, email)) throw AUTH_ERRORS.emailExists();
      values.push(email);
      sets.push(`email = $${values.length}, email_confirmed_at = coalesce(email_confirmed_at, now()), is_anonymous = false`);
    }
    if (sets.length) await pool.query(`update auth.users set ${sets.join(', ')}, updated_at = now() where id = $1`, values);
    const fresh = (await findUserById(pool, user.id))!;
    return userJson(fresh, await identitiesOf(pool, user.id));
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

  // ------------------------------------------------------------------------- admin

  async function adminCreate(req: FastifyRequest) {
    await requireAdmin(req);
    const body = bodyOf(req);
    const email = str(body.email)?.trim().toLowerCase();
    if (email !== undefined && !EMAIL.test(email)) throw AUTH_ERRORS.validation('Unable to validate email address: invalid format');
    const password = str(body.password);
    const appMeta = obj(body.app_metadata);
    const tenantId = str(body.tenant_id) ?? str(appMeta.tenant_id) ?? null;
    delete appMeta.tenant_id;
    return withTransaction(pool, async (c) => {
      if (email && (await findUserByEmail(c, email))) throw AUTH_ERRORS.emailExists();
      const user = await createUser(c, {
        email,
        passwordHash: password ? await hashPassword(checkPassword(password), config.auth.bcryptCost) : undefined,
        confirmed: body.email_confirm === true,
        userMetadata: obj(body.user_metadata),
        appMetadata: { provider: 'email', providers: ['email'], ...appMeta },
        isAnonymous: false,
        tenantId,
        role: str(body.role),
      });
      return userJson(user, await identitiesOf(c, user.id));
    });
  }

  async function adminList(req: FastifyRequest) {
    await requireAdmin(req);
    const q = req.query as Body;
    const perPage = Math.min(Math.max(Number(q.per_page) || 50, 1), 1000);
    const page = Math.max(Number(q.page) || 1, 1);
    const { rows } = await pool.query<UserRow & { total: string }>(
      `select *, count(*) over () as total from auth.users where deleted_at is null order by created_at, id limit $1 offset $2`,
      [perPage, (page - 1) * perPage],
    );
    const users = await Promise.all(rows.map(async (u) => userJson(u, await identitiesOf(pool, u.id))));
    return { users, aud: 'authenticated', total: Number(rows[0]?.total ?? 0) };
  }

  async function adminGet(req: FastifyRequest) {
    await requireAdmin(req);
    const user = await findUserById(pool, (req.params as { id: string }).id);
    if (!user) throw AUTH_ERRORS.userNotFound();
    return userJson(user, await identitiesOf(pool, user.id));
  }

  async function adminUpdate(req: FastifyRequest) {
    await requireAdmin(req);
    const user = await findUserById(pool, (req.params as { id: string }).id);
    if (!user) throw AUTH_ERRORS.userNotFound();
    const body = bodyOf(req);
    const sets: string[] = [];
    const values: unknown[] = [user.id];
    const set = (sql: string, value: unknown) => {
      values.push(value);
      sets.push(sql.replace('?', `$${values.length}`));
    };
    if (body.user_metadata !== undefined) set('raw_user_meta_data = ?', obj(body.user_metadata));
    if (body.app_metadata !== undefined) {
      const meta = obj(body.app_metadata);
      if (typeof meta.tenant_id === 'string' || meta.tenant_id === null) set('tenant_id = ?', meta.tenant_id);
      delete meta.tenant_id;
      set('raw_app_meta_data = raw_app_meta_data || ?', meta);
    }
    if (typeof body.tenant_id === 'string' || body.tenant_id === null) set('tenant_id = ?', body.tenant_id);
    if (str(body.email)) set('email = ?', str(body.email)!.toLowerCase());
    if (str(body.password)) set('encrypted_password = ?', await hashPassword(checkPassword(str(body.password)), config.auth.bcryptCost));
    if (body.email_confirm === true) sets.push('email_confirmed_at = coalesce(email_confirmed_at, now())');
    if (str(body.role)) set('role = ?', str(body.role));
    const ban = str(body.ban_duration);
    if (ban !== undefined) set('banned_until = now() + make_interval(secs => ?)', banSeconds(ban));
    if (sets.length) await pool.query(`update auth.users set ${sets.join(', ')}, updated_at = now() where id = $1`, values);
    const fresh = (await findUserById(pool, user.id))!;
    return userJson(fresh, await identitiesOf(pool, user.id));
  }

  async function adminDelete(req: FastifyRequest) {
    await requireAdmin(req);
    const { rowCount } = await pool.query(`delete from auth.users where id = $1`, [(req.params as { id: string }).id]);
    if (!rowCount) throw AUTH_ERRORS.userNotFound();
    return {};
  }

  // ------------------------------------------------------------------------- routes

  const wrap = (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      const result = await fn(req, reply);
      if (!reply.sent) return reply.send(result);
      return reply;
    } catch (err) {
      return sendAuthError(req, reply, err);
    }
  };

  app.get('/health', async () => ({ status: 'up' }));
  app.get('/settings', async () => ({
    external: { email: true, phone: false, anonymous_users: config.auth.anonymousSignins, google: false, github: false },
    disable_signup: config.auth.disableSignup,
    mailer_autoconfirm: config.auth.autoconfirm,
    phone_autoconfirm: false,
    sms_provider: '',
    saml_enabled: false,
  }));
  app.get('/.well-known/jwks.json', async () => ({ keys: [] }));
  app.post('/signup', wrap(signup));
  app.post('/token', wrap(token));
  app.get('/user', wrap(getUser));
  app.put('/user', wrap(updateUser));
  app.post('/logout', wrap(logout));
  app.get('/admin/users', wrap(adminList));
  app.post('/admin/users', wrap(adminCreate));
  app.get('/admin/users/:id', wrap(adminGet));
  app.put('/admin/users/:id', wrap(adminUpdate));
  app.delete('/admin/users/:id', wrap(adminDelete));
  for (const path of ['/otp', '/verify', '/recover', '/authorize', '/callback', '/magiclink', '/invite', '/admin/generate_link', '/reauthenticate', '/resend', '/factors']) {
    const what = `${path.slice(1)} (email, OTP, OAuth and MFA flows)`;
    app.all(path, wrap(async () => Promise.reject(AUTH_ERRORS.notImplemented(what))));
  }

  // Short routes of the product spec: same logic, same JSON.
  app.post('/api/auth/signup', wrap(signup));
  app.post('/api/auth/login', wrap(passwordGrant));
  app.post('/api/auth/refresh', wrap(refreshGrant));
  app.post('/api/auth/logout', wrap(logout));
  app.get('/api/auth/me', wrap(getUser));
  app.post('/api/auth/reset', wrap(async () => Promise.reject(AUTH_ERRORS.notImplemented('Password reset email'))));

  await app.ready();
  return {
    name: 'auth',
    handle: (req, res) => app.routing(req, res),
    async health() {
      await pool.query('select 1 from auth.users limit 1');
      return { status: 'up' };
    },
    close: () => app.close(),
  };
}

