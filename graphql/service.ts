/**
 * The GraphQL service: PostGraphile v5 over `GRAPHILE_SCHEMA`, at `/graphql/v1` (Supabase's path)
 * and `/graphql` (with the Ruru playground on GET in a browser). Every operation runs as the
 * caller exactly as REST does — the JWT verified by the shared module, then `role` and
 * `request.jwt.claims` set transaction-locally — so one set of RLS policies governs both.
 * The schema follows DDL while the stack runs (watch mode).
 *
 * Subscriptions (graphql-ws) share the path: graphql/websocket.ts authenticates connections and
 * graphql/subscriptions.ts adds `<table>Changed` fields for opted-in tables. Limits (body size,
 * depth, cost, statement timeout) answer with GraphQL errors carrying `extensions.code`
 * (graphql/limits.ts, graphql/errors.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { postgraphile } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { PgSimplifyInflectionPreset } from '@graphile/simplify-inflection';
import { PostGraphileConnectionFilterPreset } from 'postgraphile-plugin-connection-filter';
import { bearerToken, createJwtVerifier, type JwtClaims } from '../core/jwt.ts';
import { DatabaseUnavailableStatusPlugin, GRAPHQL_ERRORS, GraphqlServiceError, makeMaskError, sendGraphqlError } from './errors.ts';
import { limitsPreset } from './limits.ts';
import { committedRowCheck, RowChangeSubscriptionsPlugin, ROW_CHECK_CONTEXT } from './subscriptions.ts';
import { createGraphqlWebSockets, type GraphqlWebSockets } from './websocket.ts';
import type { Service, ServiceContext } from '../core/service.ts';
import { isApiRole } from '../core/caller.ts';
import { authenticatorUrl } from '../db/pool.ts';

export const GRAPHQL_PATH = '/graphql';

/** Without Relay global ids there is no `id` to avoid: keep a column named `id` as `id`. */
const KeepIdColumnPlugin: GraphileConfig.Plugin = {
  name: 'NextMavensKeepIdColumnPlugin',
  version: '1.0.0',
  inflection: {
    replace: {
      _attributeName(previous, _options, details) {
        return previous!.call(this, { ...details, skipRowId: true });
      },
    },
  },
};
/**
 * A function named like a table of its schema (how a REST computed relationship overrides a foreign
 * key, `posts(authors)` beside table `posts`) would be a second GraphQL resource of that name, and
 * PostGraphile then never builds the schema: such a function is named `<name>_computed` unless a
 * `@name` smart tag names it.
 */
const DistinctFunctionNamesPlugin: GraphileConfig.Plugin = {
  name: 'NextMavensDistinctFunctionNamesPlugin',
  version: '1.0.0',
  inflection: {
    replace: {
      functionResourceName(previous, _options, details) {
        const name = previous!.call(this, details);
        const { pgProc } = details;
        if (typeof pgProc.getTagsAndDescription().tags.name === 'string') return name;
        return pgProc.getNamespace()?.getClass({ name: pgProc.proname }) ? `${name}_computed` : name;
      },
    },
  },
};
const V1_PATH = '/graphql/v1';

