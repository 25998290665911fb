/**
 * The two API keys supabase-js is configured with: long-lived HS256 JWTs whose `role` is
 * `anon` (public) or `service_role` (secret, bypasses RLS), like Supabase's legacy keys.
 * They are derived deterministically from the secret, so a restart prints the same keys.
 */
import { SignJWT } from 'jose';

export type ApiKeyRole = 'anon' | 'service_role';

/** 2025-01-01T00:00:00Z and 2055-01-01T00:00:00Z: fixed so the keys do not change between runs. */
const ISSUED_AT = 1735689600;
const EXPIRES_AT = 2682374400;

export function deriveApiKey(role: ApiKeyRole, secret: string): Promise<string> {
  return new SignJWT({ role, iss: 'nextmavens' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(ISSUED_AT)
    .setExpirationTime(EXPIRES_AT)
    .sign(new TextEncoder().encode(secret));
}
