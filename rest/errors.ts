/**
 * REST errors as PostgREST v13 renders them: exactly `{code, details, hint, message}` with
 * PGRST codes for request problems and SQLSTATE → HTTP status for database errors
 * (docs/postgrest.md §3). One error type, one renderer.
 */
import { ServiceError } from '../core/errors.ts';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.ts';

export type Details = string | null | unknown[];

export class RestError extends ServiceError {
  readonly status: number;
  readonly details: Details;
  readonly hint: string | null;
  /** Extra response headers (PGRST custom errors, WWW-Authenticate). */
  readonly headers: Record<string, string>;
  /** A custom reason phrase (`status_text` of RAISE SQLSTATE 'PGRST'). */
  statusText?: string;

  constructor(status: number, code: string, message: string, details: Details = null, hint: string | null = null, headers: Record<string, string> = {}) {
    super(code, message);
    this.status = status;
    this.details = details;
    this.hint = hint;
    this.headers = headers;
  }

  get httpStatus(): number {
    return this.status;
  }

  /** The rendered body (what the parser tests compare). */
  get body(): ReturnType<RestError['render']> {
    return this.render();
  }

  /** PostgREST's body: exactly these four keys. */
  render(): { code: string; details: Details; hint: string | null; message: string } {
    return { code: this.code, details: this.details, hint: this.hint, message: this.message };
  }
}

/** Factories for every PostgREST error this engine raises, by code. */
export const ERRORS = {
  /** `column`: 1-based position of the failure in `input`, as Parsec reports it. */
  parse: (what: string, input: string, details: string, column = 1) =>
    new RestError(400, 'PGRST100', `"failed to parse ${what} (${input})" (line 1, column ${column})`, details),
  /** Percent-encoded bytes in the query string that are not UTF-8 (details: what Postgres says of such text). */
  invalidEncoding: (bytes: string) =>
    new RestError(400, 'PGRST100', 'The query string is not valid UTF-8', `invalid byte sequence for encoding "UTF8": ${bytes}`),
  emptyName: () =>
    new RestError(400, 'PGRST100', 'Empty names are not allowed', 'A column, alias, argument or relation name cannot be the empty string'),
  rpcMethod: (method: string) => new RestError(405, 'PGRST101', `Cannot use the ${method} method on RPC`),
  invalidBody: (message = 'Empty or invalid json') => new RestError(400, 'PGRST102', message),
  rangeNotSatisfiable: (details: string) => new RestError(416, 'PGRST103', 'Requested range not satisfiable', details),
  putFilters: () => new RestError(405, 'PGRST105', "Filters must include all and only primary key columns with 'eq' operators"),
  invalidSchema: (schema: string, exposed: string[]) =>
    new RestError(406, 'PGRST106', `Invalid schema: ${schema}`, null, `Only the following schemas are exposed: ${exposed.join(', ')}`),
  mediaType: (accept: string) => new RestError(406, 'PGRST107', `None of these media types are available: ${accept}`),
  notEmbedded: (name: string) =>
    new RestError(400, 'PGRST108', `'${name}' is not an embedded resource in this request`, null,
      `Verify that '${name}' is included in the 'select' query parameter.`),
  putLimit: () => new RestError(400, 'PGRST114', 'limit/offset querystring parameters are not allowed for PUT'),
  putPkMismatch: () => new RestError(400, 'PGRST115', 'Payload values do not match URL in primary key column(s)'),
  singular: (rows: number) =>
    new RestError(406, 'PGRST116', 'Cannot coerce the result to a single JSON object', `The result contains ${rows} rows`),
  unsupportedMethod: (method: string) => new RestError(405, 'PGRST117', `Unsupported HTTP method: ${method}`),
  relatedOrder: (parent: string, name: string) =>
    new RestError(400, 'PGRST118', `A related order on '${name}' is not possible`, `'${parent}' and '${name}' do not form a many-to-one or one-to-one relationship`),
  invalidPreferences: (invalid: string[]) =>
    new RestError(400, 'PGRST122', 'Invalid preferences given with handling=strict', `Invalid preferences: ${invalid.join(', ')}`),
  maxAffected: (rows: number) =>
    new RestError(400, 'PGRST124', 'Query result exceeds max-affected preference constraint', `The query affects ${rows} rows`),
  invalidPath: () => new RestError(404, 'PGRST125', 'Invalid path specified in request URL'),
  notImplemented: (details: string) => new RestError(400, 'PGRST127', 'Feature not implemented', details),
  maxAffectedScalar: () =>
    new RestError(400, 'PGRST128', 'Function must return SETOF or TABLE when max-affected preference is used with handling=strict'),
  noRelationship: (a: string, b: string, schema: string, hintName: string | undefined, hint: string | undefined) =>
    new RestError(400, 'PGRST200', `Could not find a relationship between '${a}' and '${b}' in the schema cache`,
      `Searched for a foreign key relationship between '${a}' and '${b}'${hintName !== undefined ? ` using the hint '${hintName}'` : ''} in the schema '${schema}', but no matches were found.`,
      hint ?? null),
  /** `options`: each candidate as the client may write it, quoted (`'clients!projects_client_id_fkey'`). */
  ambiguousRelationship: (a: string, b: string, details: unknown[], options: string[]) =>
    new RestError(300, 'PGRST201', `Could not embed because more than one relationship was found for '${a}' and '${b}'`, details,
      `Try changing '${b}' to one of the following: ${options.join(', ')}. Find the desired relationship in the 'details' key.`),
  noFunction: (message: string, details: string, hint: string | null) => new RestError(404, 'PGRST202', message, details, hint),
  ambiguousFunction: (candidates: string[]) =>
    new RestError(300, 'PGRST203', `Could not choose the best candidate function between: ${candidates.join(', ')}`, null,
      'Try renaming the parameters or the function itself in the database so function overloading can be resolved'),
  noColumn: (column: string, table: string) => new RestError(400, 'PGRST204', `Could not find the '${column}' column of '${table}' in the schema cache`),
  noTable: (qualified: string, suggestion?: string) =>
    new RestError(404, 'PGRST205', `Could not find the table '${qualified}' in the schema cache`, null,
      suggestion ? `Perhaps you meant the table '${suggestion}'` : null),
  jwt: (message: string, code: 'PGRST301' | 'PGRST303' = 'PGRST301', details: string | null = null) =>
    new RestError(401, code, message, details, null, {
      'WWW-Authenticate': `Bearer error="invalid_token", error_description="${message.replace(/"/g, "'")}"`,
    }),
  schemaCacheNotReady: () =>
    new RestError(503, 'PGRST002', 'Could not query the database for the schema cache. Retrying.', null, null, { 'Retry-After': '1' }),
  /** No connection could be made (refused, shutting down, too many clients): PostgREST's PGRST000, without the driver's host:port. */
  connection: () =>
    new RestError(503, 'PGRST000', 'Database connection error. Retrying the connection.', DATABASE_UNAVAILABLE_MESSAGE, null, { 'Retry-After': '1' }),
  /** The connection went away while in use (server shut down or restarted): PostgREST's PGRST001. */
  connectionLost: () =>
    new RestError(503, 'PGRST001', 'Database client error. Retrying the connection.', DATABASE_UNAVAILABLE_MESSAGE, null, { 'Retry-After': '1' }),
  poolTimeout: () => new RestError(504, 'PGRST003', 'Timed out acquiring connection from connection pool.'),
  responseHeaders: () =>
    new RestError(500, 'PGRST111', 'response.headers guc must be a JSON array composed of objects with a single key and a string value'),
  responseStatus: () => new RestError(500, 'PGRST112', 'response.status guc must be a valid status code'),
  internal: () => new RestError(500, 'PGRSTX00', 'Internal server error'),
} as const;

