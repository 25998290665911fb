/**
 * `GET /rest/v1/` — a Swagger 2.0 description of the exposed schema, in the shape PostgREST
 * serves (§7): one path per relation and function, one definition per relation.
 */
import type { Column, RestModel } from './model.ts';
import { VERSION } from '../config/version.ts';

function swaggerType(c: Column): Record<string, unknown> {
  const t = c.type.name;
  if (c.type.element) return { type: 'array', items: { type: 'string' }, format: `${c.type.element.name}[]` };
  if (['text', 'varchar', 'bpchar', 'char', 'name', 'citext'].includes(t)) return { type: 'string', format: t };
  if (['int2', 'int4', 'int8'].includes(t)) return { type: 'integer', format: t };
  if (['numeric', 'float4', 'float8'].includes(t)) return { type: 'number', format: t };
  if (t === 'bool') return { type: 'boolean', format: t };
  if (t === 'json' || t === 'jsonb') return { format: t };
  return { type: 'string', format: t };
}

export function openApiDocument(model: RestModel, schema: string): Record<string, unknown> {
  const paths: Record<string, unknown> = { '/': { get: { tags: ['Introspection'], summary: 'OpenAPI description (this document)', produces: ['application/openapi+json', 'application/json'], responses: { 200: { description: 'OK' } } } } };
  const definitions: Record<string, unknown> = {};
  for (const rel of model.relations(schema)) {
    const ref = { $ref: `#/definitions/${rel.name}` };
    const ops: Record<string, unknown> = {
      get: { tags: [rel.name], parameters: [], responses: { 200: { description: 'OK', schema: { type: 'array', items: ref } }, 206: { description: 'Partial Content' } } },
    };
    if (rel.insertable) ops.post = { tags: [rel.name], parameters: [{ name: rel.name, in: 'body', schema: ref }], responses: { 201: { description: 'Created' } } };
    if (rel.updatable) ops.patch = { tags: [rel.name], parameters: [{ name: rel.name, in: 'body', schema: ref }], responses: { 204: { description: 'No Content' } } };
    if (rel.deletable) ops.delete = { tags: [rel.name], responses: { 204: { description: 'No Content' } } };
    paths[`/${rel.name}`] = ops;
    const properties: Record<string, unknown> = {};
    for (const c of rel.columns) {
      properties[c.name] = {
        ...swaggerType(c),
        ...(c.defaultExpr ? { default: c.defaultExpr } : {}),
        ...(rel.pk.includes(c.name) ? { description: 'Note:\nThis is a Primary Key.<pk/>' } : {}),
      };
    }
    definitions[rel.name] = { type: 'object', properties, required: rel.columns.filter((c) => !c.nullable && !c.defaultExpr).map((c) => c.name) };
  }
  for (const fn of model.allFunctions(schema).filter((f) => f.callable)) {
    const args = { type: 'object', properties: Object.fromEntries(fn.args.map((a) => [a.name, { format: a.type.name, type: 'string' }])), required: fn.args.slice(0, fn.requiredCount).map((a) => a.name) };
    const ops: Record<string, unknown> = { post: { tags: [`(rpc) ${fn.name}`], parameters: [{ name: 'args', in: 'body', required: true, schema: args }], responses: { 200: { description: 'OK' } } } };
    if (fn.volatility !== 'volatile') ops.get = { tags: [`(rpc) ${fn.name}`], parameters: fn.args.map((a) => ({ name: a.name, in: 'query', required: false, type: 'string', format: a.type.name })), responses: { 200: { description: 'OK' } } };
    paths[`/rpc/${fn.name}`] = ops;
  }
  return {
    swagger: '2.0',
    info: { title: 'NextMavens REST API', description: 'A PostgREST-compatible API generated from the database schema', version: VERSION },
    basePath: '/',
    schemes: ['http'],
    consumes: ['application/json', 'application/vnd.pgrst.object+json;nulls=stripped', 'application/vnd.pgrst.object+json', 'text/csv'],
    produces: ['application/json', 'application/vnd.pgrst.object+json;nulls=stripped', 'application/vnd.pgrst.object+json', 'text/csv'],
    paths,
    definitions,
  };
}
