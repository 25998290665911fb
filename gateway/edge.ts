/**
 * What the edge decides about a request besides its key, the same in both wirings (the embedded
 * gateway in-process, /verify behind Traefik): the client's address (TRUST_PROXY rules only:
 * X-Forwarded-For counts only when the peer is a trusted proxy, as Fastify's `request.ip`), whether
 * a sensitive request may come from there (ADMIN_IP_ALLOWLIST), and the key rate limits count by.
 */
import type { IncomingMessage } from 'node:http';
import proxyaddr from '@fastify/proxy-addr';
import type { EdgeIdentity } from '../core/caller.ts';
import { NO_TENANT } from '../core/caller.ts';
import { isAdminPath } from './routes.ts';

export type TrustProxy = boolean | string[];

export interface EdgeGuard {
  /** The client's address: the peer, or what trusted proxies in front of it say (X-Forwarded-For). */
  clientAddress(req: IncomingMessage): string;
  /** May this request go on? Sensitive ones (isAdminPath, or made as service_role) only from the allowlist. */
  adminAllowed(path: string, role: string | undefined, address: string): boolean;
}

export interface EdgeGuardOptions {
  trustProxy: TrustProxy;
  /** Addresses/CIDRs; empty: everyone. */
  adminIpAllowlist: readonly string[];
}

function trustFunction(trust: TrustProxy): (addr: string, i: number) => boolean {
  if (trust === true) return () => true;
  if (trust === false || trust.length === 0) return () => false;
  return proxyaddr.compile(trust);
}

/** `::ffff:1.2.3.4` as `1.2.3.4` (what logs and keys show). */
function plain(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export function createEdgeGuard(opts: EdgeGuardOptions): EdgeGuard {
  const trust = trustFunction(opts.trustProxy);
  // proxy-addr's matcher compares IPv4, IPv6 and IPv4-mapped IPv6 addresses with CIDRs correctly.
  const listed = opts.adminIpAllowlist.length ? proxyaddr.compile([...opts.adminIpAllowlist]) : undefined;
  return {
    clientAddress: (req) => plain(proxyaddr(req, trust) ?? ''),
    adminAllowed(path, role, address) {
      if (!listed || (role !== 'service_role' && !isAdminPath(path))) return true;
      return address !== '' && listed(address, 0);
    },
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
