/**
 * `POST /logout?scope=global|local|others` (signOut; also `POST /api/auth/logout`): ends the
 * caller's sessions — all of them, this one, or all but this one — and answers 204.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { queryOf, str } from '../http.ts';
import { audit, deleteOtherSessions, deleteSession, deleteUserSessions } from '../store/index.ts';

export async function logout(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const { claims } = await d.currentUser(req);
  const scope = str(queryOf(req).scope) ?? 'global';
  const sessionId = str(claims.session_id);
  if (scope === 'local' && sessionId) await deleteSession(d.pool, sessionId);
  else if (scope === 'others') await deleteOtherSessions(d.pool, claims.sub, sessionId ?? null);
  else await deleteUserSessions(d.pool, claims.sub);
  await audit(d.pool, 'logout', { actor_id: claims.sub, scope }, req.ip);
  return reply.code(204).send();
}
