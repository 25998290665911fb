/**
 * The edge check: is this request allowed in, and as whom? Used in-process by the embedded
 * gateway and over HTTP by Traefik's ForwardAuth (`GET /verify`) in compose.
 *
 * Who the caller is, is decided by core/caller.ts (verifyRequest); this file holds what only the
 * edge does with it: the identity headers ForwardAuth returns, and how a refusal is worded on
 * each service's routes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { first, type Denial, type EdgeIdentity } from '../core/caller.ts';
import { bearerToken, unsecuredJwtError } from '../core/jwt.ts';
import { PROTOCOL_REFUSALS } from '../core/protocol-admission.ts';
import type { ServiceName } from '../core/service.ts';
import { API_VERSION, AUTH_ERRORS, AuthError } from '../auth/errors.ts';
import { StorageError } from '../storage/errors.ts';
import { GRAPHQL_ERRORS } from '../graphql/errors.ts';

/** The identity as ForwardAuth response headers (Traefik copies exactly these to the request). */
export function identityHeaders(identity: EdgeIdentity): Record<string, string> {
  return { 'X-User-Role': identity.role, 'X-User-Id': identity.userId, 'X-Tenant-Id': identity.tenantId };
}

/**
 * The edge's own refusals: over the group's rate limit (429), a body over its limit (413), a
 * sensitive request from an address not in ADMIN_IP_ALLOWLIST (403), a super-admin's request into a
 * foreign tenant that could not be audited (503, core/super-admin-audit.ts).
 */
export type EdgeRefusal =
  | { kind: 'rate_limited'; limit: number; retryAfter: number }
  | { kind: 'too_large'; limit: number }
  | { kind: 'address_not_allowed' }
  | { kind: 'not_audited' };

const REFUSALS = {
  rate_limited: { status: 429, code: 'over_request_rate_limit', gql: 'RATE_LIMITED', storage: ['TooManyRequests', 'too_many_requests'] },
  too_large: { status: 413, code: 'request_too_large', gql: 'REQUEST_TOO_LARGE', storage: ['EntityTooLarge', 'Payload too large'] },
  address_not_allowed: { status: 403, code: 'address_not_allowed', gql: 'FORBIDDEN', storage: ['AccessDenied', 'Unauthorized'] },
  not_audited: { status: 503, code: 'audit_unavailable', gql: 'SERVICE_UNAVAILABLE', storage: ['ServiceUnavailable', 'Service unavailable'] },
} as const;

function refusalMessage(r: EdgeRefusal): string {
  if (r.kind === 'rate_limited') return `Too many requests: the limit is ${r.limit} per minute; retry after ${r.retryAfter} s`;
  if (r.kind === 'too_large') return `Request body exceeds the limit of ${r.limit} bytes`;
  return PROTOCOL_REFUSALS[r.kind];
}

/**
 * An edge refusal on a route of `service`, in the error shape that service's clients read:
 * PostgREST's `{code, details, hint, message}`, GoTrue's (modern or legacy, as the client's API
 * version asks), storage-api's `{statusCode, code, error, message}`, GraphQL's `{errors: [...]}`;
 * elsewhere (realtime, the gateway's own pages) `{code, message}`.
 */
export function edgeRefusal(service: ServiceName | undefined, refusal: EdgeRefusal, headers: IncomingHttpHeaders): Denial {
  const { status, code, gql, storage } = REFUSALS[refusal.kind];
  const message = refusalMessage(refusal);
  const extra: Record<string, string> = refusal.kind === 'rate_limited' ? { 'Retry-After': String(refusal.retryAfter) } : {};
  if (refusal.kind === 'too_large') extra.Connection = 'close';
  if (service === 'rest') return { ok: false, status, body: { code, details: null, hint: null, message }, headers: extra };
  if (service === 'auth') {
    const modern = first(headers['x-supabase-api-version']) === API_VERSION;
    const versionHeader: Record<string, string> = modern ? { 'x-supabase-api-version': API_VERSION } : {};
    return { ok: false, status, body: new AuthError(status, code, message).render(modern), headers: { ...extra, 'x-sb-error-code': code, ...versionHeader } };
  }
  if (service === 'storage') return { ok: false, status, body: new StorageError(status, storage[0], storage[1], message, status).render(), headers: extra };
  if (service === 'graphql') {
    const body = refusal.kind === 'too_large' ? GRAPHQL_ERRORS.tooLarge(refusal.limit).render() : { errors: [{ message, extensions: { code: gql } }] };
    return { ok: false, status, body, headers: extra };
  }
  return { ok: false, status, body: { code, message }, headers: extra };
}

const TOKEN_FAILURES = new Set(['jwt_expired', 'jwt_malformed', 'jwt_invalid_signature', 'jwt_invalid']);

/**
 * The answer to a refused request on a route of `service` (the embedded gateway and /verify both
 * ask here). On REST routes a bad user token is answered the way PostgREST answers it (Supabase lets the
 * token through to PostgREST): `{code: PGRST301|PGRST303, message, details, hint}` with a
 * `WWW-Authenticate: Bearer error="invalid_token"` header, so supabase-js apps see the codes they
 * know (`PGRST303` "JWT expired"). On auth routes it is GoTrue's answer (Supabase lets the token
 * through to GoTrue): 403 `bad_jwt` "invalid JWT: …" in the shape the client's API version asks for.
 * API key problems keep the gateway's answer, as Supabase's.
 */
export function denialFor(service: ServiceName | undefined, denied: Denial, headers: IncomingHttpHeaders): Denial {
  const code = typeof denied.body.code === 'string' ? denied.body.code : '';
  if (!TOKEN_FAILURES.has(code)) return denied;
  if (service === 'auth') {
    const modern = first(headers['x-supabase-api-version']) === API_VERSION;
    const versionHeader: Record<string, string> = modern ? { 'x-supabase-api-version': API_VERSION } : {};
    return { ok: false, status: 403, body: AUTH_ERRORS.badJwt(String(denied.body.message ?? '')).render(modern), headers: { 'x-sb-error-code': 'bad_jwt', ...versionHeader } };
  }
  if (service !== 'rest') return denied;
  const message = String(denied.body.message ?? '');
  let pgrst: { code: string; message: string; details?: string };
  const unsecured = unsecuredJwtError(bearerToken(first(headers.authorization)) ?? '');
  if (unsecured) pgrst = unsecured;
  else if (code === 'jwt_expired') pgrst = { code: 'PGRST303', message: 'JWT expired' };
  else if (code === 'jwt_invalid_signature') pgrst = { code: 'PGRST301', message: 'JWT cryptographic operation failed' };
  else if (code === 'jwt_malformed') {
    const parts = (bearerToken(first(headers.authorization)) ?? '').split('.').length;
    pgrst = { code: 'PGRST301', message: parts === 3 ? message : `Expected 3 parts in JWT; got ${parts}` };
  } else if (/"exp"/.test(message)) pgrst = { code: 'PGRST303', message: "The JWT 'exp' claim must be a number" };
  else pgrst = { code: 'PGRST303', message };
  return {
    ok: false,
    status: 401,
    body: { code: pgrst.code, details: pgrst.details ?? null, hint: null, message: pgrst.message },
    headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${pgrst.message.replace(/["\\]/g, '')}"` },
  };
}
