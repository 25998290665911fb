/** The SQL editor's API: run (with confirmation of destructive SQL), EXPLAIN, history, saved snippets. */
import type { FastifyInstance } from 'fastify';
import { AdminError, fromPostgres } from '../errors.ts';
import type { AdminContext } from '../server.ts';
import { runSql } from '../sql-runner.ts';
import { deleteSnippet, listSnippets, queryHistory, recordQuery, saveSnippet } from '../store.ts';
import { uuidParam } from './account.ts';

export function sqlRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { db } = ctx.deps;

  app.post<{ Body: { sql?: unknown; confirm?: unknown; explain?: unknown } }>('/admin/api/sql', async (req) => {
    const s = await ctx.session(req);
    const sql = typeof req.body?.sql === 'string' ? req.body.sql : '';
    const explain = req.body?.explain === true;
    const started = performance.now();
    try {
      const results = await runSql(ctx.sqlPools, sql, s.admin.role, { confirm: req.body?.confirm === true, explain });
      const durationMs = performance.now() - started;
      await recordQuery(db, s.admin.id, { sql: explain ? `explain ${sql}` : sql, ok: true, rowCount: results.at(-1)?.rowCount ?? undefined, durationMs });
      if (!explain && s.admin.role !== 'read_only') await ctx.audit(req, 'sql.run', null, { sql: sql.slice(0, 2000) });
      return { results, durationMs };
    } catch (err) {
      if (err instanceof AdminError && err.code === 'confirmation_required') throw err;
      const pgErr = fromPostgres(err);
      if (pgErr) await recordQuery(db, s.admin.id, { sql, ok: false, durationMs: performance.now() - started, error: pgErr.message });
      throw err;
    }
  });

  app.get('/admin/api/sql/history', async (req) => {
    const s = await ctx.session(req);
    return queryHistory(db, s.admin.id);
  });

  app.get('/admin/api/sql/snippets', async (req) => {
    await ctx.session(req);
    return listSnippets(db);
  });
  app.post<{ Body: { id?: string; name?: unknown; sql?: unknown } }>('/admin/api/sql/snippets', async (req) => {
    const s = await ctx.session(req, 'developer');
    const { id, name, sql } = req.body ?? {};
    if (typeof name !== 'string' || !name.trim() || name.length > 200 || typeof sql !== 'string') throw new AdminError('validation_failed', 400, 'A snippet needs a name (up to 200 characters) and its SQL');
    const saved = await saveSnippet(db, s.admin.id, { id: id === undefined ? undefined : uuidParam(id), name: name.trim(), sql });
    if (!saved) throw new AdminError('not_found', 404, 'No such snippet');
    return saved;
  });
  app.delete<{ Params: { id: string } }>('/admin/api/sql/snippets/:id', async (req) => {
    await ctx.session(req, 'developer');
    if (!(await deleteSnippet(db, uuidParam(req.params.id)))) throw new AdminError('not_found', 404, 'No such snippet');
    return { ok: true };
  });
}
