/**
 * Outgoing HTTP on behalf of the database (webhooks, net.http_*): requests that cannot be
 * aimed at the stack's own network (SSRF). A target is refused when any address its host
 * resolves to is private, loopback, link-local, CGNAT, multicast, unspecified or reserved
 * (IPv4 and IPv6, IPv4-mapped included), unless the host or the address is allowlisted
 * (WEBHOOK_ALLOWED_HOSTS: host names or CIDRs). The check runs in the socket's own DNS lookup,
 * so the connection goes to exactly the address that was checked (no re-resolution between
 * check and connect, which a rebinding DNS server could exploit). Redirects are not followed:
 * a 3xx is the answer.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/** Ranges no outgoing request may reach unless allowlisted. */
const BLOCKED_V4 = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const;
const BLOCKED_V6 = [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['2001:db8::', 32], ['64:ff9b::', 96], ['100::', 64],
] as const;

export class EgressRefused extends Error {
  readonly code = 'EGRESS_REFUSED';
}

export interface EgressPolicy {
  /** Throws EgressRefused when `address` (an IP literal) of `host` may not be reached. */
  check(host: string, address: string): void;
}

/** The policy for an allowlist of host names and CIDRs (`10.0.0.0/8`, `::1/128`, `127.0.0.1`). */
export function egressPolicy(allowed: readonly string[]): EgressPolicy {
  const blocked = new net.BlockList();
  for (const [a, p] of BLOCKED_V4) blocked.addSubnet(a, p, 'ipv4');
  for (const [a, p] of BLOCKED_V6) blocked.addSubnet(a, p, 'ipv6');
  const allowedNets = new net.BlockList();
  const allowedHosts = new Set<string>();
  for (const entry of allowed) {
    const [addr, bits] = entry.split('/');
    const family = net.isIP(addr);
    if (family) allowedNets.addSubnet(addr, bits === undefined ? (family === 4 ? 32 : 128) : Number(bits), family === 4 ? 'ipv4' : 'ipv6');
    else allowedHosts.add(entry.toLowerCase().replace(/\.$/, ''));
  }
  return {
    check(host, address) {
      const name = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
      if (allowedHosts.has(name)) return;
      const family: 'ipv4' | 'ipv6' = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
      // An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is judged as the IPv4 address it is.
      const mapped = family === 'ipv6' ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
      const [a, f] = mapped ? [mapped, 'ipv4' as const] : [address, family];
      if (allowedNets.check(a, f)) return;
      if (blocked.check(a, f)) throw new EgressRefused(`refused: ${host} resolves to a private, loopback or link-local address (${address}); allow it with WEBHOOK_ALLOWED_HOSTS`);
    },
  };
}

export interface EgressRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  timeoutMs: number;
  /** Bytes of the response body kept (the rest is read and dropped). */
  maxBodyBytes: number;
}

export interface EgressResponse {
  status: number;
  headers: Record<string, string>;
  contentType: string | undefined;
  body: Buffer;
  /** Whether the body was longer than maxBodyBytes. */
  truncated: boolean;
}

export class EgressTimeout extends Error {
  readonly code = 'EGRESS_TIMEOUT';
}

/** One request under `policy`: refused targets reject with EgressRefused, timeouts with EgressTimeout. */
export function egressRequest(policy: EgressPolicy, req: EgressRequest): Promise<EgressResponse> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return reject(new EgressRefused(`refused: ${req.url} is not a URL`));
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return reject(new EgressRefused(`refused: ${url.protocol} is not http(s)`));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // An IP literal never goes through lookup: check it here.
    if (net.isIP(host)) {
      try {
        policy.check(host, host);
      } catch (err) {
        return reject(err);
      }
    }
    const lookup: net.LookupFunction = (hostname, options, callback) => {
      dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 4);
        const list = addresses as dns.LookupAddress[];
        try {
          for (const a of list) policy.check(hostname, a.address);
        } catch (refused) {
          return callback(refused as Error, '', 4);
        }
        if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
        callback(null, list[0].address, list[0].family);
      });
    };
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
    const headers: Record<string, string> = { ...req.headers };
    if (body && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['content-length'] = String(body.length);
    const client = url.protocol === 'https:' ? https : http;
    const timer = setTimeout(() => request.destroy(new EgressTimeout(`timed out after ${req.timeoutMs} ms`)), req.timeoutMs);
    const request = client.request(url, { method: req.method, headers, lookup, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (kept < req.maxBodyBytes) {
          const slice = chunk.subarray(0, req.maxBodyBytes - kept);
          chunks.push(slice);
          kept += slice.length;
        }
      });
      res.on('end', () => {
        clearTimeout(timer);
        const flat: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, headers: flat, contentType: res.headers['content-type'], body: Buffer.concat(chunks), truncated: total > kept });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    request.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    request.end(body);
  });
}
