/**
 * Who is at the other end of a connection, and may a sensitive action come from there — asked
 * the same way by the edge (gateway/edge.ts, for every request and upgrade) and by the services
 * that take tokens inside their own protocols (realtime's joins and token refreshes, graphql-ws's
 * connection_init; core/protocol-admission.ts), so a token never escapes ADMIN_IP_ALLOWLIST by
 * arriving in a frame instead of a header.
 *
 * The client's address follows TRUST_PROXY alone: X-Forwarded-For counts only when the peer is a
 * trusted proxy (Fastify's `request.ip` rule, @fastify/proxy-addr).
 */
import type { IncomingMessage } from 'node:http';
import proxyaddr from '@fastify/proxy-addr';

export type TrustProxy = boolean | string[];

export interface ClientGuardOptions {
  trustProxy: TrustProxy;
  /** Addresses/CIDRs; empty: everyone. */
  adminIpAllowlist: readonly string[];
}

export interface ClientGuard {
  /** The client's address: the peer, or what trusted proxies in front of it say (X-Forwarded-For). */
  clientAddress(req: IncomingMessage): string;
  /** May a sensitive action (service_role, the admin paths) come from `address`? */
  adminAddress(address: string): boolean;
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

export function createClientGuard(opts: ClientGuardOptions): ClientGuard {
  const trust = trustFunction(opts.trustProxy);
  // proxy-addr's matcher compares IPv4, IPv6 and IPv4-mapped IPv6 addresses with CIDRs correctly.
  const listed = opts.adminIpAllowlist.length ? proxyaddr.compile([...opts.adminIpAllowlist]) : undefined;
  return {
    clientAddress: (req) => plain(proxyaddr(req, trust) ?? ''),
    adminAddress: (address) => !listed || (address !== '' && listed(address, 0)),
  };
}
