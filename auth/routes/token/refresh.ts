/**
 * `grant_type=refresh_token` (refreshSession; also `POST /api/auth/refresh`): rotation with reuse
 * detection, as GoTrue does. A revoked token is accepted again only within
 * AUTH_REFRESH_REUSE_INTERVAL and answers with its live child; otherwise it was replayed, and the
 * whole session ends.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AuthError, AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
import {
  audit,
  deleteSession,
  factorsOf,
  findSession,
  findUserById,
  identitiesOf,
  liveChildToken,
  lockRefreshToken,
  newRefreshToken,
  rotateRefreshToken,
  withTransaction,
} from '../../store/index.ts';
import { sessionResponse } from '../../tokens.ts';
import { counters } from '../../../core/metrics.ts';

export async function refreshGrant(d: AuthDeps, req: FastifyRequest) {
  const { config } = d;
  d.refreshByIp.hit(req.ip);
  const token = str(bodyOf(req).refresh_token);
  if (!token) throw new AuthError(400, 'validation_failed', 'refresh_token required');
  const result = await withTransaction(d.pool, async (c) => {
    const rt = await lockRefreshToken(c, token);
    if (!rt) throw AUTH_ERRORS.refreshNotFound();
    if (rt.expired) throw AUTH_ERRORS.sessionExpired();
    let next: string;
    if (rt.revoked) {
      const child = await liveChildToken(c, rt.token);
      const withinReuse = Date.now() - rt.updated_at.getTime() <= config.auth.refreshReuseInterval * 1000;
      if (!child || !withinReuse) {
        // A stolen token was replayed: end the whole session (every token of the family).
        await deleteSession(c, rt.session_id);
        await audit(c, 'token_revoked', { actor_id: rt.user_id, reason: 'refresh_token_reused' }, req.ip);
        return 'reused' as const;
      }
      next = child;
    } else {
      next = newRefreshToken();
      await rotateRefreshToken(c, rt, next);
    }
    const user = await findUserById(c, rt.user_id);
    if (!user) throw AUTH_ERRORS.refreshNotFound();
    if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
    const session = (await findSession(c, rt.session_id))!;
    return sessionResponse(config, user, await identitiesOf(c, user.id), session, next, await factorsOf(c, user.id));
  });
  if (result === 'reused') throw AUTH_ERRORS.refreshReused();
  counters.authRefreshes.inc();
  return result;
}
