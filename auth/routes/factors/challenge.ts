/**
 * `POST /factors/{factor_id}/challenge` (mfa.challenge): a challenge of the caller's factor, bound
 * to the client address, valid 300 s (GoTrue's challengeTOTPFactor).
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { audit, createChallenge, withTransaction } from '../../store/index.ts';
import { mfaCaller, ownedFactor } from './caller.ts';

export async function challenge(d: AuthDeps, req: FastifyRequest) {
  const { user } = await mfaCaller(d, req);
  const factor = await ownedFactor(d, req, user.id);
  d.mfaChallengeByIp.hit(req.ip);
  if (factor.factor_type === 'phone') throw AUTH_ERRORS.mfaVerifyDisabled('phone', 'Phone');
  if (factor.factor_type === 'webauthn') throw AUTH_ERRORS.mfaVerifyDisabled('webauthn', 'WebAuthn');
  return withTransaction(d.pool, async (c) => {
    const created = await createChallenge(c, factor.id, req.ip, d.config.auth.mfa.challengeExpiry);
    await audit(c, 'challenge_created', { actor_id: user.id, factor_id: factor.id, factor_status: factor.status }, req.ip);
    return { id: created.id, type: factor.factor_type, expires_at: created.expiresAt };
  });
}
