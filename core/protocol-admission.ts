/**
 * The edge's checks for tokens that arrive inside a protocol rather than in a request's headers:
 * a realtime join's or refresh's `access_token` (realtime/channel-messages.ts) and graphql-ws's
 * `connection_init` payload (graphql/service.ts). The edge (gateway/embedded.ts, /verify) sees
 * only the upgrade request, so without these a service_role token sent in a frame would escape
 * ADMIN_IP_ALLOWLIST, and a foreign super-admin's token would act unaudited. The same two rules
 * as at the edge: service_role only from the allowlist (core/client-guard.ts), and a foreign
 * super-admin's use written to the audit chain first, fail closed (core/super-admin-audit.ts).
 */
import type { IncomingMessage } from 'node:http';
import type pg from 'pg';
import type { Logger } from 'pino';
import { identityOf } from './caller.ts';
import { createClientGuard, type ClientGuardOptions } from './client-guard.ts';
import type { JwtClaims } from './jwt.ts';
import { superAdminAudit, type AuditedRequest } from './super-admin-audit.ts';

export type ProtocolRefusal = 'address_not_allowed' | 'not_audited';

/** How the edge and the protocols word the two refusals (gateway/verify.ts uses the same). */
export const PROTOCOL_REFUSALS: Record<ProtocolRefusal, string> = {
  address_not_allowed: 'This operation is not allowed from your address',
  not_audited: 'The audit log cannot record this super-admin action right now; nothing was done',
};

/** One use of a token inside a protocol: the client's address, and what the audit entry names. */
export interface ProtocolUse {
  address: string;
  /** The protocol's action, e.g. `phx_join`, `access_token`, `connection_init`. */
  method: string;
  /** What it acts on, e.g. the channel topic or the GraphQL path. */
  path: string;
  route: string;
}

export interface ProtocolAdmission {
  /** The client's address of a connection's upgrade request (core/client-guard.ts), the `address` of its uses. */
  clientAddress(req: IncomingMessage): string;
  /** undefined when the token may be used here; else why not. */
  admit(claims: JwtClaims, use: ProtocolUse): Promise<ProtocolRefusal | undefined>;
}

export function createProtocolAdmission(opts: ClientGuardOptions, admin: pg.Pool, log: Logger): ProtocolAdmission {
  const guard = createClientGuard(opts);
  const audit = superAdminAudit(admin, log);
  return {
    clientAddress: guard.clientAddress,
    async admit(claims, use) {
      const identity = identityOf(claims);
      if (identity.role === 'service_role' && !guard.adminAddress(use.address)) return 'address_not_allowed';
      const entry: AuditedRequest = { method: use.method, path: use.path, route: use.route, ip: use.address };
      return (await audit(identity, entry)) ? undefined : 'not_audited';
    },
  };
}
