/**
 * Tenant invitations by email (sql/0026_tenant_rbac.sql): a request stores the invitation and
 * queues a `send_tenant_invitation` job in its transaction; the job (run by jobs/) mints the
 * token, stores only its sha256 and delivers the mail through auth's transport (SMTP or the dev
 * inbox), so no live secret sits in the queue. Each delivery attempt mints a fresh token.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../config/load.ts';
import type { MailTransport } from './mailer.ts';
import { MAIL_MAX_ATTEMPTS } from './mailer.ts';
import { enqueueJob, rekeyInvitation, type Db } from './store/index.ts';
import { renderTenantInvitation } from './templates.ts';

export const TENANT_INVITATION_TASK = 'send_tenant_invitation';
/** How long an invitation can be accepted. */
export const INVITATION_TTL_SECONDS = 7 * 24 * 3600;

export interface TenantInvitationJob {
  invitation_id: string;
}

export const hashInvitationToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** A random placeholder hash until the job mints the token the mail carries. */
export const placeholderHash = (): string => hashInvitationToken(randomBytes(32).toString('base64url'));

export async function queueInvitationMail(db: Db, invitationId: string): Promise<void> {
  await enqueueJob(db, TENANT_INVITATION_TASK, { invitation_id: invitationId } satisfies TenantInvitationJob, MAIL_MAX_ATTEMPTS);
}

/** The link of the mail: the app's redirect URL with `invitation_token`, which the app POSTs to /invitations/accept. */
export function invitationLink(redirectTo: string, token: string): string {
  const url = new URL(redirectTo);
  url.searchParams.set('invitation_token', token);
  return url.toString();
}

export async function deliverTenantInvitation(deps: { pool: pg.Pool; config: Config; transport: MailTransport }, job: TenantInvitationJob): Promise<void> {
  const token = randomBytes(32).toString('base64url');
  const invitation = await rekeyInvitation(deps.pool, job.invitation_id, hashInvitationToken(token));
  if (!invitation) return; // accepted, withdrawn or expired meanwhile
  const link = invitationLink(invitation.redirect_to ?? deps.config.auth.siteUrl, token);
  await deps.transport.deliver({ to: invitation.email, ...renderTenantInvitation({ tenantName: invitation.tenant_name, link, role: invitation.role }) });
}
