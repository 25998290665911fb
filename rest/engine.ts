/**
 * The REST engine: one HTTP request in, one response out, PostgREST v13 semantics, in
 * PostgREST's stages (docs/postgrest.md §0):
 *   ApiRequest (rest/api-request.ts: the request as data)
 *   → Plan (rest/plan/: read, mutate and call plans, relationships resolved once)
 *   → Query (rest/query/: the SQL of a plan, every value a parameter)
 *   → Transaction (rest/transaction.ts: one transaction as the caller)
 *   → Response (rest/response.ts: status and headers).
 * A read whose shape was seen before skips the first three stages (rest/read-shapes.ts).
 */
import type pg from 'pg';
import type { JwtVerifier } from '../core/jwt.ts';
import { apiRequest, headerValue, type ApiRequest, type RequestInfo, type RestRequest, type RestResponse } from './api-request.ts';
import { authenticate } from './auth.ts';
import { RestError } from './errors.ts';
import type { RestModel } from './model.ts';
import { planCall } from './plan/call.ts';
import { planDelete, planInsert, planPut, planUpdate } from './plan/mutate.ts';
import { planRead, type ReadPlan } from './plan/read.ts';
import { callStatements } from './query/call.ts';
import { mutateStatements } from './query/mutate.ts';
import { readStatements } from './query/read.ts';
import type { Statements } from './query/statement.ts';
import { callResponse, errorResponse, explainResponse, mutateResponse, readResponse, relationOptions, rpcOptions } from './response.ts';
import { execute, explain, poolFor, type ExecutedPlan } from './transaction.ts';
import { bindShape, keptShape, learnShape, shapeOf, type ReadShape } from './read-shapes.ts';
import type { ReadPools } from '../db/read-pools.ts';

export type { RestRequest, RestResponse };

export interface RestEngineOptions {
  pool: pg.Pool;
  /** Read replicas (DATABASE_READ_URL) for GET/HEAD reads (transaction.ts poolFor). */
  reads?: ReadPools;
  verifier: JwtVerifier;
  /** Exposed schemas; the first is the default. */
  schemas: string[];
  /** The current model, or undefined while the schema cache is loading. */
  model(): RestModel | undefined;
  /** `REST_MAX_ROWS` (PostgREST's db-max-rows): the most rows any read returns, per embed too. */
  maxRows?: number;
  /** `REST_DB_PLAN_ENABLED` (db-plan-enabled): `Accept: application/vnd.pgrst.plan…` answers EXPLAIN. */
  planEnabled?: boolean;
}

type Planned = { plan: ExecutedPlan; statements: Statements };

/** The plan of a data action and its statements. */
function planAndQuery(opts: RestEngineOptions, api: ApiRequest, model: RestModel): Planned | undefined {
  const { action } = api;
  const limits = { maxRows: opts.maxRows, planEnabled: opts.planEnabled };
  const planEnabled = opts.planEnabled ?? false;
  switch (action.kind) {
    case 'read': {
      const plan = planRead(api, model, action.rel, action.query, action.head, limits);
      return { plan, statements: readStatements(model, plan, opts.maxRows) };
    }
    case 'call': {
      const plan = planCall(api, model, action.name, action.query, limits);
      return { plan, statements: callStatements(model, plan, opts.maxRows) };
    }
    case 'insert':
    case 'update':
    case 'put':
    case 'delete': {
      const planner = { insert: planInsert, update: planUpdate, put: planPut, delete: planDelete }[action.kind];
      const plan = planner(api, model, action.rel, action.query, planEnabled);
      return { plan, statements: mutateStatements(model, plan) };
    }
    default:
      return undefined;
  }
}

/** The media of a plan request (Accept: application/vnd.pgrst.plan…), when this is one. */
function explainMedia(plan: ExecutedPlan) {
  if (plan.kind === 'mutate') return plan.explain;
  return plan.media.plan ? plan.media : undefined;
}

/** A read of a kept shape (rest/read-shapes.ts): its caller, values and transaction, the shape's plan and SQL. */
async function serveShaped(opts: RestEngineOptions, req: RestRequest, shape: ReadShape, values: string[]): Promise<RestResponse> {
  const caller = await authenticate(opts.verifier, headerValue(req.headers.authorization));
  const api: RequestInfo = { ...shape.info, req, caller };
  const statements = bindShape(shape, values);
  const { row, total } = await execute(poolFor(opts, api, shape.plan), api, shape.plan, statements);
  return readResponse(api, shape.plan, row, total);
}

async function serve(opts: RestEngineOptions, req: RestRequest): Promise<RestResponse> {
  const current = opts.model();
  const shaped = current && shapeOf(req);
  const shape = shaped && keptShape(current, shaped);
  if (shape) return serveShaped(opts, req, shape, shaped.values);
  const api = await apiRequest(req, opts.verifier, opts.schemas, current);
  const { action, model } = api;
  switch (action.kind) {
    case 'root-options':
      return { status: 200, headers: { ...api.headers, Allow: 'OPTIONS,GET,HEAD' }, body: '' };
    case 'openapi': {
      const { openApiDocument } = await import('./openapi.ts');
      const doc = openApiDocument(model, api.schema);
      return { status: 200, headers: { ...api.headers, 'Content-Type': 'application/openapi+json; charset=utf-8' }, body: req.method === 'HEAD' ? undefined : JSON.stringify(doc) };
    }
    case 'rpc-options':
      return rpcOptions(api, model, action.name);
    case 'relation-options':
      return relationOptions(api, action.rel);
  }
  const { plan, statements } = planAndQuery(opts, api, model)!;
  const media = explainMedia(plan);
  if (shaped && plan.kind === 'read' && !media) learnShape(model, shaped, api, { plan, statements }, (marked) => planAndQuery(opts, marked, model) as { plan: ReadPlan; statements: Statements });
  const pool = poolFor(opts, api, plan);
  if (media) return explainResponse(api, media, await explain(pool, api, plan, media, statements.main));
  const { row, total } = await execute(pool, api, plan, statements);
  if (plan.kind === 'read') return readResponse(api, plan, row, total);
  if (plan.kind === 'mutate') return mutateResponse(api, plan, row);
  return callResponse(api, plan, row, total);
}

/** Serves one request; never throws: every failure becomes PostgREST's error response. */
export async function handleRestRequest(opts: RestEngineOptions, req: RestRequest): Promise<RestResponse> {
  try {
    return await serve(opts, req);
  } catch (err) {
    return errorResponse(err);
  }
}

export { RestError };
