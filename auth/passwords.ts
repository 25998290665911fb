/**
 * Password hashing with bcrypt (a native N-API binding, off the event loop). Hashes GoTrue
 * stored (`$2a$`/`$2b$`, any cost) verify unchanged, so users migrate from Supabase with their
 * passwords. Also the password rules a new password must meet.
 */
import { hash, verify } from '@node-rs/bcrypt';
import { AUTH_ERRORS } from './errors.ts';

export function hashPassword(password: string, cost: number): Promise<string> {
  return hash(password, cost);
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (!stored || !/^\$2[abxy]\$\d\d\$/.test(stored)) return false;
  return verify(password, stored);
}

/** bcrypt's input limit. */
const MAX_PASSWORD_BYTES = 72;

/** A password GoTrue would accept (present, at most 72 bytes, at least AUTH_PASSWORD_MIN_LENGTH long), or its error. */
export function checkPassword(minLength: number, password: string | undefined): string {
  if (!password) throw AUTH_ERRORS.validation('Signup requires a valid password');
  // bcrypt only reads the first 72 bytes: a longer password would be silently truncated (GoTrue refuses it too).
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw AUTH_ERRORS.validation(`Password cannot be longer than ${MAX_PASSWORD_BYTES} characters`);
  if (password.length < minLength) throw AUTH_ERRORS.weakPassword(minLength);
  return password;
}
