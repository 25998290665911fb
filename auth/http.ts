/**
 * What the auth route modules share: request-body helpers, the handler wrapper that renders
 * AuthErrors, and the dependencies the service factory hands to each module.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { JwtClaims } from '../gateway/jwt.ts';
import type { Config } from '../config/load.ts';
import { AUTH_ERRORS, sendAuthError } from './errors.ts';
import type { AuthMail } from './mailer.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { UserRow } from './store.ts';
import type { IssuedSession } from './tokens.ts';

export type Body = Record<string, unknown>;
/**
 * What GoTrue accepts as an address (checkmail's format check): the HTML "valid e-mail address"
 * grammar — atext characters, `@`, dot-separated labels of letters, digits and inner hyphens.
 */
export const EMAIL = /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
/** GoTrue's limit on an address's length. */
export const MAX_EMAIL_LENGTH = 255;

/** A well-formed address (already trimmed and lower-cased), or GoTrue's 400 for it. */
export function checkEmail(email: string): string {
  if (email.length > MAX_EMAIL_LENGTH) throw AUTH_ERRORS.validation('An email address is too long');
  if (!EMAIL.test(email)) throw AUTH_ERRORS.invalidEmail();
  return email;
}

export const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
export const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Body) : {});

/** Does a parsed JSON value hold a NUL character anywhere (Postgres text and jsonb refuse it)? */
export function hasNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (!value || typeof value !== 'object' || depth > 64) return false;
  if (Array.isArray(value)) return value.some((v) => hasNul(v, depth + 1));
  return Object.entries(value).some(([k, v]) => k.includes('\u0000') || hasNul(v, depth + 1));
}

export function bodyOf(req: FastifyRequest): Body {
  const b = req.body;
  if (b === undefined || b === null || b === '') return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw AUTH_ERRORS.badJson();
  return b as Body;
}

export function queryOf(req: FastifyRequest): Body {
  return obj(req.query);
}

/** A trimmed, lower-cased, well-formed email from the body, or a 400. */
export function emailOf(body: Body, required = true): string | undefined {
  const email = str(body.email)?.trim().toLowerCase();
  if (!email) {
    if (required) throw AUTH_ERRORS.validation('An email address is required');
    return undefined;
  }
  return checkEmail(email);
}

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** Sends the handler's result as JSON (unless it already replied) and renders errors GoTrue-style. */
export const wrap = (fn: Handler) => async (req: FastifyRequest, reply: FastifyReply) => {
  try {
    const result = await fn(req, reply);
    if (!reply.sent) return reply.send(result);
    return reply;
  } catch (err) {
    return sendAuthError(req, reply, err);
  }
};

/** What the service factory gives each route module. */
export interface AuthDeps {
  app: FastifyInstance;
  config: Config;
  pool: pg.Pool;
  mail: AuthMail;
  otpByIp: RateLimiter;
  signupByIp: RateLimiter;
  /** GET/POST /verify per client address: 6-digit codes must not be guessable by brute force. */
  verifyByIp: RateLimiter;
  /** Starts a session for `user` (amr `method`) and returns GoTrue's session response. */
  issue(client: pg.PoolClient, user: UserRow, method: string, req: FastifyRequest): Promise<IssuedSession>;
  requireAdmin(req: FastifyRequest): Promise<void>;
  currentUser(req: FastifyRequest): Promise<{ user: UserRow; claims: JwtClaims }>;
  tenantFromApiKey(req: FastifyRequest): Promise<string | null>;
  checkPassword(password: string | undefined): string;
}
