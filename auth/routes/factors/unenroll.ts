/**
 * `DELETE /factors/{factor_id}` (mfa.unenroll): removes a factor of the caller (a verified one
 * only from an aal2 session); sessions it raised return to aal1 (GoTrue's UnenrollFactor).
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { audit, deleteFactor, downgradeSessions, withTransaction } from '../../store/index.ts';
import { amrMethod, mfaCaller, ownedFactor } from './caller.ts';

export async function unenroll(d: AuthDeps, req: FastifyRequest) {
  const { user, session } = await mfaCaller(d, req);
  const factor = await ownedFactor(d, req, user.id);
  if (factor.status === 'verified' && session.aal !== 'aal2') throw AUTH_ERRORS.aal2ToUnenroll();
  await withTransaction(d.pool, async (c) => {
    await deleteFactor(c, factor.id);
    await audit(c, 'factor_unenrolled', { actor_id: user.id, factor_id: factor.id, factor_status: factor.status, session_id: session.id }, req.ip);
    await downgradeSessions(c, user.id, factor.id, amrMethod(factor.factor_type));
  });
  return { id: factor.id };
}
