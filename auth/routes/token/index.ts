/**
 * `POST /token`: one grant per file, chosen by `grant_type` (from the query, as auth-js sends it,
 * or the body), as GoTrue's token endpoint dispatches.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, queryOf, str } from '../../http.ts';
import { idTokenGrant } from './id-token.ts';
import { passwordGrant } from './password.ts';
import { pkceGrant } from './pkce.ts';
import { refreshGrant } from './refresh.ts';
import { web3Grant } from './web3.ts';

const GRANTS: Record<string, (d: AuthDeps, req: FastifyRequest) => Promise<unknown>> = {
  password: passwordGrant,
  refresh_token: refreshGrant,
  pkce: pkceGrant,
  id_token: idTokenGrant,
  web3: web3Grant,
};

export async function token(d: AuthDeps, req: FastifyRequest) {
  const grant = str(queryOf(req).grant_type) ?? str(bodyOf(req).grant_type);
  const handler = grant !== undefined && Object.hasOwn(GRANTS, grant) ? GRANTS[grant] : undefined;
  if (!handler) throw AUTH_ERRORS.unsupportedGrant();
  return handler(d, req);
}
