/**
 * `POST /factors/{factor_id}/verify` (mfa.verify): the code of a challenge checked against the
 * factor's TOTP secret. Success verifies the factor (its other unverified TOTP factors go), raises
 * the caller's session to aal2 with amr `totp`, ends the user's aal1 sessions and answers a
 * session with a new refresh token — GoTrue's verifyTOTPFactor and updateMFASessionAndClaims.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
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
  swapSessionRefreshToken,
  withTransaction,
} from '../../store/index.ts';
import { sessionResponse } from '../../tokens.ts';
import { validTotp } from '../../totp.ts';
import { amrMethod, mfaCaller, ownedFactor } from './caller.ts';

export async function verify(d: AuthDeps, req: FastifyRequest) {
  const { user, session } = await mfaCaller(d, req);
  const factor = await ownedFactor(d, req, user.id);
  d.mfaVerifyByIp.hit(req.ip);
  const body = bodyOf(req);
  const code = str(body.code) ?? '';
  if (!code && factor.factor_type !== 'webauthn') throw AUTH_ERRORS.codeRequired();
  if (factor.factor_type === 'phone') throw AUTH_ERRORS.mfaVerifyDisabled('phone', 'Phone');
  if (factor.factor_type === 'webauthn') throw AUTH_ERRORS.mfaVerifyDisabled('webauthn', 'WebAuthn');
  const challengeId = str(body.challenge_id) ?? '';
  const outcome = await withTransaction(d.pool, async (c) => {
    const ch = await lockChallenge(c, factor.id, challengeId, d.config.auth.mfa.challengeExpiry);
    if (!ch) throw AUTH_ERRORS.challengeNotFound();
    // A challenge is used once, from the address that asked for it.
    if (ch.verified_at || ch.ip_address !== req.ip) throw AUTH_ERRORS.challengeIpMismatch();
    if (ch.expired) {
      await deleteChallenge(c, ch.id);
      return { expired: ch.id } as const;
    }
    if (!validTotp(factor.secret ?? '', code)) return { invalid: true } as const;
    await audit(c, 'verification_attempted', { actor_id: user.id, factor_id: factor.id, challenge_id: ch.id, factor_type: factor.factor_type }, req.ip);
    await markChallengeVerified(c, ch.id);
    if (factor.status !== 'verified') await markFactorVerified(c, factor.id);
    const raised = await raiseSession(c, session.id, amrMethod(factor.factor_type), factor.id);
    const refreshToken = await swapSessionRefreshToken(c, session.id);
    await deleteAal1Sessions(c, user.id);
    await deleteUnverifiedFactors(c, user.id, factor.factor_type);
    const fresh = (await findUserById(c, user.id))!;
    return { session: await sessionResponse(d.config, fresh, await identitiesOf(c, user.id), raised, refreshToken, await factorsOf(c, user.id)) };
  });
  // Refusals after the transaction, so an expired challenge's deletion is kept.
  if ('expired' in outcome) throw AUTH_ERRORS.challengeExpired(outcome.expired!);
  if ('invalid' in outcome) throw AUTH_ERRORS.invalidTotp();
  return outcome.session;
}
