/**
 * The GraphQL service: PostGraphile v5 over `GRAPHILE_SCHEMA`, at `/graphql/v1` (Supabase's path)
 * and `/graphql` (with the Ruru playground on GET in a browser). Every operation runs as the
 * caller exactly as REST does — the JWT verified by the shared module, then `role` and
 * `request.jwt.claims` set transaction-locally — so one set of RLS policies governs both.
 * The schema follows DDL while the stack runs (watch mode).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { postgraphile } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { PgSimplifyInflectionPreset } from '@graphile/simplify-inflection';
import { PostGraphileConnectionFilterPreset } from 'postgraphile-plugin-connection-filter';
import { bearerToken, createJwtVerifier, type JwtClaims } from '../gateway/jwt.ts';
import type { Service, ServiceContext } from '../gateway/service.ts';
import { API_ROLES } from '../gateway/verify.ts';
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
const V1_PATH = '/graphql/v1';

class GraphqlAuthError extends Error {
  readonly statusCode = 401;
}

export async function createGraphqlService(ctx: ServiceContext): Promise<Service> {
  const { config } = ctx;
  const verifier = createJwtVerifier(config.graphql.jwtSecret, config.jwks);

  async function claimsOf(authorization: unknown): Promise<JwtClaims> {
    const token = bearerToken(typeof authorization === 'string' ? authorization : undefined);
    if (token === undefined) return { role: 'anon' };
    try {
      const claims = await verifier.verify(token);
      const role = typeof claims.role === 'string' ? claims.role : 'anon';
      if (!(API_ROLES as readonly string[]).includes(role)) throw new GraphqlAuthError(`Role "${role}" is not allowed`);
      return { ...claims, role };
    } catch (err) {
      throw err instanceof GraphqlAuthError ? err : new GraphqlAuthError(`Invalid JWT: ${(err as Error).message}`);
    }
  }

  const preset: GraphileConfig.Preset = {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset, PostGraphileConnectionFilterPreset],
    // Supabase users expect `id` to be the row's id (not a Relay global id), and relations,
    // ordering and filters on every column, indexed or not (as pg_graphql and REST offer).
    disablePlugins: ['NodePlugin', 'PgIndexBehaviorsPlugin'],
    plugins: [KeepIdColumnPlugin],
    pgServices: [
      makePgService({
        // PostGraphile owns this pool (and its LISTEN connection) so that release() ends them.
        connectionString: authenticatorUrl(config.postgres),
        poolConfig: { max: config.postgres.poolMax },
        superuserConnectionString: config.postgres.url,
        schemas: config.graphql.schemas,
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
      websockets: false,
      maxRequestLength: 1_000_000,
    },
    grafast: {
      async context(requestContext, args) {
        const claims = await claimsOf(requestContext.node?.req?.headers.authorization);
        return {
          pgSettings: {
            ...args.contextValue?.pgSettings,
            role: claims.role as string,
            'request.jwt.claims': JSON.stringify(claims),
            statement_timeout: '15000',
          },
        };
      },
    },
  };

  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const handler = serv.createHandler();
  await pgl.getSchema(); // fail at start, not on the first request, if the schema cannot be built
  const upgrade = await serv.getUpgradeHandler();

  const toGraphqlPath = (req: IncomingMessage) => {
    const url = req.url ?? '/';
    if (url === V1_PATH || url.startsWith(`${V1_PATH}?`) || url.startsWith(`${V1_PATH}/`)) req.url = GRAPHQL_PATH + url.slice(V1_PATH.length);
  };

  return {
    name: 'graphql',
    handle(req: IncomingMessage, res: ServerResponse) {
      if (req.url === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"up"}');
        return;
      }
      toGraphqlPath(req);
      handler(req, res, () => {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: `No GraphQL endpoint at ${req.url}` }] }));
      });
    },
    upgrade: upgrade
      ? (req: IncomingMessage, socket: Duplex, head: Buffer) => {
          toGraphqlPath(req);
          upgrade(req, socket, head);
        }
      : undefined,
    async health() {
      await pgl.getSchema();
      return { status: 'up' };
    },
    close: async () => {
      await pgl.release();
    },
  };
}
