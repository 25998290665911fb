/**
 * Who is calling auth: the claims of the Bearer token (a user's access token or an API key), the
 * signed-in user and session behind it, the admin check, and the tenant an API key names.
 */
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import { bearerToken, type JwtClaims, type JwtVerifier } from '../core/jwt.ts';
import { AUTH_ERRORS } from './errors.ts';
import { obj, str } from './http.ts';
import { findSession, findUserById, type UserRow } from './store/index.ts';

export interface AuthCaller {
  /** Claims of the caller's Bearer token (a user's access token, or an API key). */
  claimsOf(req: FastifyRequest): Promise<JwtClaims>;
  /** The signed-in user and session of the request (GET/PUT /user, logout). */
  currentUser(req: FastifyRequest): Promise<{ user: UserRow; claims: JwtClaims }>;
  requireAdmin(req: FastifyRequest): Promise<void>;
  /**
   * The tenant a new user joins: that of the `apikey` when it is a tenant's API key — signed by
   * us, with `tenant_id` (or `app_metadata.tenant_id`), an API-key role and no `sub`. A user's
   * access token carries its tenant too, but a member must not be able to enrol new members with
   * it: a key that names a user is no tenant key, and the new user joins no tenant.
   */
  tenantFromApiKey(req: FastifyRequest): Promise<string | null>;
}

export function createCaller(verifier: JwtVerifier, pool: pg.Pool): AuthCaller {
  async function claimsOf(req: FastifyRequest): Promise<JwtClaims> {
    const token = bearerToken(str(req.headers.authorization));
    if (!token) throw AUTH_ERRORS.noAuthorization();
    try {
      return await verifier.verify(token);
    } catch (err) {
      throw AUTH_ERRORS.badJwt((err as Error).message);
    }
  }
  return {
    claimsOf,
    async currentUser(req) {
      const claims = await claimsOf(req);
      if (typeof claims.sub !== 'string') throw AUTH_ERRORS.userNotFound(403);
      if (typeof claims.session_id === 'string' && !(await findSession(pool, claims.session_id))) throw AUTH_ERRORS.sessionNotFound();
      const user = await findUserById(pool, claims.sub);
      if (!user) throw AUTH_ERRORS.userNotFound(403);
      return { user, claims };
    },
    async requireAdmin(req) {
      const claims = await claimsOf(req);
      if (claims.role !== 'service_role' && claims.role !== 'supabase_admin') throw AUTH_ERRORS.notAdmin();
    },
    async tenantFromApiKey(req) {
      const key = str(req.headers.apikey);
      if (!key) return null;
      const claims = await verifier.verify(key).catch(() => undefined);
      if (!claims || claims.sub !== undefined || (claims.role !== 'anon' && claims.role !== 'service_role')) return null;
      const tenant = claims.tenant_id ?? obj(claims.app_metadata).tenant_id;
      return typeof tenant === 'string' ? tenant : null;
    },
  };
}
