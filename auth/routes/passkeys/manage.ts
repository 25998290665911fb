/**
 * A user's passkeys (auth.passkey.list / update / delete; GoTrue's passkey_manage.go) and the
 * admin's (`auth.admin.passkey.listPasskeys` / `deletePasskey`, passkey_admin.go).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
import { audit, deletePasskey, findSession, findUserById, isUuid, passkeysOf, renamePasskey } from '../../store/index.ts';
import { passkeyJson, passkeyNotFound, requireManagementAal, requirePasskeys } from './shared.ts';

const passkeyIdOf = (req: FastifyRequest) => {
  const id = (req.params as { passkey_id: string }).passkey_id;
  if (!isUuid(id)) throw passkeyNotFound();
  return id;
};

export async function listPasskeys(d: AuthDeps, req: FastifyRequest) {
  requirePasskeys(d);
  const { user } = await d.currentUser(req);
  return (await passkeysOf(d.pool, user.id)).map(passkeyJson);
}

export async function updatePasskey(d: AuthDeps, req: FastifyRequest) {
  requirePasskeys(d);
  const { user, claims } = await d.currentUser(req);
  const id = passkeyIdOf(req);
  await requireManagementAal(d, user, typeof claims.session_id === 'string' ? await findSession(d.pool, claims.session_id) : undefined);
  const name = str(bodyOf(req).friendly_name)?.trim() ?? '';
  if (!name) throw AUTH_ERRORS.validation('friendly_name is required');
  if ([...name].length > 120) throw AUTH_ERRORS.validation('friendly_name must be 120 characters or less');
  const renamed = await renamePasskey(d.pool, user.id, id, name);
  if (!renamed) throw passkeyNotFound();
  return passkeyJson(renamed);
}

export async function removePasskey(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  requirePasskeys(d);
  const { user, claims } = await d.currentUser(req);
  const id = passkeyIdOf(req);
  await requireManagementAal(d, user, typeof claims.session_id === 'string' ? await findSession(d.pool, claims.session_id) : undefined);
  if (!(await deletePasskey(d.pool, user.id, id))) throw passkeyNotFound();
  await audit(d.pool, 'passkey_deleted', { actor_id: user.id, passkey_id: id }, req.ip);
  return reply.code(204).send();
}

async function adminTarget(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  const user = await findUserById(d.pool, (req.params as { id: string }).id);
  if (!user) throw AUTH_ERRORS.userNotFound();
  return user;
}

export async function adminListPasskeys(d: AuthDeps, req: FastifyRequest) {
  const user = await adminTarget(d, req);
  return (await passkeysOf(d.pool, user.id)).map(passkeyJson);
}

export async function adminDeletePasskey(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const user = await adminTarget(d, req);
  const id = passkeyIdOf(req);
  if (!(await deletePasskey(d.pool, user.id, id))) throw passkeyNotFound();
  await audit(d.pool, 'passkey_deleted', { user_id: user.id, passkey_id: id }, req.ip);
  return reply.code(204).send();
}
