/**
 * PostGraphile itself: the schema over `GRAPHILE_SCHEMA` (watch mode), Grafserv's handler and the
 * graphql-ws server. graphql/service.ts imports this module on the first GraphQL request, so a
 * stack that never serves GraphQL never loads PostGraphile, graphql-js or its schema.
 *
 * The watch loop is graphile-build's `watchSchema` driven here rather than through `postgraphile()`
 * (node_modules/postgraphile/dist/index.js): there, a first build that fails only logs "Watch
 * error" and `getSchema()` never settles, so the first request would hang; here it rejects, the
 * watcher and pools are stopped, and the service answers SCHEMA_UNAVAILABLE. A later rebuild
 * that fails (DDL while running) is logged and the last good schema keeps serving.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { watchSchema } from 'postgraphile';
import { grafserv } from 'postgraphile/grafserv/node';
import type { JwtClaims } from '../core/jwt.ts';
import type { ServiceContext } from '../core/service.ts';
import { graphqlPreset } from './preset.ts';
import { createGraphqlWebSockets, type GraphqlWebSockets } from './websocket.ts';

export interface GraphqlEngine {
  handler: (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
  sockets: GraphqlWebSockets;
  release(): Promise<void>;
}

type SchemaResult = Parameters<Parameters<typeof watchSchema>[1]>[1] & object;

/** Builds the schema (rejecting when it cannot be built, with nothing left running). */
export async function buildGraphqlEngine(
  ctx: ServiceContext,
  httpClaimsOf: (req: IncomingMessage) => JwtClaims | undefined,
  authenticate: (token: string | undefined, req: IncomingMessage) => Promise<JwtClaims>,
): Promise<GraphqlEngine> {
  // Set once the server exists (the context callback only runs after that).
  let sockets: GraphqlWebSockets | undefined;
  const preset = graphqlPreset(ctx, (req) => httpClaimsOf(req) ?? sockets?.claimsOf(req));
  const first = Promise.withResolvers<SchemaResult>();
  let serv: ReturnType<typeof grafserv> | undefined;
  /** The newest schema, also when a rebuild lands before the server exists. */
  let latest: SchemaResult | undefined;
  let settled = false;
  const stopWatching = watchSchema(preset, async (error, params) => {
    if (!settled) {
      settled = true;
      if (error || !params) first.reject(error ?? new Error('no schema'));
      else first.resolve((latest = params));
      return;
    }
    if (error || !params) return void ctx.log.error({ err: error }, 'graphql: the schema could not be rebuilt; the last one keeps serving');
    latest = params;
    if (!serv) return;
    await serv.ready();
    await serv.setPreset(params.resolvedPreset);
    serv.setSchema(params.schema);
  });
  stopWatching.catch((err: Error) => {
    if (!settled) {
      settled = true;
      first.reject(err);
    }
  });
  const stop = async () => {
    await stopWatching.then((stopFn) => stopFn(), () => undefined);
    // The pools (and LISTEN client) of the preset's pgServices are this engine's own.
    for (const pgService of preset.pgServices ?? []) await pgService.release?.();
  };
  try {
    latest ??= await first.promise;
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  const built = grafserv({ preset, schema: latest.schema });
  serv = built;
  sockets = createGraphqlWebSockets(built, authenticate, { maxPayload: ctx.config.graphql.maxBodyBytes });
  const ws = sockets;
  return {
    handler: built.createHandler(),
    sockets: ws,
    async release() {
      await ws.close();
      await built.release();
      await stop();
    },
  };
}
