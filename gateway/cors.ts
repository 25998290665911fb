/**
 * CORS at the edge, from EDGE_POLICY (the generated Traefik `cors` middleware says the same).
 * Runs before authentication so that preflights never need a key.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EDGE_POLICY } from './routes.ts';

const { cors } = EDGE_POLICY;
const ALLOW_METHODS = cors.allowMethods.join(', ');
const ALLOW_HEADERS = cors.allowHeaders.join(', ');
const EXPOSE_HEADERS = cors.exposeHeaders.join(', ');

/**
 * Sets the CORS response headers. Answers a preflight itself (204) and returns true then;
 * returns false when the request should go on.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, allowOrigins: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (!origin) return false;
  res.setHeader('Vary', 'Origin');
  if (allowOrigins.includes('*')) res.setHeader('Access-Control-Allow-Origin', '*');
  else if (allowOrigins.includes(origin)) res.setHeader('Access-Control-Allow-Origin', origin);
  else return false;
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
    res.setHeader('Access-Control-Allow-Methods', ALLOW_METHODS);
    res.setHeader('Access-Control-Allow-Headers', ALLOW_HEADERS);
    res.setHeader('Access-Control-Max-Age', String(cors.maxAgeSeconds));
    res.writeHead(204).end();
    return true;
  }
  res.setHeader('Access-Control-Expose-Headers', EXPOSE_HEADERS);
  return false;
}
