/**
 * Traefik's routing without Traefik, for tests of the compose services run as separate servers:
 * the route table's prefixes (longest first), the prefix stripped where a route strips it, HTTP and
 * WebSocket upgrades piped to the service's server. No ForwardAuth, CORS or rate limits: each
 * service verifies the JWT itself, which is what these tests look at.
 */
import http from 'node:http';
import net from 'node:net';
import { ROUTES, type ServiceName } from '../../gateway/routes.ts';

export interface EdgeProxy {
  url: string;
  close(): Promise<void>;
}

export async function startEdgeProxy(ports: Record<ServiceName, number>): Promise<EdgeProxy> {
  const routes = [...ROUTES].sort((a, b) => b.prefix.length - a.prefix.length);
  const target = (url: string) => {
    const path = url.split('?')[0];
    const route = routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
    if (!route) return undefined;
    const rest = route.stripPrefix ? url.slice(route.stripPrefix.length) || '/' : url;
    return { port: ports[route.service], path: rest.startsWith('/') ? rest : `/${rest}` };
  };
  const server = http.createServer((req, res) => {
    const to = target(req.url ?? '/');
    if (!to) return void res.writeHead(404).end();
    const upstream = http.request({ host: '127.0.0.1', port: to.port, path: to.path, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.headersSent ? res.destroy() : res.writeHead(502).end());
    req.pipe(upstream);
  });
  const upgraded = new Set<net.Socket>();
  server.on('upgrade', (req, socket: net.Socket, head) => {
    const to = target(req.url ?? '/');
    if (!to) return void socket.destroy();
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    const upstream = net.connect(to.port, '127.0.0.1', () => {
      const headers = Object.entries(req.headers).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`));
      upstream.write(`${req.method} ${to.path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      for (const socket of upgraded) socket.destroy();
      server.close(() => resolve());
    }),
  };
}
