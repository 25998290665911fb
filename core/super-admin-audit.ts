/**
 * "Admin bypass with role checks": a platform super-admin may act in any tenant (auth/tenancy.ts
 * gives their token `tenant_role: super_admin` in a tenant they are no member of), and every such
 * request is written to the audit chain (sql/0027_audit.sql, `audit.append`) before it is served —
 * the embedded gateway and /verify (Traefik's ForwardAuth) both ask here. When the entry cannot be
 * written the request is refused (fail closed): an unaudited super-admin action never happens.
 * Writes through the admin API are audited again, row by row, by the tenancy tables' triggers.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { EdgeIdentity } from './caller.ts';

export interface AuditedRequest {
  method: string;
  /** The path without its query (which may carry keys and codes). */
  path: string;
  route: string;
  ip: string;
}

/** true when the request may go on: not a foreign super-admin's, or written to the audit log. */
export type SuperAdminAudit = (identity: EdgeIdentity, request: AuditedRequest) => Promise<boolean>;

export const isForeignSuperAdmin = (identity: EdgeIdentity): boolean => identity.claims.tenant_role === 'super_admin';

export function superAdminAudit(admin: pg.Pool, log: Logger): SuperAdminAudit {
  return async (identity, r) => {
    if (!isForeignSuperAdmin(identity)) return true;
    try {
      await admin.query('select audit.append($1, $2, $3, $4, $5, $6, $7)', [
        'super_admin.request',
        `${r.method} ${r.path}`,
        { method: r.method, path: r.path, route: r.route, role: identity.role },
        identity.tenantId,
        identity.userId,
        'super_admin',
        r.ip,
      ]);
      return true;
    } catch (err) {
      log.error({ err, user: identity.userId, tenant: identity.tenantId }, 'a super-admin request could not be audited: refused');
      return false;
    }
  };
}
