/**
 * One-time email tokens (GoTrue-compatible). Each mail carries a 6-digit code and a link token
 * `hex(sha224(email || code))` — GoTrue's `token_hash`, prefixed `pkce_` when a PKCE flow waits
 * for it. Only `hex(sha256(token_hash))` is stored; one live token per user and kind (a new one
 * replaces the old), single use, expiring after AUTH_OTP_EXP seconds.
 */
import { createHash, randomInt } from 'node:crypto';
import { takeToken, upsertToken, type ConsumedToken, type Db } from './store/index.ts';

/** Mails with a link (generate_link's `type` values). */
export const EMAIL_ACTIONS = ['signup', 'invite', 'magiclink', 'recovery', 'email_change_current', 'email_change_new'] as const;
export type LinkAction = (typeof EMAIL_ACTIONS)[number];
/** What a mail is for: a link's action, or the code-only nonce of GET /reauthenticate. */
export type EmailAction = LinkAction | 'reauthentication';

export const TOKEN_TYPE: Record<EmailAction, string> = {
  signup: 'confirmation_token',
  invite: 'invite_token',
  magiclink: 'magiclink_token',
  recovery: 'recovery_token',
  email_change_current: 'email_change_token_current',
  email_change_new: 'email_change_token_new',
  reauthentication: 'reauthentication_token',
};

/** The `type` a link or verifyOtp call names for each action. */
export const VERIFY_TYPE: Record<EmailAction, string> = {
  signup: 'signup',
  invite: 'invite',
  magiclink: 'magiclink',
  recovery: 'recovery',
  email_change_current: 'email_change',
  email_change_new: 'email_change',
  reauthentication: 'reauthentication',
};

/** Token kinds each verify `type` accepts (`email` = the code of a sign-up or magic-link mail). */
export const ACCEPTED_TOKENS: Record<string, string[]> = {
  signup: ['confirmation_token'],
  invite: ['invite_token'],
  magiclink: ['magiclink_token'],
  recovery: ['recovery_token'],
  email: ['confirmation_token', 'magiclink_token', 'invite_token'],
  email_change: ['email_change_token_current', 'email_change_token_new'],
};

export const PKCE_PREFIX = 'pkce_';

const hex = (alg: string, s: string) => createHash(alg).update(s).digest('hex');

/** GoTrue's token_hash: hex(sha224(email || code)). */
export const tokenHash = (email: string, code: string) => hex('sha224', email.toLowerCase() + code);
/** What the table keeps of a link token. */
export const storedHash = (linkToken: string) => hex('sha256', linkToken.startsWith(PKCE_PREFIX) ? linkToken.slice(PKCE_PREFIX.length) : linkToken);

export interface IssuedToken {
  /** The 6-digit code. */
  code: string;
  /** token_hash, `pkce_`-prefixed for PKCE flows: the `token` of the link. */
  hashedToken: string;
}

export async function issueToken(
  db: Db,
  t: { userId: string; action: EmailAction; email: string; flowStateId?: string | null; ttlSeconds: number },
): Promise<IssuedToken> {
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const hash = tokenHash(t.email, code);
  await upsertToken(db, {
    userId: t.userId,
    tokenType: TOKEN_TYPE[t.action],
    storedHash: storedHash(hash),
    relatesTo: t.email.toLowerCase(),
    flowStateId: t.flowStateId ?? null,
    ttlSeconds: t.ttlSeconds,
  });
  return { code, hashedToken: t.flowStateId ? PKCE_PREFIX + hash : hash };
}

/** Takes (deletes) the token matching a link token, among the kinds `type` accepts. */
export async function consumeToken(db: Db, linkToken: string, type: string, email?: string): Promise<ConsumedToken | undefined> {
  const kinds = ACCEPTED_TOKENS[type];
  if (!kinds) return undefined;
  return takeToken(db, storedHash(linkToken), kinds, email ?? null);
}
