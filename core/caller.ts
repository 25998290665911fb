/**
 * Who is calling, decided once for every service and the edge: a request must carry an API key
 * (`apikey` header or `?apikey=` query, like Supabase's Kong) or a user token (`Authorization:
 * Bearer`). Every token present must be a valid JWT. The caller is the Bearer token when present,
 * else the API key, and its `role` must be one of the API roles. The embedded gateway, Traefik's
 * ForwardAuth (`GET /verify`, gateway/verify.ts) and the services that read their own callers
 * (storage) all ask verifyRequest.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { bearerToken, JwtError, type JwtClaims, type JwtVerifier } from './jwt.ts';

export const API_ROLES = ['anon', 'authenticated', 'service_role'] as const;

/** The identity /verify asserts to the services, in the headers listed in EDGE_POLICY.authResponseHeaders. */
export interface EdgeIdentity {
  role: string;
  userId: string;
  /** The tenant claim, or `anon` when the caller has none (rate limits key on this header). */
  tenantId: string;
  claims: JwtClaims;
}

export type Denial = { ok: false; status: number; body: Record<string, unknown>; headers?: Record<string, string> };
export type VerifyResult = { ok: true; identity: EdgeIdentity } | Denial;

export const NO_TENANT = 'anon';

function deny(code: string, message: string, hint?: string): VerifyResult {
  return { ok: false, status: 401, body: hint ? { code, message, hint } : { code, message } };
}

export function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `apikey` from the header, else from the query string of `url` (the original URI behind a proxy). */
export function apiKeyOf(headers: IncomingHttpHeaders, url: string | undefined): string | undefined {
  const header = first(headers.apikey);
  if (header) return header;
  if (!url) return undefined;
  const query = url.indexOf('?');
  return query === -1 ? undefined : new URLSearchParams(url.slice(query + 1)).get('apikey') ?? undefined;
}

/**
 * The token a service-level request runs as: the Bearer token, else the `apikey` header — the
 * edge's rule (verifyRequest) for services that read their caller themselves (GraphQL, realtime's
 * REST endpoints).
 */
export function callerToken(headers: IncomingHttpHeaders): string | undefined {
  const header = first(headers.apikey)?.trim();
  return bearerToken(first(headers.authorization)) ?? (header || undefined);
}

/** The caller's tenant: the `tenant_id` claim, else `app_metadata.tenant_id`. */
export function tenantOf(claims: JwtClaims): string | undefined {
  const top = claims.tenant_id;
  if (typeof top === 'string' && top) return top;
  const meta = claims.app_metadata;
  if (meta && typeof meta === 'object' && typeof (meta as Record<string, unknown>).tenant_id === 'string') {
    return (meta as Record<string, string>).tenant_id || undefined;
  }
  return undefined;
}

export async function verifyRequest(verifier: JwtVerifier, headers: IncomingHttpHeaders, url: string | undefined): Promise<VerifyResult> {
  const apiKey = apiKeyOf(headers, url);
  const bearer = bearerToken(first(headers.authorization));
  if (!apiKey && !bearer) {
    return deny('no_api_key', 'No API key found in request', 'No `apikey` request header or url param was found.');
  }
  let claims: JwtClaims | undefined;
  for (const [what, token] of [['API key', apiKey], ['Authorization token', bearer]] as const) {
    if (token === undefined) continue;
    if (token === '') return deny('invalid_jwt', `Empty ${what}`);
    try {
      claims = await verifier.verify(token);
    } catch (err) {
      const code = err instanceof JwtError ? err.code : 'invalid_jwt';
      const message = err instanceof JwtError ? err.message : 'Invalid JWT';
      return deny(what === 'API key' ? 'invalid_api_key' : code, what === 'API key' ? `Invalid API key: ${message}` : message);
    }
  }
  const identity = identityOf(claims!);
  if (!isApiRole(identity.role)) {
    return deny('invalid_role', `Role "${identity.role}" is not allowed`, `Tokens must have one of the roles ${API_ROLES.join(', ')}`);
  }
  return { ok: true, identity };
}

/** The identity verified claims name (no `role`: anon), as the edge and the protocols see it. */
export function identityOf(claims: JwtClaims): EdgeIdentity {
  return {
    role: typeof claims.role === 'string' ? claims.role : 'anon',
    userId: typeof claims.sub === 'string' ? claims.sub : '',
    tenantId: tenantOf(claims) ?? NO_TENANT,
    claims,
  };
}


/** Is this one of the API roles (a token of any other role is refused by every service)? */
export const isApiRole = (role: unknown): role is (typeof API_ROLES)[number] => typeof role === 'string' && (API_ROLES as readonly string[]).includes(role);
