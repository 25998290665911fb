/**
 * Password hashing with bcrypt (a native N-API binding, off the event loop). Hashes GoTrue
 * stored (`$2a$`/`$2b$`, any cost) verify unchanged, so users migrate from Supabase with their
 * passwords.
 */
import { hash, verify } from '@node-rs/bcrypt';

export function hashPassword(password: string, cost: number): Promise<string> {
  return hash(password, cost);
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (!stored || !/^\$2[abxy]\$\d\d\$/.test(stored)) return false;
  return verify(password, stored);
}
