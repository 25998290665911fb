/**
 * The admin MFA API (`auth.admin.mfa.listFactors` / `deleteFactor`, service_role key):
 * `GET /admin/users/{id}/factors` and `DELETE /admin/users/{id}/factors/{factor_id}` (GoTrue's
 * adminUserGetFactors / adminUserDeleteFactor: the deleted factor is answered, sessions it raised
 * return to aal1).
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { audit, deleteFactor, downgradeSessions, factorsOf, findUserById, withTransaction, type UserRow } from '../../store/index.ts';
import { factorJson } from '../../tokens.ts';
import { amrMethod, ownedFactor } from './caller.ts';

async function adminUser(d: AuthDeps, req: FastifyRequest): Promise<UserRow> {
  await d.requireAdmin(req);
  const user = await findUserById(d.pool, (req.params as { id: string }).id);
  if (!user) throw AUTH_ERRORS.userNotFound();
  return user;
}

export async function adminListFactors(d: AuthDeps, req: FastifyRequest) {
  const user = await adminUser(d, req);
  return (await factorsOf(d.pool, user.id)).map(factorJson);
}

export async function adminDeleteFactor(d: AuthDeps, req: FastifyRequest) {
  const user = await adminUser(d, req);
  const factor = await ownedFactor(d, req, user.id);
  await withTransaction(d.pool, async (c) => {
    await audit(c, 'factor_deleted', { user_id: user.id, factor_id: factor.id }, req.ip);
    await deleteFactor(c, factor.id);
    await downgradeSessions(c, user.id, factor.id, amrMethod(factor.factor_type));
  });
  return factorJson(factor);
}
