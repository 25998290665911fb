/**
 * The table editor's API: schemas and relations, a relation's columns, keys, foreign keys and
 * policies, its rows (paging, sort, filters; insert/edit/delete by primary key), new tables and
 * columns, RLS and policies with tenancy templates. Reading needs any admin; changing, a developer.
 * Its SQL is admin/table-store.ts; every change goes into the audit chain.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CatalogRelation } from '../../db/catalog.ts';
import { AdminError } from '../errors.ts';
import type { AdminContext } from '../server.ts';
import {
  addColumn,
  createPolicy,
  createTable,
  deleteRow,
  dropColumn,
  dropPolicy,
  dropTable,
  FILTER_OPS,
  insertRow,
  listRelations,
  listSchemas,
  relation,
  relationDetail,
  selectRows,
  setRls,
  updateRow,
  type ColumnSpec,
  type PolicySpec,
  type RowQuery,
} from '../table-store.ts';

type Rel = { Params: { schema: string; table: string } };

/** The policy templates of the editor: tenancy (sql/0005_tenancy.sql, auth.tenant_id()) and ownership (auth.uid()). */
export const POLICY_TEMPLATES = [
  { id: 'tenant_isolation', label: 'Tenant isolation: rows of the caller\'s tenant', policy: { name: 'tenant_isolation', command: 'all', roles: ['authenticated'], using: 'tenant_id = auth.tenant_id()', withCheck: 'tenant_id = auth.tenant_id()' } },
  { id: 'tenant_read', label: 'Tenant members read', policy: { name: 'tenant_members_read', command: 'select', roles: ['authenticated'], using: 'tenant_id = auth.tenant_id()' } },
  { id: 'owner_only', label: 'Owner only: rows whose user_id is the caller', policy: { name: 'owner_only', command: 'all', roles: ['authenticated'], using: 'user_id = auth.uid()', withCheck: 'user_id = auth.uid()' } },
  { id: 'authenticated_read', label: 'Signed-in users read everything', policy: { name: 'authenticated_read', command: 'select', roles: ['authenticated'], using: 'true' } },
  { id: 'public_read', label: 'Everyone reads (anon too)', policy: { name: 'public_read', command: 'select', roles: ['anon', 'authenticated'], using: 'true' } },
] as const;

function rowQuery(q: Record<string, string | undefined>): RowQuery {
  const limit = Math.min(Math.max(Number(q.limit ?? 50) || 50, 1), 1000);
  const offset = Math.max(Number(q.offset ?? 0) || 0, 0);
  let order: RowQuery['order'];
  if (q.order) {
    const m = /^(.*)\.(asc|desc)$/.exec(q.order);
    order = m ? { column: m[1], ascending: m[2] === 'asc' } : { column: q.order, ascending: true };
  }
  let filters: RowQuery['filters'] = [];
  if (q.filters) {
    try {
      filters = JSON.parse(q.filters);
    } catch {
      throw new AdminError('validation_failed', 400, 'filters must be a JSON array of { column, op, value }');
    }
    if (!Array.isArray(filters) || filters.some((f) => !f || typeof f.column !== 'string' || !(f.op in FILTER_OPS))) {
      throw new AdminError('validation_failed', 400, `filters must be a JSON array of { column, op, value } with op one of ${Object.keys(FILTER_OPS).join(', ')}`);
    }
  }
  return { limit, offset, order, filters };
}

const objectBody = (body: unknown, field: string): Record<string, unknown> => {
  const v = (body as Record<string, unknown> | undefined)?.[field];
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new AdminError('validation_failed', 400, `${field} must be a JSON object`);
  return v as Record<string, unknown>;
};

