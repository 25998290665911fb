/**
 * `POST /factors/{factor_id}/verify` (mfa.verify): the answer to a challenge — a TOTP code checked
 * against the factor's secret (auth/totp.ts), or a WebAuthn response checked against the
 * challenge's options (auth/webauthn.ts). Success verifies the factor (the user's other
 * unverified factors of its type go), raises the caller's session to aal2 with the factor's amr
 * method, ends the user's aal1 sessions and answers the session with a new refresh token —
 * GoTrue's verifyTOTPFactor / verifyWebAuthnFactor and updateMFASessionAndClaims.
 */
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { AuthDeps } from '../../deps.ts';
import { AuthError, AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, obj, str } from '../../http.ts';
import {
  audit,
  deleteAal1Sessions,
  deleteChallenge,
  deleteUnverifiedFactors,
  factorsOf,
  findUserById,
  identitiesOf,
  lockChallenge,
  markChallengeVerified,
  markFactorVerified,
  raiseSession,
  saveWebauthnCredential,
  setWebauthnCounter,
  swapSessionRefreshToken,
  withTransaction,
  type ChallengeRow,
  type FactorRow,
} from '../../store/index.ts';
import { tokenTenantFor } from '../../tenancy.ts';
import { sessionResponse } from '../../tokens.ts';
import { validTotp } from '../../totp.ts';
import { verifyAssertion, verifyCreation, type StoredCredential, type WebauthnSession } from '../../webauthn.ts';
import { amrMethod, mfaCaller, ownedFactor, type MfaCaller } from './caller.ts';

/** The challenge of the request, locked: GoTrue's validateChallenge (an expired one is deleted, then refused). */
async function openChallenge(d: AuthDeps, c: pg.PoolClient, req: FastifyRequest, factor: FactorRow, id: string): Promise<ChallengeRow | { refusal: AuthError }> {
  const ch = await lockChallenge(c, factor.id, id, d.config.auth.mfa.challengeExpiry);
  if (!ch) throw AUTH_ERRORS.challengeNotFound();
  // A challenge is used once, from the address that asked for it.
  if (ch.verified_at || ch.ip_address !== req.ip) throw AUTH_ERRORS.challengeIpMismatch();
  if (ch.expired) {
    await deleteChallenge(c, ch.id);
    return { refusal: AUTH_ERRORS.challengeExpired(ch.id) };
  }
  return ch;
}

/** What a verified answer does, in the verification's transaction; the raised session. */
async function raise(d: AuthDeps, c: pg.PoolClient, { user, session }: MfaCaller, factor: FactorRow, challengeId: string, req: FastifyRequest) {
  await audit(c, 'verification_attempted', { actor_id: user.id, factor_id: factor.id, challenge_id: challengeId, factor_type: factor.factor_type }, req.ip);
  if (factor.status !== 'verified') await markFactorVerified(c, factor.id);
  const raised = await raiseSession(c, session.id, amrMethod(factor.factor_type), factor.id);
  const refreshToken = await swapSessionRefreshToken(c, session.id);
  await deleteAal1Sessions(c, user.id);
  await deleteUnverifiedFactors(c, user.id, factor.factor_type);
  const fresh = (await findUserById(c, user.id))!;
  return sessionResponse(d.config, fresh, await identitiesOf(c, user.id), raised, refreshToken, await factorsOf(c, user.id), await tokenTenantFor(c, fresh));
}

async function verifyTotp(d: AuthDeps, req: FastifyRequest, caller: MfaCaller, factor: FactorRow, challengeId: string, code: string) {
  return withTransaction(d.pool, async (c) => {
    const ch = await openChallenge(d, c, req, factor, challengeId);
    if ('refusal' in ch) return ch;
    if (!validTotp(factor.secret ?? '', code)) {
      await audit(c, 'verification_failed', { actor_id: caller.user.id, factor_id: factor.id, challenge_id: ch.id, factor_type: factor.factor_type }, req.ip);
      return { refusal: AUTH_ERRORS.invalidTotp() };
    }
    await markChallengeVerified(c, ch.id);
    return { session: await raise(d, c, caller, factor, ch.id, req) };
  });
}

async function verifyWebauthn(d: AuthDeps, req: FastifyRequest, caller: MfaCaller, factor: FactorRow, challengeId: string, params: Record<string, unknown>) {
  const type = str(params.type);
  if (type !== 'create' && type !== 'request') throw AUTH_ERRORS.validation('WebAuthn type must be create or request');
  if (params.credential_response === undefined || params.credential_response === null) throw AUTH_ERRORS.validation('credential_response required');
  const rp = d.config.auth.webauthn;
  return withTransaction(d.pool, async (c) => {
    const ch = await openChallenge(d, c, req, factor, challengeId);
    if ('refusal' in ch) return ch;
    const session = ch.web_authn_session_data as unknown as WebauthnSession | null;
    if (!session || session.type !== type) throw AUTH_ERRORS.validation(`WebAuthn type must be ${session?.type ?? 'create'} for this challenge`);
    // Whatever the answer, the challenge is spent (GoTrue destroys it once checked).
    await deleteChallenge(c, ch.id);
    try {
      if (type === 'create') {
        const { credential, aaguid } = await verifyCreation(rp, session, params.credential_response);
        await saveWebauthnCredential(c, factor.id, { ...credential }, aaguid);
      } else {
        const stored = factor.web_authn_credential as unknown as StoredCredential | null;
        if (!stored) throw new Error('the factor has no credential');
        await setWebauthnCounter(c, factor.id, await verifyAssertion(rp, session, stored, params.credential_response));
      }
    } catch (err) {
      req.log.info({ err: (err as Error).message }, 'auth: WebAuthn response refused');
      await audit(c, 'verification_failed', { actor_id: caller.user.id, factor_id: factor.id, challenge_id: ch.id, factor_type: factor.factor_type }, req.ip);
      return { refusal: new AuthError(422, 'mfa_verification_failed', 'Invalid WebAuthn credential_response') };
    }
    return { session: await raise(d, c, caller, factor, ch.id, req) };
  });
}

export async function verify(d: AuthDeps, req: FastifyRequest) {
  const caller = await mfaCaller(d, req);
  const factor = await ownedFactor(d, req, caller.user.id);
  d.mfaVerifyByIp.hit(req.ip);
  const body = bodyOf(req);
  const code = str(body.code) ?? '';
  const challengeId = str(body.challenge_id) ?? '';
  if (!code && factor.factor_type !== 'webauthn') throw AUTH_ERRORS.codeRequired();
  if (factor.factor_type === 'phone') throw AUTH_ERRORS.mfaVerifyDisabled('phone', 'Phone');
  let outcome: { refusal: AuthError } | { session: Awaited<ReturnType<typeof raise>> };
  if (factor.factor_type === 'webauthn') {
    if (!d.config.auth.webauthn.enabled) throw AUTH_ERRORS.mfaVerifyDisabled('webauthn', 'WebAuthn');
    if (body.webauthn === undefined || body.webauthn === null) throw AUTH_ERRORS.validation('WebAuthn config required');
    outcome = await verifyWebauthn(d, req, caller, factor, challengeId, obj(body.webauthn));
  } else {
    outcome = await verifyTotp(d, req, caller, factor, challengeId, code);
  }
  // Refusals after the transaction, so what it did (an expired or spent challenge deleted) is kept.
  if ('refusal' in outcome) throw outcome.refusal;
  return outcome.session;
}
