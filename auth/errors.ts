/**
 * Auth errors as GoTrue renders them for clients sending `X-Supabase-Api-Version: 2024-01-01`:
 * `{code, message}` with the version echoed and `x-sb-error-code`; the legacy shape
 * `{code: <status>, error_code, msg}` otherwise.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../core/errors.ts';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.ts';

export const API_VERSION = '2024-01-01';

export class AuthError extends ServiceError {
  readonly status: number;
  readonly extra: Record<string, unknown>;
  constructor(status: number, code: string, message: string, extra: Record<string, unknown> = {}) {
    super(code, message);
    this.status = status;
    this.extra = extra;
  }

  get httpStatus(): number {
    return this.status;
  }

  /** GoTrue's body for this error: `{code, message}` for API version 2024-01-01 clients, else the legacy shape. */
  render(modern = true): Record<string, unknown> {
    return modern
      ? { code: this.code, message: this.message, ...this.extra }
      : { code: this.status, error_code: this.code, msg: this.message, ...this.extra };
  }
}

/**
 * GoTrue's OAuthError (internal/api/apierrors/apierrors.go): always 400, rendered
 * `{error, error_description}` whatever the API version (the id_token grant's refusals).
 */
export class OAuthError extends AuthError {
  readonly error: string;
  constructor(error: string, description: string) {
    super(400, error, description);
    this.error = error;
  }

  override render(): Record<string, unknown> {
    return { error: this.error, error_description: this.message };
  }
}

