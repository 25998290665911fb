/**
 * Grafserv's `maskError` hook, the one place where errors thrown while executing an operation
 * become what clients see: Postgres errors keep their message (as PostgREST shows them) with their
 * SQLSTATE, a statement timeout says so, and anything unexpected is masked by Grafserv's default
 * (logged with an id, details hidden). Loaded with PostGraphile, on the first GraphQL request.
 */
import { GraphQLError } from 'postgraphile/graphql';
import { defaultMaskError } from 'postgraphile/grafserv';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.ts';
import { GraphqlServiceError } from './errors.ts';

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
