/**
 * The body of a client registration (admin or dynamic) and of an update, checked as GoTrue's
 * oauthserver/service.go and client_auth.go check them: redirect URIs absolute, no fragment, no
 * dangerous scheme, plain http only on loopback; grant types authorization_code/refresh_token;
 * client_type and token_endpoint_auth_method consistent (none ⇔ public).
 */
import { str, type Body } from '../../http.ts';
import type { NewOAuthClient, OAuthClientChanges } from '../../store/oauth-server.ts';
import { OAUTH_SERVER_ERRORS } from './common.ts';

const invalid = OAUTH_SERVER_ERRORS.validation;
const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;
type AuthMethod = (typeof AUTH_METHODS)[number];
const DANGEROUS_SCHEMES = ['javascript', 'data', 'file', 'vbscript', 'about', 'blob'];

function redirectUriProblem(uri: string): string | undefined {
  if (uri === '') return 'redirect URI cannot be empty';
  if (uri.length > 2048) return 'redirect URI cannot exceed 2048 characters';
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'invalid URL format';
  }
  const scheme = u.protocol.slice(0, -1);
  if (!scheme || !u.host) return 'must have scheme and host';
  if (DANGEROUS_SCHEMES.includes(scheme.toLowerCase())) return `scheme '${scheme}' is not allowed for security reasons`;
  if (scheme === 'http' && !['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)) return 'HTTP scheme only allowed for localhost';
  if (u.hash) return 'fragment not allowed in redirect URI';
  return undefined;
}

/** A list of strings, or the 400 for it. */
function stringList(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalid(`${name} must be an array of strings`);
  return value as string[];
}

function checkRedirectUris(value: unknown): string[] {
  if (value === undefined || value === null) throw invalid('redirect_uris is required');
  const uris = stringList(value, 'redirect_uris');
  if (uris.length === 0) throw invalid('redirect_uris cannot be empty');
  if (uris.length > 10) throw invalid('redirect_uris cannot exceed 10 items');
  for (const uri of uris) {
    const problem = redirectUriProblem(uri);
    if (problem) throw invalid(`invalid redirect_uri '${uri}': ${problem}`);
  }
  return uris;
}

function checkGrantTypes(value: unknown): string[] {
  const types = stringList(value, 'grant_types');
  if (types.length === 0) throw invalid('grant_types cannot be empty');
  if (types.some((t) => t !== 'authorization_code' && t !== 'refresh_token')) {
    throw invalid("grant_types must only contain 'authorization_code' and/or 'refresh_token'");
  }
  return [...new Set(types)];
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`${name} must be a string`);
  return value;
}

function checkUri(value: unknown, name: 'client_uri' | 'logo_uri'): string | undefined {
  const uri = optionalString(value, name);
  if (!uri) return uri;
  if (uri.length > 2048) throw invalid(`${name} cannot exceed 2048 characters`);
  if (!URL.canParse(uri) && !uri.startsWith('/')) throw invalid(`${name} must be a valid URL`);
  return uri;
}

function checkName(value: unknown): string | undefined {
  const name = optionalString(value, 'client_name');
  if (name && name.length > 1024) throw invalid('client_name cannot exceed 1024 characters');
  return name;
}

function checkAuthMethod(value: unknown, message: (methods: string) => string): AuthMethod | undefined {
  const method = optionalString(value, 'token_endpoint_auth_method');
  if (method === undefined || method === '') return undefined;
  if (!(AUTH_METHODS as readonly string[]).includes(method)) throw invalid(message(`[${AUTH_METHODS.join(' ')}]`));
  return method as AuthMethod;
}

const typeOfMethod = (m: AuthMethod) => (m === 'none' ? 'public' : 'confidential');

/** A new client from a registration body (the secret hash is the caller's to add). */
export function registrationParams(body: Body, registrationType: 'dynamic' | 'manual'): Omit<NewOAuthClient, 'client_secret_hash'> {
  const redirectUris = checkRedirectUris(body.redirect_uris);
  const grantTypes = body.grant_types === undefined || body.grant_types === null || (Array.isArray(body.grant_types) && body.grant_types.length === 0)
    ? ['authorization_code', 'refresh_token']
    : checkGrantTypes(body.grant_types);
  const clientName = checkName(body.client_name);
  const clientUri = checkUri(body.client_uri, 'client_uri');
  const logoUri = checkUri(body.logo_uri, 'logo_uri');
  const explicitType = str(body.client_type) ?? '';
  if (body.client_type !== undefined && body.client_type !== null && typeof body.client_type !== 'string') throw invalid('client_type must be a string');
  if (explicitType && explicitType !== 'public' && explicitType !== 'confidential') throw invalid("client_type must be 'public' or 'confidential'");
  const method = checkAuthMethod(body.token_endpoint_auth_method, (m) => `token_endpoint_auth_method must be one of: ${m}`);
  if (explicitType && method && typeOfMethod(method) !== explicitType) {
    throw invalid(`client_type '${explicitType}' is inconsistent with token_endpoint_auth_method '${method}' (expected client_type '${typeOfMethod(method)}')`);
  }
  const clientType = (explicitType || (method ? typeOfMethod(method) : 'confidential')) as 'public' | 'confidential';
  return {
    registration_type: registrationType,
    client_type: clientType,
    token_endpoint_auth_method: method ?? (clientType === 'public' ? 'none' : 'client_secret_basic'),
    redirect_uris: redirectUris,
    grant_types: grantTypes,
    client_name: clientName || null,
    client_uri: clientUri || null,
    logo_uri: logoUri || null,
  };
}

/** The changes of an update body; undefined fields stay as they are. */
export function updateParams(body: Body, clientType: 'public' | 'confidential'): OAuthClientChanges {
  const changes: OAuthClientChanges = {};
  if (body.redirect_uris !== undefined && body.redirect_uris !== null) changes.redirect_uris = checkRedirectUris(body.redirect_uris);
  if (body.grant_types !== undefined && body.grant_types !== null) changes.grant_types = checkGrantTypes(body.grant_types);
  if (body.client_name !== undefined && body.client_name !== null) changes.client_name = checkName(body.client_name) || null;
  if (body.client_uri !== undefined && body.client_uri !== null) changes.client_uri = checkUri(body.client_uri, 'client_uri') || null;
  if (body.logo_uri !== undefined && body.logo_uri !== null) changes.logo_uri = checkUri(body.logo_uri, 'logo_uri') || null;
  if (body.token_endpoint_auth_method !== undefined && body.token_endpoint_auth_method !== null) {
    const method = checkAuthMethod(body.token_endpoint_auth_method, (m) => `invalid token_endpoint_auth_method: must be one of ${m}`);
    if (method === undefined) throw invalid(`invalid token_endpoint_auth_method: must be one of [${AUTH_METHODS.join(' ')}]`);
    if (typeOfMethod(method) !== clientType) {
      const valid = clientType === 'public' ? '[none]' : '[client_secret_basic client_secret_post]';
      throw invalid(`token_endpoint_auth_method '${method}' is not valid for client_type '${clientType}'; valid methods: ${valid}`);
    }
    changes.token_endpoint_auth_method = method;
  }
  return changes;
}
