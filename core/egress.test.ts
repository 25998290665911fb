/**
 * The egress guard (core/egress.ts): which addresses are refused, allowlists by host and CIDR,
 * the check on the address the socket actually connects to (a host name resolving to loopback
 * is refused), and redirects answered, not followed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressRefused, EgressTimeout, egressPolicy, egressRequest } from './egress.ts';

describe('egressPolicy', () => {
  const none = egressPolicy([]);
  it.each([
    '127.0.0.1', '127.1.2.3', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
    '224.0.0.1', '::1', '::', 'fe80::1', 'fd00::1', 'fc00::5', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'ff02::1',
  ])('refuses %s', (address) => {
    expect(() => none.check(address, address)).toThrow(EgressRefused);
  });
  it.each(['93.184.216.34', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows the public address %s', (address) => {
    expect(() => none.check(address, address)).not.toThrow();
  });
  it('allows allowlisted CIDRs, addresses and host names only', () => {
    const p = egressPolicy(['10.0.0.0/8', '127.0.0.1', 'Receiver.Internal', '::1/128']);
    expect(() => p.check('10.9.8.7', '10.9.8.7')).not.toThrow();
    expect(() => p.check('x', '127.0.0.1')).not.toThrow();
    expect(() => p.check('x', '127.0.0.2')).toThrow(EgressRefused);
    expect(() => p.check('x', '::ffff:127.0.0.1')).not.toThrow();
    expect(() => p.check('receiver.internal', '192.168.5.5')).not.toThrow();
    expect(() => p.check('other.internal', '192.168.5.5')).toThrow(EgressRefused);
    expect(() => p.check('[::1]', '::1')).not.toThrow();
  });
});

describe('egressRequest', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/redirect') return void res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
      if (req.url === '/slow') return; // never answers
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${req.method} ${body}`.repeat(10)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const base = { method: 'POST', headers: {}, body: 'hi', timeoutMs: 2000, maxBodyBytes: 1000 };

  it('refuses a loopback target, by IP literal or through DNS (localhost)', async () => {
    const p = egressPolicy([]);
    await expect(egressRequest(p, { ...base, url: `http://127.0.0.1:${port}/` })).rejects.toBeInstanceOf(EgressRefused);
    await expect(egressRequest(p, { ...base, url: `http://localhost:${port}/` })).rejects.toBeInstanceOf(EgressRefused);
    await expect(egressRequest(p, { ...base, url: 'http://169.254.169.254/latest/meta-data/' })).rejects.toBeInstanceOf(EgressRefused);
    await expect(egressRequest(p, { ...base, url: 'file:///etc/passwd' })).rejects.toBeInstanceOf(EgressRefused);
  });

  it('reaches an allowlisted receiver; keeps at most maxBodyBytes of the answer', async () => {
    const res = await egressRequest(egressPolicy(['127.0.0.1']), { ...base, url: `http://127.0.0.1:${port}/`, maxBodyBytes: 8 });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('POST hiP');
    expect(res.truncated).toBe(true);
    expect(res.contentType).toBe('text/plain');
    const viaName = await egressRequest(egressPolicy(['localhost', '::1/128']), { ...base, url: `http://localhost:${port}/` });
    expect(viaName.status).toBe(200);
  });

  it('answers a redirect instead of following it', async () => {
    const res = await egressRequest(egressPolicy(['127.0.0.1']), { ...base, method: 'GET', body: undefined, url: `http://127.0.0.1:${port}/redirect` });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('http://169.254.169.254/');
  });

  it('times out', async () => {
    await expect(egressRequest(egressPolicy(['127.0.0.1']), { ...base, url: `http://127.0.0.1:${port}/slow`, timeoutMs: 150 })).rejects.toBeInstanceOf(EgressTimeout);
  });
});