interface PgLikeError {
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
}

function isPgError(err: unknown): err is PgLikeError & Error {
  return err instanceof Error && typeof (err as PgLikeError).code === 'string' && /^[0-9A-Z]{5}$/.test((err as PgLikeError).code!);
}

/** HTTP status for a SQLSTATE, as PostgREST v13's pgErrorStatus (§3.3). */
export function statusForSqlState(code: string, message: string, authed: boolean): number {
  if (code === '42501') return authed ? 403 : 401;
  if (code === '23503' || code === '23505') return 409;
  if (code === '25006') return 405;
  // 21000 from the client's own input: a DELETE/UPDATE without WHERE (pg-safeupdate), or an upsert
  // payload holding the same key twice ("ON CONFLICT DO UPDATE command cannot affect row a second
  // time"; PostgREST answers 500, but nothing is wrong with the server).
  if (code === '21000') return message.endsWith('requires a WHERE clause') || message.includes('cannot affect row a second time') ? 400 : 500;
  if (code === '22023') return /^role ".*" does not exist$/.test(message) ? 401 : 400;
  if (code === '42883') return message.startsWith('function xmlagg(') ? 406 : 404;
  if (code === '42P01') return 404;
  if (code === '42P17') return 500;
  if (code === 'P0001') return 400;
  if (code === '57P01') return 503;
  // Limits a request itself exceeded (too many select columns, a too deeply nested payload): the
  // client's input, so 400 rather than PostgREST's 500.
  if (code === '54001' || code === '54011') return 400;
  if (code === '53400') return 500;
  if (code.startsWith('PT')) {
    const n = Number(code.slice(2));
    return Number.isInteger(n) && n >= 100 && n <= 599 ? n : 500;
  }
  const cls = code.slice(0, 2);
  if (cls === '08' || cls === '53') return 503;
  if (cls === '0L' || cls === '0P' || cls === '28') return 403;
  if (['09', '25', '2D', '38', '39', '3B', '40', '54', '55', '57', '58', 'F0', 'HV', 'XX', 'P0'].includes(cls)) return 500;
  return 400;
}

