/**
 * Sign-in and accounts: the first-run page (localhost only, while no admin exists), sign-in with
 * password and TOTP under a per-email and per-address failure limit, sign-out, the session's
 * admin and CSRF token, TOTP enrolment, and the owners' management of admins.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { newTotp, validTotp } from '../../auth/totp.ts';
import { checkSignIn, createAdminAccount, parseRole, publicAdmin } from '../accounts.ts';
import { AdminError } from '../errors.ts';
import type { AdminContext } from '../server.ts';
import { endSession, foreignOrigin, sessionToken, sha256, startSession } from '../session.ts';
import {
  adminById,
  clearFailures,
  countAdmins,
  deleteAdmin,
  deleteSessionsOf,
  listAdmins,
  LOGIN_WINDOW_MINUTES,
  otherOwners,
  recentFailures,
  recordFailure,
  sessionByHash,
  setAdminRole,
  setTotp,
} from '../store.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** A request from this machine itself: a loopback peer and no proxy in between. */
function fromLocalhost(req: FastifyRequest): boolean {
  return LOOPBACK.has(req.raw.socket.remoteAddress ?? '') && req.headers['x-forwarded-for'] === undefined;
}

/** Sign-in and first run take JSON only (a cross-site form cannot send it) and refuse foreign Origins. */
function checkPlainJson(req: FastifyRequest): Record<string, unknown> {
  if (foreignOrigin(req)) throw new AdminError('csrf', 403, 'Cross-site request refused');
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json') || typeof req.body !== 'object' || req.body === null) {
    throw new AdminError('validation_failed', 400, 'Send a JSON object');
  }
  return req.body as Record<string, unknown>;
}