export const AUTH_ERRORS = {
  badJson: () => new AuthError(400, 'bad_json', 'Could not parse request body as JSON'),
  validation: (message: string) => new AuthError(400, 'validation_failed', message),
  invalidCredentials: () => new AuthError(400, 'invalid_credentials', 'Invalid login credentials'),
  emailNotConfirmed: () => new AuthError(400, 'email_not_confirmed', 'Email not confirmed'),
  userExists: () => new AuthError(422, 'user_already_exists', 'User already registered'),
  emailExists: () => new AuthError(422, 'email_exists', 'A user with this email address has already been registered'),
  weakPassword: (min: number) =>
    new AuthError(422, 'weak_password', `Password should be at least ${min} characters.`, { weak_password: { reasons: ['length'] } }),
  samePassword: () => new AuthError(422, 'same_password', 'New password should be different from the old password.'),
  signupDisabled: () => new AuthError(422, 'signup_disabled', 'Signups not allowed for this instance'),
  anonymousDisabled: () => new AuthError(422, 'anonymous_provider_disabled', 'Anonymous sign-ins are disabled'),
  invalidEmail: () => new AuthError(400, 'validation_failed', 'Unable to validate email address: invalid format'),
  // Features this build does not offer answer as GoTrue does when they are switched off.
  phoneSignupsDisabled: () => new AuthError(400, 'phone_provider_disabled', 'Phone signups are disabled'),
  phoneLoginsDisabled: (status = 400) => new AuthError(status, 'phone_provider_disabled', 'Phone logins are disabled'),
  phoneProviderUnsupported: () => new AuthError(400, 'phone_provider_disabled', 'Unsupported phone provider'),
  samlDisabled: () => new AuthError(404, 'saml_provider_disabled', 'SAML 2.0 is disabled'),
  manualLinkingDisabled: () => new AuthError(404, 'manual_linking_disabled', 'Manual linking is disabled'),
  web3Disabled: () => new AuthError(422, 'web3_provider_disabled', 'Web3 provider is disabled'),
  // MFA (GoTrue's internal/api/mfa.go).
  anonymousNotAllowed: () => new AuthError(403, 'no_authorization', 'Anonymous user not allowed to perform these actions'),
  factorNotFound: () => new AuthError(404, 'mfa_factor_not_found', 'Factor not found'),
  factorIdNotUuid: () => new AuthError(404, 'validation_failed', 'factor_id must be an UUID'),
  factorNameConflict: (name: string) =>
    new AuthError(422, 'mfa_factor_name_conflict', `A factor with the friendly name ${JSON.stringify(name)} for this user already exists`),
  tooManyFactors: () => new AuthError(422, 'too_many_enrolled_mfa_factors', 'Maximum number of verified factors reached, unenroll to continue'),
  aal2ToEnroll: () => new AuthError(403, 'insufficient_aal', 'AAL2 required to enroll a new factor'),
  aal2ToUnenroll: () => new AuthError(422, 'insufficient_aal', 'AAL2 required to unenroll verified factor'),
  factorTypeInvalid: () => new AuthError(400, 'validation_failed', 'factor_type needs to be totp, phone, or webauthn'),
  mfaEnrollDisabled: (type: 'phone' | 'webauthn', label: string) => new AuthError(422, `mfa_${type}_enroll_not_enabled`, `MFA enroll is disabled for ${label}`),
  mfaVerifyDisabled: (type: 'phone' | 'webauthn', label: string) => new AuthError(422, `mfa_${type}_verify_not_enabled`, `MFA verification is disabled for ${label}`),
  challengeNotFound: () => new AuthError(422, 'mfa_factor_not_found', 'MFA factor with the provided challenge ID not found'),
  challengeIpMismatch: () => new AuthError(422, 'mfa_ip_address_mismatch', 'Challenge and verify IP addresses mismatch.'),
  challengeExpired: (id: string) =>
    new AuthError(422, 'mfa_challenge_expired', `MFA challenge ${id} has expired, verify against another challenge or create a new challenge.`),
  codeRequired: () => new AuthError(400, 'validation_failed', 'Code needs to be non-empty'),
  invalidTotp: () => new AuthError(422, 'mfa_verification_failed', 'Invalid TOTP code entered'),
  noAuthorization: () => new AuthError(401, 'no_authorization', 'This endpoint requires a valid Bearer token'),
  badJwt: (why: string) => new AuthError(403, 'bad_jwt', `invalid JWT: unable to parse or verify signature, ${why}`),
  notAdmin: () => new AuthError(403, 'not_admin', 'User not allowed'),
  userNotFound: (status = 404) => new AuthError(status, 'user_not_found', 'User not found'),
  sessionNotFound: () => new AuthError(403, 'session_not_found', 'Session from session_id claim in JWT does not exist'),
  refreshNotFound: () => new AuthError(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found'),
  refreshReused: () => new AuthError(400, 'refresh_token_already_used', 'Invalid Refresh Token: Already Used'),
  sessionExpired: () => new AuthError(400, 'session_expired', 'Invalid Refresh Token: Session Expired'),
  userBanned: () => new AuthError(400, 'user_banned', 'User is banned'),
  unsupportedGrant: () => new AuthError(400, 'unsupported_grant_type', 'unsupported_grant_type'),
  notFound: () => new AuthError(404, 'not_found', 'Not found'),
  unexpected: () => new AuthError(500, 'unexpected_failure', 'Unexpected failure'),
  /** Postgres is shutting down, starting or unreachable: retryable, and nothing about where it is. */
  databaseUnavailable: () => new AuthError(503, 'unexpected_failure', DATABASE_UNAVAILABLE_MESSAGE),
} as const;

/**
 * Postgres refusing a value the client sent (a malformed uuid, a tenant that does not exist, an
 * interval out of range, an address taken by a concurrent request) is the client's error, not a
 * 500. Anything else stays unexpected.
 */
export function fromPgError(err: unknown): AuthError | undefined {
  const pg = err as { code?: unknown; severity?: unknown; constraint?: unknown };
  if (!pg || typeof pg.code !== 'string' || typeof pg.severity !== 'string') return undefined;
  if (pg.code === '23505') {
    return pg.constraint === 'users_email_key' ? AUTH_ERRORS.emailExists() : new AuthError(422, 'conflict', 'The value conflicts with an existing one');
  }
  if (pg.code === '23503') return AUTH_ERRORS.validation('A referenced record (e.g. the tenant) does not exist');
  if (pg.code.startsWith('22')) return AUTH_ERRORS.validation('Invalid value in the request');
  return undefined;
}

/**
 * The AuthError to answer for anything a handler threw: itself, a 503 while the database is not
 * there (shutting down, starting, unreachable), a 4xx for values Postgres refused, else a 500.
 */
export function asAuthError(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  if (isDatabaseUnavailable(err)) return AUTH_ERRORS.databaseUnavailable();
  return fromPgError(err) ?? AUTH_ERRORS.unexpected();
}

/** The OAuth `error` of a redirect carrying this error (GoTrue's oauthErrorMap). */
export function redirectErrorName(e: AuthError): string {
  if (e.status === 503) return 'temporarily_unavailable';
  return e.status >= 500 ? 'server_error' : 'access_denied';
}

/**
 * Renders an AuthError (or anything else, as a 503/500 without internals) for this client: what
 * the service's error handler (auth/service.ts) answers for whatever a handler threw.
 */
export function sendAuthError(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = asAuthError(err);
  if (!(err instanceof AuthError)) req.log[e.status === 503 ? 'warn' : e.status >= 500 ? 'error' : 'info']({ err }, 'auth: request refused');
  const modern = String(req.headers['x-supabase-api-version'] ?? '') >= API_VERSION;
  reply.code(e.status).header('x-sb-error-code', e.code).header('X-Supabase-Api-Version', API_VERSION);
  return reply.send(e.render(modern));
}
