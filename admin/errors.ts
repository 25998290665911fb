/**
 * The admin API's error: a stable code, an HTTP status, `{ code, message }` as the body (the shape
 * of the dashboard's other JSON errors, ops/dashboard/routes.ts). Postgres errors of the SQL and
 * table editors are the admin's own input gone wrong: 400 with Postgres's message, code and
 * position, never a stack, host or path.
 */
import { ServiceError } from '../core/errors.ts';

export class AdminError extends ServiceError {
  readonly status: number;
  readonly extra: Record<string, unknown>;

  constructor(code: string, status: number, message: string, extra: Record<string, unknown> = {}) {
    super(code, message);
    this.status = status;
    this.extra = extra;
  }

  get httpStatus(): number {
    return this.status;
  }

  render(): unknown {
    return { code: this.code, message: this.message, ...this.extra };
  }
}

interface PgLike {
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: string;
  severity?: string;
}

/** A Postgres error (it has a five-character SQLSTATE) as a 400, else undefined. */
export function fromPostgres(err: unknown): AdminError | undefined {
  const e = err as PgLike;
  if (!e || typeof e.code !== 'string' || !/^[0-9A-Z]{5}$/.test(e.code) || !e.severity) return undefined;
  const status = e.code === '42501' ? 403 : e.code === '57014' ? 408 : 400;
  return new AdminError('sql_error', status, e.message, { sqlstate: e.code, detail: e.detail ?? null, hint: e.hint ?? null, position: e.position ? Number(e.position) : null });
}

/** What any thrown value is sent as: its own rendering, a Postgres error as 400, Fastify's 4xx as they are, else a bare 500. */
export function renderError(err: unknown): { status: number; body: unknown } {
  if (err instanceof AdminError) return { status: err.status, body: err.render() };
  const pgErr = fromPostgres(err);
  if (pgErr) return { status: pgErr.status, body: pgErr.render() };
  const status = (err as { statusCode?: number }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, body: { code: 'bad_request', message: (err as Error).message } };
  return { status: 500, body: { code: 'internal', message: 'Internal error' } };
}
