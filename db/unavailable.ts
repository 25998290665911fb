/**
 * Is this error "the database is not there right now" rather than anything about the request?
 * Postgres shutting down or starting up (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
 * cannot_connect_now), connection failures (SQLSTATE class 08), too many connections (53300),
 * a socket that could not connect or was cut (ECONNREFUSED, ECONNRESET, …), a connection the
 * server closed under the client, and a pool that could not hand out a connection in time.
 *
 * Every service answers these with 503 and a body in its own shape that names no host, port or
 * path (the driver's messages do: "connect ECONNREFUSED 127.0.0.1:54322"), as PostgREST answers
 * PGRST000/PGRST001/PGRST002.
 */
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);
const MESSAGES = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Connection terminated unexpectedly|the database system is (shutting down|starting up|in recovery mode)|terminating connection due to administrator command)/i;

export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (SQLSTATES.has(code) || SOCKET_CODES.has(code)) return true;
      if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && MESSAGES.test(message)) return true;
    // AggregateError (a dual-stack connect that failed on every address)
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.some((x) => isDatabaseUnavailable(x))) return true;
  }
  return false;
}

/** The one sentence every service may say about it (no host, port, path or driver text). */
export const DATABASE_UNAVAILABLE_MESSAGE = 'The database is not available right now. Retry shortly.';