export function accountRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { db, config } = ctx.deps;
  const hours = config.admin.sessionHours;

  app.get('/admin/api/setup', async (req) => {
    const needed = (await countAdmins(db)) === 0;
    return { needed, allowed: needed && fromLocalhost(req) };
  });

  app.post('/admin/api/setup', async (req, reply) => {
    const body = checkPlainJson(req);
    if (!fromLocalhost(req)) throw new AdminError('forbidden', 403, 'The first admin can be created only from localhost, or with `nextmavens admin create <email>`');
    const admin = await createAdminAccount(db, { email: body.email, password: body.password, role: 'owner', onlyIfFirst: true });
    const csrfToken = await startSession(db, reply, admin, { hours, ip: ctx.ip(req), secure: ctx.secure });
    req.adminSession = { admin, csrfToken, tokenHash: '' };
    await ctx.audit(req, 'setup', admin.email);
    return { admin: publicAdmin(admin), csrfToken };
  });

  app.post('/admin/api/login', async (req, reply) => {
    const body = checkPlainJson(req);
    const email = typeof body.email === 'string' ? body.email : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const code = typeof body.code === 'string' && body.code ? body.code : undefined;
    const ip = ctx.ip(req);
    const failures = await recentFailures(db, email, ip);
    const max = config.admin.loginMaxFailures;
    if (failures.email >= max || failures.ip >= 4 * max) {
      reply.header('retry-after', String(LOGIN_WINDOW_MINUTES * 60));
      throw new AdminError('too_many_attempts', 429, `Too many failed sign-ins; try again in ${LOGIN_WINDOW_MINUTES} minutes`);
    }
    const result = await checkSignIn(db, email, password, code);
    if (!result.ok) {
      if (result.reason === 'mfa_required') throw new AdminError('mfa_required', 401, 'Enter the code of your authenticator app');
      await recordFailure(db, email, ip);
      throw new AdminError(result.reason === 'invalid' ? 'invalid_credentials' : 'mfa_invalid', 401, result.reason === 'invalid' ? 'Invalid email or password' : 'Wrong authenticator code');
    }
    await clearFailures(db, email);
    const admin = publicAdmin(result.admin);
    const csrfToken = await startSession(db, reply, admin, { hours, ip, secure: ctx.secure });
    req.adminSession = { admin, csrfToken, tokenHash: '' };
    await ctx.audit(req, 'login', admin.email);
    return { admin, csrfToken };
  });

  app.post('/admin/api/logout', async (req, reply) => {
    const s = await ctx.session(req);
    await endSession(db, reply, s, ctx.secure);
    await ctx.audit(req, 'logout', s.admin.email);
    return { ok: true };
  });

  // The page asks on load: who is signed in, and the CSRF token to send (never in a cookie a script could not read).
  app.get('/admin/api/me', async (req) => {
    const token = sessionToken(req);
    const row = token ? await sessionByHash(db, sha256(token)) : undefined;
    if (!row) throw new AdminError('unauthenticated', 401, 'Sign in to the admin dashboard first');
    // The anon key is public (every app embeds it): the realtime inspector joins channels with it.
    return { admin: publicAdmin(row.admin), csrfToken: row.csrf_token, expiresAt: row.expires_at, anonKey: config.anonKey };
  });

  app.post('/admin/api/me/totp', async (req) => {
    const s = await ctx.session(req);
    const totp = await newTotp('NextMavens admin', s.admin.email);
    await setTotp(db, s.admin.id, totp.secret, false);
    return { secret: totp.secret, uri: totp.uri, qrCode: totp.qrCode };
  });

  app.post<{ Body: { code?: unknown } }>('/admin/api/me/totp/verify', async (req) => {
    const s = await ctx.session(req);
    const me = await adminById(db, s.admin.id);
    if (!me?.totp_secret || typeof req.body?.code !== 'string' || !validTotp(me.totp_secret, req.body.code.trim())) throw new AdminError('mfa_invalid', 400, 'Wrong authenticator code');
    await setTotp(db, s.admin.id, me.totp_secret, true);
    await ctx.audit(req, 'totp.enable', s.admin.email);
    return { totp_enabled: true };
  });

  // Owners manage admins.
  app.get('/admin/api/admins', async (req) => {
    await ctx.session(req, 'owner');
    return (await listAdmins(db)).map(publicAdmin);
  });

  app.post<{ Body: Record<string, unknown> }>('/admin/api/admins', async (req) => {
    await ctx.session(req, 'owner');
    const admin = await createAdminAccount(db, { email: req.body?.email, password: req.body?.password, role: req.body?.role });
    await ctx.audit(req, 'admins.create', admin.email, { role: admin.role });
    return publicAdmin(admin);
  });

  app.patch<{ Params: { id: string }; Body: { role?: unknown } }>('/admin/api/admins/:id', async (req) => {
    const s = await ctx.session(req, 'owner');
    const id = uuidParam(req.params.id);
    const role = parseRole(req.body?.role);
    if (role !== 'owner' && (await otherOwners(db, id)) === 0) throw new AdminError('conflict', 409, 'The last owner cannot be demoted');
    const updated = await setAdminRole(db, id, role);
    if (!updated) throw new AdminError('not_found', 404, 'No such admin');
    if (updated.id !== s.admin.id) await deleteSessionsOf(db, updated.id); // the new role from the next sign-in on
    await ctx.audit(req, 'admins.role', updated.email, { role });
    return publicAdmin(updated);
  });

  app.delete<{ Params: { id: string } }>('/admin/api/admins/:id', async (req) => {
    await ctx.session(req, 'owner');
    const id = uuidParam(req.params.id);
    if ((await otherOwners(db, id)) === 0) throw new AdminError('conflict', 409, 'The last owner cannot be removed');
    if (!(await deleteAdmin(db, id))) throw new AdminError('not_found', 404, 'No such admin');
    await ctx.audit(req, 'admins.delete', req.params.id);
    return { ok: true };
  });
}

export function uuidParam(id: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw new AdminError('not_found', 404, 'No such item');
  return id;
}