export function tableRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { db } = ctx.deps;
  const target = (p: Rel['Params']) => `${p.schema}.${p.table}`;

  app.get('/admin/api/schemas', async (req) => {
    await ctx.session(req);
    return listSchemas(db);
  });
  app.get<{ Params: { schema: string } }>('/admin/api/schemas/:schema/relations', async (req) => {
    await ctx.session(req);
    return listRelations(db, req.params.schema);
  });
  app.get('/admin/api/policy-templates', async (req) => {
    await ctx.session(req);
    return POLICY_TEMPLATES;
  });
  app.get<Rel>('/admin/api/tables/:schema/:table', async (req) => {
    await ctx.session(req);
    return relationDetail(db, req.params.schema, req.params.table);
  });
  app.get<Rel & { Querystring: Record<string, string | undefined> }>('/admin/api/tables/:schema/:table/rows', async (req) => {
    await ctx.session(req);
    return selectRows(db, await relation(db, req.params.schema, req.params.table), rowQuery(req.query));
  });

  app.post<Rel>('/admin/api/tables/:schema/:table/rows', async (req) => {
    await ctx.session(req, 'developer');
    const row = await insertRow(db, await relation(db, req.params.schema, req.params.table), objectBody(req.body, 'values'));
    await ctx.audit(req, 'rows.insert', target(req.params));
    return row;
  });
  app.patch<Rel>('/admin/api/tables/:schema/:table/rows', async (req) => {
    await ctx.session(req, 'developer');
    const key = objectBody(req.body, 'key');
    const row = await updateRow(db, await relation(db, req.params.schema, req.params.table), key, objectBody(req.body, 'values'));
    if (!row) throw new AdminError('not_found', 404, 'No row with that key');
    await ctx.audit(req, 'rows.update', target(req.params), { key });
    return row;
  });
  app.delete<Rel>('/admin/api/tables/:schema/:table/rows', async (req) => {
    await ctx.session(req, 'developer');
    const key = objectBody(req.body, 'key');
    if (!(await deleteRow(db, await relation(db, req.params.schema, req.params.table), key))) throw new AdminError('not_found', 404, 'No row with that key');
    await ctx.audit(req, 'rows.delete', target(req.params), { key });
    return { ok: true };
  });

  app.post<{ Body: { schema?: string; name?: string; columns?: ColumnSpec[]; rls?: boolean; tenancy?: boolean } }>('/admin/api/tables', async (req) => {
    await ctx.session(req, 'developer');
    const b = req.body ?? {};
    await createTable(db, { schema: b.schema ?? 'public', name: b.name ?? '', columns: b.columns ?? [], rls: b.rls === true, tenancy: b.tenancy === true });
    await ctx.audit(req, 'tables.create', `${b.schema ?? 'public'}.${b.name}`, { columns: (b.columns ?? []).map((c) => c.name), tenancy: b.tenancy === true });
    return relationDetail(db, b.schema ?? 'public', String(b.name).trim());
  });
  app.delete<Rel>('/admin/api/tables/:schema/:table', async (req) => {
    await ctx.session(req, 'developer');
    await dropTable(db, await relation(db, req.params.schema, req.params.table));
    await ctx.audit(req, 'tables.drop', target(req.params));
    return { ok: true };
  });
  /** A developer's change to one relation: run, audited, answered with the relation as it is now. */
  const alter = async (req: FastifyRequest<{ Params: Rel['Params'] }>, action: string, detail: Record<string, unknown>, change: (rel: CatalogRelation) => Promise<void>) => {
    await ctx.session(req, 'developer');
    await change(await relation(db, req.params.schema, req.params.table));
    await ctx.audit(req, action, target(req.params), detail);
    return relationDetail(db, req.params.schema, req.params.table);
  };
  app.post<Rel & { Body: ColumnSpec }>('/admin/api/tables/:schema/:table/columns', (req) =>
    alter(req, 'columns.add', { column: req.body?.name }, (rel) => addColumn(db, rel, req.body ?? ({} as ColumnSpec))),
  );
  app.delete<{ Params: Rel['Params'] & { column: string } }>('/admin/api/tables/:schema/:table/columns/:column', (req) =>
    alter(req, 'columns.drop', { column: req.params.column }, (rel) => dropColumn(db, rel, req.params.column)),
  );
  app.put<Rel & { Body: { enabled?: boolean } }>('/admin/api/tables/:schema/:table/rls', async (req) => {
    const enabled = req.body?.enabled;
    if (typeof enabled !== 'boolean') throw new AdminError('validation_failed', 400, 'enabled must be true or false');
    return alter(req, enabled ? 'rls.enable' : 'rls.disable', {}, (rel) => setRls(db, rel, enabled));
  });
  app.post<Rel & { Body: PolicySpec }>('/admin/api/tables/:schema/:table/policies', (req) => {
    const p = req.body ?? ({} as PolicySpec);
    return alter(req, 'policies.create', { name: p.name, command: p.command ?? 'all', using: p.using ?? null, withCheck: p.withCheck ?? null }, (rel) => createPolicy(db, rel, p));
  });
  app.delete<{ Params: Rel['Params'] & { name: string } }>('/admin/api/tables/:schema/:table/policies/:name', (req) =>
    alter(req, 'policies.drop', { name: req.params.name }, (rel) => dropPolicy(db, rel, req.params.name)),
  );
}
