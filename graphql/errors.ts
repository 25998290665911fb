/**
 * GraphQL errors: every error a client sees carries `errors[].message` and a stable
 * `errors[].extensions.code`, in the GraphQL-over-HTTP shape. `maskError` is the one place
 * (Grafserv's `maskError` hook) where thrown errors become what clients see: Postgres errors keep
 * their message (as PostgREST shows them) with their SQLSTATE, a statement timeout says so, and
 * anything unexpected is masked by Grafserv's default (logged with an id, details hidden).
 */
import type { ServerResponse } from 'node:http';
import { GraphQLError } from 'postgraphile/graphql';
import { defaultMaskError } from 'postgraphile/grafserv';
import { ServiceError } from '../core/errors.ts';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.ts';

export type GraphqlErrorCode =
  | 'INVALID_JWT'
  | 'REQUEST_TOO_LARGE'
  | 'GRAPHQL_DEPTH_LIMIT'
  | 'GRAPHQL_COST_LIMIT'
  | 'STATEMENT_TIMEOUT'
  | 'DATABASE_ERROR'
  | 'DATABASE_UNAVAILABLE'
  | 'NOT_FOUND'
  | 'TENANT_SUSPENDED';

export class GraphqlServiceError extends ServiceError {
  declare readonly code: GraphqlErrorCode;
  readonly statusCode: number;
  constructor(code: GraphqlErrorCode, statusCode: number, message: string) {
    super(code, message);
    this.statusCode = statusCode;
  }

  get httpStatus(): number {
    return this.statusCode;
  }

  /** The GraphQL-over-HTTP body: one error with its stable code. */
  render(): { errors: { message: string; extensions: { code: GraphqlErrorCode } }[] } {
    return { errors: [{ message: this.message, extensions: { code: this.code } }] };
  }
}

export const GRAPHQL_ERRORS = {
  invalidJwt: (reason: string) => new GraphqlServiceError('INVALID_JWT', 401, `Invalid JWT: ${reason}`),
  roleNotAllowed: (role: string) => new GraphqlServiceError('INVALID_JWT', 401, `Role "${role}" is not allowed`),
  tooLarge: (max: number) => new GraphqlServiceError('REQUEST_TOO_LARGE', 413, `Request body exceeds the limit of ${max} bytes`),
  notFound: (path: string) => new GraphqlServiceError('NOT_FOUND', 404, `No GraphQL endpoint at ${path}`),
  /** The caller's tenant is suspended (sql/0026_tenant_rbac.sql). */
  tenantSuspended: () => new GraphqlServiceError('TENANT_SUSPENDED', 403, 'The tenant is suspended'),
} as const;

/** Writes a service error as a GraphQL response (used before Grafserv sees the request). */
export function sendGraphqlError(res: ServerResponse, err: GraphqlServiceError): void {
  const body = JSON.stringify(err.render());
  res.writeHead(err.httpStatus, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

interface PgError extends Error {
  code: string;
}

const isPgError = (e: unknown): e is PgError =>
  e instanceof Error && !(e instanceof GraphQLError) && typeof (e as PgError).code === 'string' && /^[0-9A-Z]{5}$/.test((e as PgError).code);

/** Grafserv's `maskError` for this service (see the module comment). */
export function makeMaskError(opts: { statementTimeoutMs: number }): (error: GraphQLError) => GraphQLError {
  return (error) => {
    const original = error.originalError;
    const keep = (message: string, extensions: Record<string, unknown>) =>
      new GraphQLError(message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: original, extensions });
    if (original instanceof GraphqlServiceError) return keep(original.message, { code: original.code });
    // Before the Postgres error check: 57P01/57P03 are Postgres errors too. The driver's text names hosts and ports.
    if (isDatabaseUnavailable(original)) return keep(DATABASE_UNAVAILABLE_MESSAGE, { code: 'DATABASE_UNAVAILABLE' });
    if (isPgError(original)) {
      if (original.code === '57014' && /statement timeout/.test(original.message)) {
        return keep(`The operation exceeded the statement timeout (the role's statement_timeout, else ${opts.statementTimeoutMs} ms)`, { code: 'STATEMENT_TIMEOUT' });
      }
      return keep(original.message, { code: 'DATABASE_ERROR', sqlState: original.code });
    }
    return defaultMaskError(error);
  };
}

/**
 * Grafserv answers an operation whose every error is DATABASE_UNAVAILABLE with 200 (a GraphQL
 * result with errors); clients and load balancers expect 503 with Retry-After, as from every other
 * service while the database is away.
 */
export const DatabaseUnavailableStatusPlugin: GraphileConfig.Plugin = {
  name: 'NextMavensDatabaseUnavailableStatusPlugin',
  version: '1.0.0',
  grafserv: {
    middleware: {
      async processRequest(next) {
        const result = await next();
        if (!result || (result.type !== 'json' && result.type !== 'buffer')) return result;
        let payload: { errors?: { extensions?: { code?: unknown } }[] };
        try {
          payload = result.type === 'json' ? (result.json as typeof payload) : JSON.parse(result.buffer.toString('utf8'));
        } catch {
          return result;
        }
        const errors = payload?.errors;
        if (!Array.isArray(errors) || !errors.length || !errors.every((e) => e?.extensions?.code === 'DATABASE_UNAVAILABLE')) return result;
        return { ...result, statusCode: 503, headers: { ...result.headers, 'retry-after': '1' } };
      },
    },
  },
};