export async function createGraphqlService(ctx: ServiceContext): Promise<Service> {
  const { config } = ctx;
  const limits = config.graphql;
  const verifier = createJwtVerifier(limits.jwtSecret, config.jwks);

  /** The caller's claims: anon without a token; an invalid token or a non-API role is refused. */
  async function authenticate(token: string | undefined): Promise<JwtClaims> {
    if (token === undefined) return { role: 'anon' };
    let claims: JwtClaims;
    try {
      claims = await verifier.verify(token);
    } catch (err) {
      throw GRAPHQL_ERRORS.invalidJwt((err as Error).message);
    }
    const role = typeof claims.role === 'string' ? claims.role : 'anon';
    if (!isApiRole(role)) throw GRAPHQL_ERRORS.roleNotAllowed(role);
    return { ...claims, role };
  }

  const rowCheck = committedRowCheck(ctx.pools.admin);
  /** Claims of HTTP requests, verified in `handle` before Grafserv sees the request. */
  const httpClaims = new WeakMap<IncomingMessage, JwtClaims>();
  // Set once the server exists (the context callback only runs after that).
  let sockets: GraphqlWebSockets | undefined;

  const preset: GraphileConfig.Preset = {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset, PostGraphileConnectionFilterPreset, limitsPreset(limits)],
    // Supabase users expect `id` to be the row's id (not a Relay global id), and relations,
    // ordering and filters on every column, indexed or not (as pg_graphql and REST offer).
    disablePlugins: ['NodePlugin', 'PgIndexBehaviorsPlugin'],
    plugins: [KeepIdColumnPlugin, DistinctFunctionNamesPlugin, RowChangeSubscriptionsPlugin, DatabaseUnavailableStatusPlugin],
    pgServices: [
      makePgService({
        // PostGraphile owns this pool (and its LISTEN connection) so that release() ends them.
        connectionString: authenticatorUrl(config.postgres),
        poolConfig: { max: config.postgres.poolMax },
        superuserConnectionString: config.postgres.url,
        schemas: limits.schemas,
        pubsub: true,
      }),
    ],
    schema: { dontSwallowErrors: true },
    grafserv: {
      graphqlPath: GRAPHQL_PATH,
      graphiql: true,
      graphiqlPath: GRAPHQL_PATH,
      graphqlOverGET: true,
      watch: true,
      // Subscriptions are served by graphql/websocket.ts (Grafserv's graphql-ws config plus auth).
      websockets: false,
      maxRequestLength: limits.maxBodyBytes,
      maskError: makeMaskError(limits),
    },
    grafast: {
      async context(requestContext, args) {
        const req = requestContext.node?.req ?? requestContext.ws?.request;
        const claims = (req && (httpClaims.get(req) ?? sockets?.claimsOf(req))) || { role: 'anon' };
        const role = claims.role as string;
        return {
          [ROW_CHECK_CONTEXT]: rowCheck,
          pgSettings: {
            ...args.contextValue?.pgSettings,
            // GRAPHQL_STATEMENT_TIMEOUT bounds roles that have no statement_timeout of their own
            // (service_role by default); a role's own settings (ALTER ROLE … SET) then apply
            // exactly as REST applies them, before role and claims (see db/role-settings.ts).
            statement_timeout: String(limits.statementTimeoutMs),
            ...(await ctx.pools.roleSettings.of(role)),
            role,
            'request.jwt.claims': JSON.stringify(claims),
          },
        };
      },
    },
  };

  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const handler = serv.createHandler();
  await pgl.getSchema(); // fail at start, not on the first request, if the schema cannot be built
  sockets = createGraphqlWebSockets(serv, authenticate, { maxPayload: limits.maxBodyBytes });

  /** `/graphql/v1…` is served as `/graphql…`; returns the path without the query. */
  const toGraphqlPath = (req: IncomingMessage) => {
    const url = req.url ?? '/';
    if (url === V1_PATH || url.startsWith(`${V1_PATH}?`) || url.startsWith(`${V1_PATH}/`)) req.url = GRAPHQL_PATH + url.slice(V1_PATH.length);
    const q = req.url!.indexOf('?');
    return q === -1 ? req.url! : req.url!.slice(0, q);
  };

  async function health(): Promise<{ status: 'up' }> {
    await pgl.getSchema();
    // The schema is cached: only a query tells whether requests can reach the database.
    await ctx.pools.request.query('select 1');
    return { status: 'up' };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === '/health') {
      // Compose: the gateway's /health asks this; down (503) while the database is unreachable.
      const up = await health().then(() => true, () => false);
      res.writeHead(up ? 200 : 503, { 'content-type': 'application/json' }).end(up ? '{"status":"up"}' : '{"status":"down"}');
      return;
    }
    const path = toGraphqlPath(req);
    if (Number(req.headers['content-length'] ?? 0) > limits.maxBodyBytes) {
      res.setHeader('connection', 'close');
      return sendGraphqlError(res, GRAPHQL_ERRORS.tooLarge(limits.maxBodyBytes));
    }
    try {
      // The caller is the Bearer token, else the API key, as at the edge (gateway/verify.ts) and over graphql-ws.
      const apikey = typeof req.headers.apikey === 'string' && req.headers.apikey.trim() ? req.headers.apikey.trim() : undefined;
      httpClaims.set(req, await authenticate(bearerToken(req.headers.authorization) ?? apikey));
    } catch (err) {
      if (err instanceof GraphqlServiceError) return sendGraphqlError(res, err);
      throw err;
    }
    handler(req, res, () => sendGraphqlError(res, GRAPHQL_ERRORS.notFound(path)));
  }

  return {
    name: 'graphql',
    handle(req, res) {
      handle(req, res).catch((err: Error) => {
        ctx.log.error({ err }, 'graphql: request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"message":"Internal error"}]}');
        else res.destroy();
      });
    },
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      const path = toGraphqlPath(req);
      if (path !== GRAPHQL_PATH) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      sockets!.upgrade(req, socket, head);
    },
    health,
    close: async () => {
      await sockets?.close();
      await pgl.release();
      // pgl.release() stops the server and watch mode, not the pools (and LISTEN client) of the services.
      for (const pgService of pgl.getResolvedPreset().pgServices ?? []) await pgService.release?.();
    },
  };
}
