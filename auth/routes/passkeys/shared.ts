/**
 * What the /passkeys routes share (GoTrue's requirePasskeyEnabled and requirePasskeyManagementAAL,
 * internal/api/passkey_webauthn.go): the feature switch, the aal2 rule for users with MFA, the
 * credential JSON of the body, and the list item a passkey is answered as.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AuthError } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
import { factorsOf, isUuid, type PasskeyRow, type SessionRow, type UserRow } from '../../store/index.ts';

export function requirePasskeys(d: AuthDeps): void {
  if (!d.config.auth.passkey.enabled) throw new AuthError(404, 'passkey_disabled', 'Passkeys are disabled');
}

/** A user with a verified MFA factor manages passkeys only from an aal2 session. */
export async function requireManagementAal(d: AuthDeps, user: UserRow, session: SessionRow | undefined): Promise<void> {
  const mfa = (await factorsOf(d.pool, user.id)).some((f) => f.status === 'verified');
  if (mfa && session?.aal !== 'aal2') throw new AuthError(403, 'insufficient_aal', 'AAL2 session is required to manage passkeys when MFA is enabled');
}

/** `{challenge_id, credential}` of a verify request, as GoTrue checks them. */
export function ceremonyAnswer(req: FastifyRequest): { challengeId: string; credential: Record<string, unknown> } {
  const body = bodyOf(req);
  const challengeId = str(body.challenge_id) ?? '';
  if (!challengeId) throw new AuthError(400, 'validation_failed', 'challenge_id is required');
  if (body.credential === undefined || body.credential === null) throw new AuthError(400, 'validation_failed', 'credential is required');
  if (!isUuid(challengeId)) throw new AuthError(400, 'validation_failed', 'challenge_id must be a valid UUID');
  if (typeof body.credential !== 'object' || Array.isArray(body.credential)) throw new AuthError(400, 'webauthn_verification_failed', 'Invalid credential response');
  return { challengeId, credential: body.credential as Record<string, unknown> };
}

export const challengeNotFound = () => new AuthError(400, 'webauthn_challenge_not_found', 'Challenge not found or already used');
export const challengeExpired = () => new AuthError(400, 'webauthn_challenge_expired', 'Challenge has expired');
export const verificationFailed = () => new AuthError(400, 'webauthn_verification_failed', 'Credential verification failed');
export const passkeyNotFound = () => new AuthError(404, 'validation_failed', 'Passkey not found');

export function passkeyJson(p: PasskeyRow): Record<string, unknown> {
  return {
    id: p.id,
    ...(p.friendly_name ? { friendly_name: p.friendly_name } : {}),
    created_at: p.created_at.toISOString(),
    ...(p.last_used_at ? { last_used_at: p.last_used_at.toISOString() } : {}),
  };
}
