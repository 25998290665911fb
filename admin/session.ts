/**
 * Admin sessions: a random token in an httpOnly, SameSite=Strict cookie scoped to /admin; the
 * server keeps only its SHA-256 with the expiry and a CSRF token (sql/0035_admin.sql). Every
 * request under /admin/api (but sign-in and first run) needs a live session; every mutating one
 * also the CSRF token as `x-csrf-token` and, when the browser sends one, a same-host Origin.
 * The admin's role decides what it may do: read_only only reads, developer cannot manage admins.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AdminError } from './errors.ts';
import { deleteSession, insertSession, sessionByHash, type AdminRole, type AdminUser, type Db } from './store.ts';

export const COOKIE = 'nm_admin';
const COOKIE_PATH = '/admin';

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface AdminSession {
  admin: AdminUser;
  csrfToken: string;
  tokenHash: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    adminSession?: AdminSession;
  }
}

/** The session cookie's value, if the request carries one. */
export function sessionToken(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) return decodeURIComponent(part.slice(eq + 1).trim()) || undefined;
  }
  return undefined;
}

function cookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${COOKIE}=${value}; Path=${COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

/** A new session for `admin`: its row, and the cookie on the reply. Returns the CSRF token. */
export async function startSession(db: Db, reply: FastifyReply, admin: AdminUser, o: { hours: number; ip: string; secure: boolean }): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(24).toString('base64url');
  await insertSession(db, { tokenHash: sha256(token), adminId: admin.id, csrfToken, hours: o.hours, ip: o.ip, userAgent: reply.request.headers['user-agent'] });
  reply.header('set-cookie', cookie(token, o.hours * 3600, o.secure));
  return csrfToken;
}

export async function endSession(db: Db, reply: FastifyReply, session: AdminSession | undefined, secure: boolean): Promise<void> {
  if (session) await deleteSession(db, session.tokenHash);
  reply.header('set-cookie', cookie('', 0, secure));
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A mutating request from another site: its Origin names another host than the request's. */
export function foreignOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (!origin || !MUTATING.has(req.method)) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

/** Loads the session of the request; refuses one without (401), a foreign Origin or a missing CSRF token (403). */
export async function requireSession(db: Db, req: FastifyRequest): Promise<AdminSession> {
  if (foreignOrigin(req)) throw new AdminError('csrf', 403, 'Cross-site request refused');
  const token = sessionToken(req);
  const row = token ? await sessionByHash(db, sha256(token)) : undefined;
  if (!row || !token) throw new AdminError('unauthenticated', 401, 'Sign in to the admin dashboard first');
  const session = { admin: row.admin, csrfToken: row.csrf_token, tokenHash: sha256(token) };
  if (MUTATING.has(req.method)) {
    const sent = req.headers['x-csrf-token'];
    if (typeof sent !== 'string' || !sameString(sent, row.csrf_token)) throw new AdminError('csrf', 403, 'Missing or wrong CSRF token (x-csrf-token)');
  }
  req.adminSession = session;
  return session;
}

const RANK: Record<AdminRole, number> = { read_only: 0, developer: 1, owner: 2 };

/** Refuses (403) an admin whose role is below `least`. */
export function requireRole(session: AdminSession, least: AdminRole): void {
  if (RANK[session.admin.role] < RANK[least]) {
    throw new AdminError('forbidden', 403, least === 'owner' ? 'Only an owner may do this' : 'A read-only admin cannot change anything');
  }
}
