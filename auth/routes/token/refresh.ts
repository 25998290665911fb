/**
 * `grant_type=refresh_token` (refreshSession; also `POST /api/auth/refresh`): rotation with reuse
 * detection, as GoTrue does (auth/refresh-rotation.ts). A body naming a `tenant_id` switches the user's active tenant to it (a
 * member's, or any for a super-admin: auth/tenancy.ts); the response is GoTrue's either way.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AuthError, AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
import { audit, factorsOf, findSession, findUserById, identitiesOf, lockRefreshToken, withTransaction } from '../../store/index.ts';
import { nextRefreshToken } from '../../refresh-rotation.ts';
import { SUPER_ADMIN_ROLE, tenantIdOf, tokenTenantFor } from '../../tenancy.ts';
import { sessionResponse } from '../../tokens.ts';
import { counters } from '../../../core/metrics.ts';

export async function refreshGrant(d: AuthDeps, req: FastifyRequest) {
  const { config } = d;
  d.refreshByIp.hit(req.ip);
  const token = str(bodyOf(req).refresh_token);
  if (!token) throw new AuthError(400, 'validation_failed', 'refresh_token required');
  const wanted = bodyOf(req).tenant_id === undefined ? undefined : tenantIdOf(bodyOf(req).tenant_id);
  const result = await withTransaction(d.pool, async (c) => {
    const rt = await lockRefreshToken(c, token);
    if (!rt) throw AUTH_ERRORS.refreshNotFound();
    if (rt.expired) throw AUTH_ERRORS.sessionExpired();
    const next = await nextRefreshToken(c, config, rt, req.ip);
    if (next === 'reused') return next;
    const user = await findUserById(c, rt.user_id);
    if (!user) throw AUTH_ERRORS.refreshNotFound();
    if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
    const session = (await findSession(c, rt.session_id))!;
    const tenant = await tokenTenantFor(c, user, wanted);
    if (wanted && wanted !== user.tenant_id) {
      // A super-admin entering a tenant they are no member of is what the audit log must flag.
      await audit(c, 'tenant_switched', { actor_id: user.id, tenant_id: wanted, super_admin_foreign: tenant.role === SUPER_ADMIN_ROLE }, req.ip);
    }
    const fresh = wanted ? (await findUserById(c, user.id))! : user;
    return sessionResponse(config, fresh, await identitiesOf(c, user.id), session, next, await factorsOf(c, user.id), tenant);
  });
  if (result === 'reused') throw AUTH_ERRORS.refreshReused();
  counters.authRefreshes.inc();
  return result;
}
