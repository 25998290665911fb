/**
 * The PostGraphile preset of the GraphQL service: Amber with simplified inflection and connection
 * filters, the limits (graphql/limits.ts), row-change subscriptions, and every operation run as the
 * caller — `role`, the role's own settings and `request.jwt.claims` as pgSettings, exactly as REST
 * sets them (db/request-context.ts), so one set of RLS policies governs both.
 */
import { directUrlOf } from '../config/load.ts';
import { makePgAdaptorWithPgClient, makePgService, PgSubscriber, type NodePostgresPgClient } from 'postgraphile/adaptors/pg';
import { getOperationAST } from 'postgraphile/graphql';
import type { WithPgClient } from 'postgraphile/@dataplan/pg';
import pg from 'pg';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { PgSimplifyInflectionPreset } from '@graphile/simplify-inflection';
import { PostGraphileConnectionFilterPreset } from 'postgraphile-plugin-connection-filter';
import type { IncomingMessage } from 'node:http';
import type { JwtClaims } from '../core/jwt.ts';
import type { ServiceContext } from '../core/service.ts';
import { authenticatorUrl, clientClass, quietErrors } from '../db/pool.ts';
import { DatabaseUnavailableStatusPlugin, makeMaskError } from './mask-error.ts';
import { limitsPreset } from './limits.ts';
import { GRAPHQL_PATH } from './paths.ts';
import { committedRowCheck, RowChangeSubscriptionsPlugin, ROW_CHECK_CONTEXT } from './subscriptions.ts';

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

/**
 * The database of the schema. PostGraphile owns the pools (and its LISTEN connection) so that
 * release() ends them. Requests' pool may go through a transaction pooler (PgBouncer): its client
 * names no statements when DB_PREPARED_STATEMENTS is off (db/pool.ts). Watch mode's and
 * subscriptions' LISTEN need a session of their own, so they connect past the pooler (directUrl).
 */
function pgService(ctx: ServiceContext): GraphileConfig.PgServiceConfiguration {
  const { postgres } = ctx.config;
  const common = { connectionString: authenticatorUrl(postgres), poolConfig: { max: postgres.poolMax, Client: clientClass(postgres) }, superuserConnectionString: directUrlOf(postgres), schemas: ctx.config.graphql.schemas };
  if (directUrlOf(postgres) === postgres.url) return makePgService({ ...common, pubsub: true });
  const listenPool = quietErrors(new pg.Pool({ connectionString: authenticatorUrl({ ...postgres, url: directUrlOf(postgres) }), max: 2, application_name: 'nextmavens graphql (listen)' }));
  const pgSubscriber = new PgSubscriber(listenPool);
  const service = makePgService({ ...common, pgSubscriber });
  const release = service.release?.bind(service);
  service.release = async () => {
    await release?.();
    pgSubscriber.release();
    await listenPool.end();
  };
  return service;
}

/** One withPgClient per replica pool. */
const replicaClients = new WeakMap<pg.Pool, WithPgClient<NodePostgresPgClient>>();

/** `withPgClient` on a replica for a query operation when the read pools have one to offer. */
async function replicaClient(ctx: ServiceContext, req: IncomingMessage | undefined, args: { document?: unknown; operationName?: string | null }): Promise<{ withPgClient?: WithPgClient<NodePostgresPgClient> }> {
  const reads = ctx.pools.reads;
  if (!reads?.enabled || !args.document) return {};
  const op = getOperationAST(args.document as Parameters<typeof getOperationAST>[0], args.operationName ?? undefined);
  if (op?.operation !== 'query') return {};
  const pool = await reads.choose(req?.headers);
  if (pool === reads.primary) return {};
  let withPgClient = replicaClients.get(pool);
  if (!withPgClient) replicaClients.set(pool, (withPgClient = makePgAdaptorWithPgClient(pool)));
  return { withPgClient };
}

/** The preset; `claimsOf` gives the verified caller of an HTTP request or WebSocket. */
export function graphqlPreset(ctx: ServiceContext, claimsOf: (req: IncomingMessage) => JwtClaims | undefined): GraphileConfig.Preset {
  const { config } = ctx;
  const limits = config.graphql;
  const rowCheck = committedRowCheck(ctx.pools.admin);
  const preset: GraphileConfig.Preset = {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset, PostGraphileConnectionFilterPreset, limitsPreset(limits)],
    // Supabase users expect `id` to be the row's id (not a Relay global id), and relations,
    // ordering and filters on every column, indexed or not (as pg_graphql and REST offer).
    disablePlugins: ['NodePlugin', 'PgIndexBehaviorsPlugin'],
    plugins: [KeepIdColumnPlugin, DistinctFunctionNamesPlugin, RowChangeSubscriptionsPlugin, DatabaseUnavailableStatusPlugin],
    pgServices: [pgService(ctx)],
    // Watch mode's notifications come from the stack's DDL trigger (sql/0028), so the service needs
    // no superuser to install PostGraphile's own fixtures.
    gather: { installWatchFixtures: false },
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
        const claims = (req && claimsOf(req)) || { role: 'anon' };
        const role = claims.role as string;
        return {
          // A query may run on a read replica (db/read-pools.ts); mutations and subscriptions on the primary.
          ...(await replicaClient(ctx, req, args)),
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
  return preset;
}
