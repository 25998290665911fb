/**
 * GraphQL errors: every error a client sees carries `errors[].message` and a stable
 * `errors[].extensions.code`, in the GraphQL-over-HTTP shape. The errors raised before Grafserv
 * sees a request live here (no graphql-js, so the gateway and the service load without it);
 * graphql/mask-error.ts turns errors thrown while executing into what clients see.
 */
import type { ServerResponse } from 'node:http';
import { ServiceError } from '../core/errors.ts';
import { PROTOCOL_REFUSALS } from '../core/protocol-admission.ts';

export type GraphqlErrorCode =
  | 'INVALID_JWT'
  | 'REQUEST_TOO_LARGE'
  | 'GRAPHQL_DEPTH_LIMIT'
  | 'GRAPHQL_COST_LIMIT'
  | 'STATEMENT_TIMEOUT'
  | 'DATABASE_ERROR'
  | 'DATABASE_UNAVAILABLE'
  | 'NOT_FOUND'
  | 'TENANT_SUSPENDED'
  | 'SCHEMA_UNAVAILABLE'
  | 'FORBIDDEN'
  | 'SERVICE_UNAVAILABLE';

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
  /** The PostGraphile schema (built on the first request) could not be built. */
  schemaUnavailable: (reason: string) => new GraphqlServiceError('SCHEMA_UNAVAILABLE', 503, `The GraphQL schema could not be built: ${reason}`),
  /** A token in connection_init refused as the edge refuses a request's (core/protocol-admission.ts). */
  addressNotAllowed: () => new GraphqlServiceError('FORBIDDEN', 403, PROTOCOL_REFUSALS.address_not_allowed),
  notAudited: () => new GraphqlServiceError('SERVICE_UNAVAILABLE', 503, PROTOCOL_REFUSALS.not_audited),
} as const;

/** Writes a service error as a GraphQL response (used before Grafserv sees the request). */
export function sendGraphqlError(res: ServerResponse, err: GraphqlServiceError): void {
  const body = JSON.stringify(err.render());
  res.writeHead(err.httpStatus, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
