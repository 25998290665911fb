/**
 * Stage 1 of a REST request (PostgREST's ApiRequest, docs/postgrest.md §0): the HTTP request as
 * data — which resource and action, as whom, in which schema, with which preferences, accepted
 * media and parsed query. No SQL and no catalog lookups beyond naming the resource.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { JwtVerifier } from '../core/jwt.ts';
import type { MediaType, ParsedQuery, Preferences } from './ast.ts';
import { authenticate, type RestCaller } from './auth.ts';
import { ERRORS } from './errors.ts';
import type { Relation, RestModel } from './model.ts';
import { parseAccept, parsePrefer } from './parse/headers.ts';
import { parseQuery } from './parse/query.ts';
import { suggestName } from './relationships.ts';

export interface RestRequest {
  method: string;
  /** Path below the REST root, e.g. `/todos` or `/rpc/f` (percent-encoded as received). */
  path: string;
  /** Query string without `?`. */
  search: string;
  headers: IncomingHttpHeaders;
  body?: Buffer;
}

export interface RestResponse {
  status: number;
  /** A reason phrase other than the standard one. */
  statusText?: string;
  headers: Record<string, string | string[]>;
  body?: string;
}

/** What every action knows once routing, authentication and negotiation are done. */
export interface RequestInfo {
  req: RestRequest;
  caller: RestCaller;
  schema: string;
  prefs: Preferences;
  accept: MediaType[];
  /** Extra response headers (Content-Profile). */
  headers: Record<string, string>;
}

export type Action =
  | { kind: 'openapi' }
  | { kind: 'root-options' }
  | { kind: 'rpc-options'; name: string }
  | { kind: 'call'; name: string; query: ParsedQuery }
  | { kind: 'relation-options'; rel: Relation }
  | { kind: 'read'; rel: Relation; query: ParsedQuery; head: boolean }
  | { kind: 'insert' | 'update' | 'put' | 'delete'; rel: Relation; query: ParsedQuery };

export type ApiRequest = RequestInfo & { action: Action };

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
export const READ_METHODS = new Set(['GET', 'HEAD']);

export function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h.join(', ') : h;
}

/** An IANA time zone name Postgres knows too (an unknown `Prefer: timezone` is ignored). */
function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return /^[A-Za-z0-9_+\-/]+$/.test(name);
  } catch {
    return false;
  }
}

type Target = { kind: 'root' } | { kind: 'relation'; name: string } | { kind: 'rpc'; name: string };

function routeTarget(path: string): Target {
  const segments = path.split('/').filter((s, i) => i > 0 || s !== '');
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  const decoded = segments.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw ERRORS.invalidPath();
    }
  });
  if (decoded.length === 0) return { kind: 'root' };
  if (decoded.length === 1) return { kind: 'relation', name: decoded[0] };
  if (decoded.length === 2 && decoded[0] === 'rpc') return { kind: 'rpc', name: decoded[1] };
  throw ERRORS.invalidPath();
}

function chooseSchema(schemas: string[], req: RestRequest): { schema: string; headers: Record<string, string> } {
  const profileHeader = READ_METHODS.has(req.method) || req.method === 'OPTIONS' ? req.headers['accept-profile'] : req.headers['content-profile'];
  const requested = headerValue(profileHeader)?.trim();
  const schema = requested || schemas[0];
  if (!schemas.includes(schema)) throw ERRORS.invalidSchema(schema, schemas);
  const headers: Record<string, string> = requested || schemas.length > 1 ? { 'Content-Profile': schema } : {};
  return { schema, headers };
}

function findRelation(model: RestModel, schema: string, name: string): Relation {
  const rel = model.relation(schema, name);
  if (rel) return rel;
  const hint = suggestName(name, model.relations(schema).map((r) => r.name));
  throw ERRORS.noTable(`${schema}.${name}`, hint ? `${schema}.${hint}` : undefined);
}

function preferences(req: RestRequest): Preferences {
  const prefs = parsePrefer(req.headers.prefer);
  if (prefs.timezone !== undefined && !isTimeZone(prefs.timezone)) {
    prefs.invalid.push(`timezone=${prefs.timezone}`);
    delete prefs.timezone;
  }
  if (prefs.handling === 'strict' && prefs.invalid.length) throw ERRORS.invalidPreferences(prefs.invalid);
  return prefs;
}

function relationAction(method: string, rel: Relation, search: string): Action {
  if (method === 'OPTIONS') return { kind: 'relation-options', rel };
  const query = parseQuery(search, { rpcRead: false });
  switch (method) {
    case 'GET':
    case 'HEAD':
      return { kind: 'read', rel, query, head: method === 'HEAD' };
    case 'POST':
      return { kind: 'insert', rel, query };
    case 'PATCH':
      return { kind: 'update', rel, query };
    case 'PUT':
      return { kind: 'put', rel, query };
    default:
      return { kind: 'delete', rel, query };
  }
}

function rootAction(method: string, accept: MediaType[], rawAccept: string | undefined): Action {
  if (!READ_METHODS.has(method) && method !== 'OPTIONS') throw ERRORS.unsupportedMethod(method);
  if (method === 'OPTIONS') return { kind: 'root-options' };
  const acceptable = accept.some((m) => ['*/*', 'application/*', 'application/json', 'application/openapi+json'].includes(m.type));
  if (!acceptable) throw ERRORS.mediaType(rawAccept ?? '');
  return { kind: 'openapi' };
}

/**
 * The request as data. `model` is undefined while the schema cache loads (PGRST002 once the
 * request is known to be well-formed and authenticated).
 */
export async function apiRequest(req: RestRequest, verifier: JwtVerifier, schemas: string[], model: RestModel | undefined): Promise<ApiRequest & { model: RestModel }> {
  if (!METHODS.has(req.method)) throw ERRORS.unsupportedMethod(req.method);
  const target = routeTarget(req.path.split('?')[0]);
  const caller = await authenticate(verifier, headerValue(req.headers.authorization));
  const { schema, headers } = chooseSchema(schemas, req);
  if (!model) throw ERRORS.schemaCacheNotReady();
  const prefs = preferences(req);
  const rawAccept = headerValue(req.headers.accept);
  const accept = parseAccept(rawAccept);
  const info: RequestInfo = { req, caller, schema, prefs, accept, headers };
  let action: Action;
  if (target.kind === 'root') action = rootAction(req.method, accept, rawAccept);
  else if (target.kind === 'rpc') {
    if (req.method === 'OPTIONS') action = { kind: 'rpc-options', name: target.name };
    else {
      if (!['GET', 'HEAD', 'POST'].includes(req.method)) throw ERRORS.rpcMethod(req.method);
      action = { kind: 'call', name: target.name, query: parseQuery(req.search, { rpcRead: READ_METHODS.has(req.method) }) };
    }
  } else action = relationAction(req.method, findRelation(model, schema, target.name), req.search);
  return { ...info, action, model };
}