/** `RAISE SQLSTATE 'PGRST' USING MESSAGE = '{code,message,…}', DETAIL = '{status,headers}'` (§4). */
function customError(err: PgLikeError): RestError {
  const bad = (details: string) =>
    new RestError(500, 'PGRST121', 'Could not parse JSON in the "RAISE SQLSTATE \'PGRST\'" error', details,
      'MESSAGE must be a JSON object with obligatory keys: \'code\', \'message\' and optional keys: \'details\', \'hint\'.');
  let msg: { code?: unknown; message?: unknown; details?: unknown; hint?: unknown };
  let detail: { status?: unknown; status_text?: unknown; headers?: unknown };
  try {
    msg = JSON.parse(err.message);
  } catch {
    return bad(`Invalid JSON value for MESSAGE: '${err.message}'`);
  }
  if (typeof msg?.code !== 'string' || typeof msg?.message !== 'string') return bad(`Invalid JSON value for MESSAGE: '${err.message}'`);
  if (!err.detail) return bad('DETAIL is missing in the RAISE statement');
  try {
    detail = JSON.parse(err.detail);
  } catch {
    return bad(`Invalid JSON value for DETAIL: '${err.detail}'`);
  }
  const status = Number(detail?.status);
  if (!Number.isInteger(status) || status < 100 || status > 599) return bad(`Invalid JSON value for DETAIL: '${err.detail}'`);
  const headers: Record<string, string> = {};
  if (detail.headers && typeof detail.headers === 'object') {
    for (const [k, v] of Object.entries(detail.headers as Record<string, unknown>)) headers[k] = String(v);
  }
  const custom = new RestError(status, msg.code, msg.message, (msg.details as Details) ?? null, typeof msg.hint === 'string' ? msg.hint : null, headers);
  // A reason phrase goes on the status line: no CR/LF or other control characters.
  if (typeof detail.status_text === 'string' && /^[\t\x20-\x7e\x80-\xff]*$/.test(detail.status_text)) custom.statusText = detail.status_text;
  return custom;
}

/**
 * Any error thrown while serving a request, as the RestError the client should see.
 * `authed`: the request ran as a role other than anon (42501 → 403 rather than 401).
 * Unknown errors become a bare 500 without internals.
 */
/** Failures of making a connection at all (as opposed to losing one that was in use). */
const CONNECT_FAILURES = new Set(['57P03', '53300', '08001', '08004', 'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

function errorCodes(err: unknown, depth = 0): string[] {
  if (!err || typeof err !== 'object' || depth > 4) return [];
  const { code, cause, errors } = err as { code?: unknown; cause?: unknown; errors?: unknown };
  return [
    ...(typeof code === 'string' ? [code] : []),
    ...errorCodes(cause, depth + 1),
    ...(Array.isArray(errors) ? errors.flatMap((e) => errorCodes(e, depth + 1)) : []),
  ];
}

/**
 * "The database is not there right now" (db/unavailable.ts) as PostgREST answers it: 503
 * PGRST000 when no connection could be made, PGRST001 when one was lost, 504 PGRST003 when the
 * pool had none to give in time; the body never carries the driver's text (host, port, socket path).
 */
function unavailable(err: unknown): RestError {
  if (err instanceof Error && /timeout exceeded when trying to connect/i.test(err.message)) return ERRORS.poolTimeout();
  return errorCodes(err).some((c) => CONNECT_FAILURES.has(c)) ? ERRORS.connection() : ERRORS.connectionLost();
}

export function toRestError(err: unknown, authed: boolean): RestError {
  if (err instanceof RestError) return err;
  if (isDatabaseUnavailable(err)) return unavailable(err);
  if (isPgError(err)) {
    if (err.code === 'PGRST') return customError(err);
    const status = statusForSqlState(err.code!, err.message, authed);
    const headers: Record<string, string> = status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {};
    if (status === 503) headers['Retry-After'] = '1';
    return new RestError(status, err.code!, err.message, err.detail ?? null, err.hint ?? null, headers);
  }
  return ERRORS.internal();
}
