/**
 * What the auth routes share for reading requests: the body and query as objects, strings and
 * objects out of them, GoTrue's address check, and the NUL check (Postgres refuses NUL).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AUTH_ERRORS } from './errors.ts';

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

/** A form body as an object of first values (as Go's r.FormValue reads it). */
function parseForm(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(text)) if (!Object.hasOwn(out, k)) out[k] = v;
  return out;
}

/** Lets a route scope read form-encoded bodies (OAuth token requests, SAML POST bindings); NUL refused. */
export function addFormParser(scope: FastifyInstance): void {
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, text, done) => {
    const form = parseForm(text as string);
    if (hasNul(form)) return done(AUTH_ERRORS.validation('Request body must not contain NUL characters'), undefined);
    done(null, form);
  });
}
