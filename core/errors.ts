/**
 * The base of every service's error type. A service throws its own subclass (RestError,
 * AuthError, StorageError, GraphqlServiceError); each carries a stable `code` from the service's
 * code list, the HTTP status it is sent with, and `render()`: the body in the shape that
 * service's official client reads (PostgREST's, GoTrue's, storage-api's, GraphQL-over-HTTP's).
 * Each Fastify scope's error handler renders whatever was thrown, after mapping foreign errors
 * (Postgres, Fastify) to the service's own type.
 */
export abstract class ServiceError extends Error {
  /** A stable code of the service's list (PGRST…, GoTrue's error_code, storage's code, …). */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }

  /** The HTTP status the error is sent with. */
  abstract get httpStatus(): number;

  /** The response body, in the shape the service's clients read. */
  abstract render(): unknown;
}
