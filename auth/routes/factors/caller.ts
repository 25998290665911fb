/**
 * What every /factors route starts from (GoTrue's requireAuthentication, requireNotAnonymous and
 * loadFactor): the signed-in user, the session its access token names, and the factor of the
 * path, which must be the user's own.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { findOwnedFactor, findSession, isUuid, type FactorRow, type SessionRow, type UserRow } from '../../store/index.ts';

export interface MfaCaller {
  user: UserRow;
  session: SessionRow;
}

/** The caller of a /factors route: signed in (not anonymously) with a session that still exists. */
export async function mfaCaller(d: AuthDeps, req: FastifyRequest): Promise<MfaCaller> {
  const { user, claims } = await d.currentUser(req);
  if (claims.is_anonymous === true) throw AUTH_ERRORS.anonymousNotAllowed();
  const session = typeof claims.session_id === 'string' ? await findSession(d.pool, claims.session_id) : undefined;
  if (!session || session.user_id !== user.id) throw AUTH_ERRORS.sessionNotFound();
  return { user, session };
}

/** The factor `factor_id` of the path if `userId` owns it; GoTrue's 404s otherwise. */
export async function ownedFactor(d: AuthDeps, req: FastifyRequest, userId: string): Promise<FactorRow> {
  const id = (req.params as { factor_id: string }).factor_id;
  if (!isUuid(id)) throw AUTH_ERRORS.factorIdNotUuid();
  const factor = await findOwnedFactor(d.pool, userId, id);
  if (!factor) throw AUTH_ERRORS.factorNotFound();
  return factor;
}

/** The amr method a verified factor of this type adds to its session (GoTrue's amrMethodForFactorType). */
export function amrMethod(type: FactorRow['factor_type']): string {
  return type === 'totp' ? 'totp' : `mfa/${type}`;
}
