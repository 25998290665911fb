/** `GET /.well-known/jwks.json`: the public keys access tokens are signed with (config/keys.ts). */
import type { FastifyReply } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { JWKS_CACHE_CONTROL, publicJwks } from '../../config/keys.ts';

export async function jwks(d: AuthDeps, reply: FastifyReply) {
  return reply.header('cache-control', JWKS_CACHE_CONTROL).send(publicJwks(d.config));
}
