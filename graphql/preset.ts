/**
 * The PostGraphile preset of the GraphQL service: Amber with simplified inflection and connection
 * filters, the limits (graphql/limits.ts), row-change subscriptions, and every operation run as the
 * caller — `role`, the role's own settings and `request.jwt.claims` as pgSettings, exactly as REST
 * sets them (db/request-context.ts), so one set of RLS policies governs both.
 */
import { makePgService } from 'postgraphile/adaptors/pg';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { PgSimplifyInflectionPreset } from '@graphile/simplify-inflection';
import { PostGraphileConnectionFilterPreset } from 'postgraphile-plugin-connection-filter';
import type { IncomingMessage } from 'node:http';
import type { JwtClaims } from '../core/jwt.ts';
import type { ServiceContext } from '../core/service.ts';
import { authenticatorUrl } from '../db/pool.ts';
import { DatabaseUnavailableStatusPlugin, makeMaskError } from './errors.ts';
import { limitsPreset } from './limits.ts';
import { committedRowCheck, RowChangeSubscriptionsPlugin, ROW_CHECK_CONTEXT } from './subscriptions.ts';

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
