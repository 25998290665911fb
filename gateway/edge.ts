/**
 * What the edge decides about a request besides its key, the same in both wirings (the embedded
 * gateway in-process, /verify behind Traefik): the client's address (TRUST_PROXY rules only:
 * X-Forwarded-For counts only when the peer is a trusted proxy, as Fastify's `request.ip`), whether
 * a sensitive request may come from there (ADMIN_IP_ALLOWLIST; both core/client-guard.ts, which the
 * services taking tokens inside their protocols ask too), and the key rate limits count by.
 */
import type { IncomingMessage } from 'node:http';
import type { EdgeIdentity } from '../core/caller.ts';
import { NO_TENANT } from '../core/caller.ts';
import { createClientGuard, type ClientGuardOptions } from '../core/client-guard.ts';
import { isAdminPath } from './routes.ts';

export type { TrustProxy } from '../core/client-guard.ts';

export interface EdgeGuard {
  /** The client's address: the peer, or what trusted proxies in front of it say (X-Forwarded-For). */
  clientAddress(req: IncomingMessage): string;
  /** May this request go on? Sensitive ones (isAdminPath, or made as service_role) only from the allowlist. */
  adminAllowed(path: string, role: string | undefined, address: string): boolean;
}

export type EdgeGuardOptions = ClientGuardOptions;

export function createEdgeGuard(opts: EdgeGuardOptions): EdgeGuard {
  const client = createClientGuard(opts);
  return {
    clientAddress: client.clientAddress,
    adminAllowed: (path, role, address) => (role !== 'service_role' && !isAdminPath(path)) || client.adminAddress(address),
  };
}

/**
 * The key a caller's requests are counted by: the tenant claim, else the user (a token without a
 * tenant), else the client address (anon and service keys, no key). Each tenant has its own.
 */
export function rateKey(identity: EdgeIdentity | undefined, address: string): string {
  if (identity && identity.tenantId !== NO_TENANT) return `tenant:${identity.tenantId}`;
  if (identity?.userId) return `user:${identity.userId}`;
  return `ip:${address}`;
}
