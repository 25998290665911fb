/**
 * Admin accounts: created by `nextmavens admin create` (cli/admin-commands.ts), by the first-run
 * page (localhost only, while none exists) or by an owner; passwords with bcrypt and TOTP codes
 * checked as auth/ does (auth/passwords.ts, auth/totp.ts).
 */
import { hashPassword, verifyPassword } from '../auth/passwords.ts';
import { validTotp } from '../auth/totp.ts';
import { AdminError } from './errors.ts';
import { ADMIN_ROLES, adminByEmail, insertAdmin, type AdminRole, type AdminSecrets, type AdminUser, type Db } from './store.ts';

export const MIN_PASSWORD_LENGTH = 10;
const BCRYPT_COST = 12;
/** A dummy hash to spend the same time on an unknown email as on a wrong password. */
const DUMMY_HASH = '$2y$12$SGXK0j/Mg3X8DTzeT.HXYedCHTdJsYU8VWz0xbJDf9vt9ujECFYMS';

export function parseRole(role: unknown): AdminRole {
  if (role === undefined) return 'developer';
  if (typeof role === 'string' && (ADMIN_ROLES as readonly string[]).includes(role)) return role as AdminRole;
  throw new AdminError('validation_failed', 400, `role must be one of ${ADMIN_ROLES.join(', ')}`);
}

export function checkCredentials(email: unknown, password: unknown): { email: string; password: string } {
  if (typeof email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(email.trim()) || email.length > 320) throw new AdminError('validation_failed', 400, 'A valid email is required');
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH) throw new AdminError('validation_failed', 400, `The password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  if (Buffer.byteLength(password) > 72) throw new AdminError('validation_failed', 400, 'The password cannot be longer than 72 bytes');
  return { email: email.trim(), password };
}

/** A new admin; 409 when the email is taken (or, with onlyIfFirst, when an admin exists already). */
export async function createAdminAccount(db: Db, input: { email: unknown; password: unknown; role?: unknown; onlyIfFirst?: boolean }): Promise<AdminUser> {
  const { email, password } = checkCredentials(input.email, input.password);
  const role = parseRole(input.role);
  const created = await insertAdmin(db, { email, passwordHash: await hashPassword(password, BCRYPT_COST), role, onlyIfFirst: input.onlyIfFirst });
  if (!created) throw new AdminError('conflict', 409, input.onlyIfFirst ? 'An admin exists already: sign in instead' : `An admin with email ${email} exists already`);
  return created;
}

export type SignInResult = { ok: true; admin: AdminSecrets } | { ok: false; reason: 'invalid' | 'mfa_required' | 'mfa_invalid' };

/** Email + password (+ TOTP code once enrolled). */
export async function checkSignIn(db: Db, email: string, password: string, code: string | undefined): Promise<SignInResult> {
  const admin = await adminByEmail(db, email);
  const passwordOk = await verifyPassword(password, admin?.password_hash ?? DUMMY_HASH);
  if (!admin || !passwordOk) return { ok: false, reason: 'invalid' };
  if (admin.totp_enabled && admin.totp_secret) {
    if (!code) return { ok: false, reason: 'mfa_required' };
    if (!validTotp(admin.totp_secret, code.trim())) return { ok: false, reason: 'mfa_invalid' };
  }
  return { ok: true, admin };
}

/** Strips the secrets of an account for the wire. */
export function publicAdmin(a: AdminUser): AdminUser {
  return { id: a.id, email: a.email, role: a.role, totp_enabled: a.totp_enabled, created_at: a.created_at, last_sign_in_at: a.last_sign_in_at };
}
