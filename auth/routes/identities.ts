/**
 * Manual identity linking while AUTH_MANUAL_LINKING=true (GoTrue's LinkIdentity and
 * DeleteIdentity): `GET /user/identities/authorize?provider=` (linkIdentity) sends the signed-in
 * user — anonymous ones too — through the provider's sign-in, and the callback links the identity
 * to them (auth/linking.ts); `DELETE /user/identities/{identity_id}` (unlinkIdentity) removes one
 * of the user's identities, never the last. Off, both answer 404 manual_linking_disabled once the
 * caller's session is checked (AUTH_ERRORS.manualLinkingDisabled).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { AuthError, AUTH_ERRORS } from '../errors.ts';
import { unlinkIdentity } from '../linking.ts';
import { isUuid, withTransaction } from '../store/index.ts';
import { toProvider } from './oauth.ts';

export async function linkIdentity(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const { user } = await d.currentUser(req);
  if (!d.config.auth.manualLinking) throw AUTH_ERRORS.manualLinkingDisabled();
  return toProvider(d, req, reply, user.id);
}

export async function deleteIdentity(d: AuthDeps, req: FastifyRequest) {
  const { user, claims } = await d.currentUser(req);
  if (!d.config.auth.manualLinking) throw AUTH_ERRORS.manualLinkingDisabled();
  const id = (req.params as { identity_id: string }).identity_id;
  if (!isUuid(id)) throw new AuthError(404, 'validation_failed', 'identity_id must be an UUID');
  const aud = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
  if (aud !== user.aud) throw new AuthError(403, 'unexpected_audience', "Token audience doesn't match request audience");
  await withTransaction(d.pool, (c) => unlinkIdentity(d, c, user, id));
  return {};
}
