/**
 * `POST /invitations/accept {token}`: a signed-in user whose email is the invited address joins
 * the tenant with the invited role (a member already keeps their role); a user without an
 * active tenant is switched into it. The next token refresh carries the tenant.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
import { TENANT_ERRORS } from '../../tenancy.ts';
import { hashInvitationToken } from '../../tenant-invitations.ts';
import {
  lockOpenInvitation,
  markInvitationAccepted,
  memberRole,
  putMember,
  recordActor,
  setActiveTenant,
  tenantStatus,
  withTransaction,
} from '../../store/index.ts';

export async function acceptInvitationRoute(d: AuthDeps, req: FastifyRequest) {
  const { user } = await d.currentUser(req);
  const token = str(bodyOf(req).token)?.trim();
  if (!token || token.length > 200) throw AUTH_ERRORS.validation('token required');
  return withTransaction(d.pool, async (c) => {
    const invitation = await lockOpenInvitation(c, hashInvitationToken(token));
    if (!invitation) throw TENANT_ERRORS.invitationNotFound();
    if (!user.email || user.email.toLowerCase() !== invitation.email.toLowerCase()) throw TENANT_ERRORS.invitationEmailMismatch();
    if ((await tenantStatus(c, invitation.tenant_id)) !== 'active') throw TENANT_ERRORS.suspended();
    await recordActor(c, { userId: user.id, via: 'invitation', tenantId: invitation.tenant_id, superAdminForeign: false });
    const role = (await memberRole(c, invitation.tenant_id, user.id)) ?? (await putMember(c, invitation.tenant_id, user.id, invitation.role)).role;
    await markInvitationAccepted(c, invitation.id, user.id);
    if (!user.tenant_id) await setActiveTenant(c, user.id, invitation.tenant_id);
    return { tenant_id: invitation.tenant_id, role, active: !user.tenant_id || user.tenant_id === invitation.tenant_id };
  });
}
