/**
 * Random row changes for property tests of change streams (realtime postgres_changes, GraphQL
 * subscriptions): intents over a few ids of two tenants, made valid against a model table as they
 * are applied, grouped into transactions, and fired back to back without waiting for deliveries
 * (so later transactions race the checks of earlier ones). Each API's test computes from the
 * operations, in commit order, what each subscriber must receive.
 */
import fc from 'fast-check';
import type pg from 'pg';

export interface ModelRow {
  id: number;
  tenant_id: string;
  title: string;
  n: number | null;
}

export type ModelOp =
  | { kind: 'insert'; row: ModelRow }
  | { kind: 'update'; id: number; set: Partial<Omit<ModelRow, 'id'>>; before: ModelRow; after: ModelRow }
  | { kind: 'delete'; id: number; before: ModelRow };

export const intents = (tenants: [string, string]) =>
  fc.array(
    fc.record({
      kind: fc.constantFrom('insert', 'update', 'delete'),
      id: fc.integer({ min: 1, max: 5 }),
      tenant: fc.constantFrom(...tenants),
      title: fc.constantFrom('x', 'y'),
      n: fc.option(fc.integer({ min: 0, max: 9 }), { nil: null }),
      moveTenant: fc.boolean(),
      commitAfter: fc.boolean(),
    }),
    { minLength: 1, maxLength: 12 },
  );

export type Intent = ReturnType<typeof intents> extends fc.Arbitrary<(infer I)[]> ? I : never;

/**
 * Valid operations (ids base+1..base+5) and their transactions; a last transaction deletes what
 * is left, so every run starts from an empty id range. `tenants` lets an update move a row.
 */
export function plan(raw: Intent[], base: number, tenants: [string, string]): { ops: ModelOp[]; txs: ModelOp[][] } {
  const ops: ModelOp[] = [];
  const txs: ModelOp[][] = [[]];
  const live = new Map<number, ModelRow>();
  for (const r of raw) {
    const id = base + r.id;
    const before = live.get(id);
    let op: ModelOp;
    if (!before) op = { kind: 'insert', row: { id, tenant_id: r.tenant, title: r.title, n: r.n } };
    else if (r.kind === 'delete') op = { kind: 'delete', id, before };
    else {
      const set = r.moveTenant ? { tenant_id: before.tenant_id === tenants[0] ? tenants[1] : tenants[0] } : { title: r.title, n: r.n };
      op = { kind: 'update', id, set, before, after: { ...before, ...set } };
    }
    if (op.kind === 'insert') live.set(id, op.row);
    else if (op.kind === 'update') live.set(id, op.after);
    else live.delete(id);
    ops.push(op);
    txs[txs.length - 1].push(op);
    if (r.commitAfter) txs.push([]);
  }
  const cleanup: ModelOp[] = [...live.values()].map((before) => ({ kind: 'delete', id: before.id, before }));
  ops.push(...cleanup);
  txs.push(cleanup);
  return { ops, txs: txs.filter((tx) => tx.length) };
}

/** Runs the transactions on `writer`, one after another, as fast as they commit. `table` is trusted (a test's own). */
export async function fire(writer: pg.Client, table: string, txs: ModelOp[][]): Promise<void> {
  for (const tx of txs) {
    await writer.query('begin');
    for (const op of tx) {
      if (op.kind === 'insert') await writer.query(`insert into ${table} (id, tenant_id, title, n) values ($1, $2, $3, $4)`, [op.row.id, op.row.tenant_id, op.row.title, op.row.n]);
      else if (op.kind === 'update') {
        const cols = Object.keys(op.set);
        await writer.query(`update ${table} set ${cols.map((c, i) => `${c} = $${i + 2}`).join(', ')} where id = $1`, [op.id, ...cols.map((c) => (op.set as Record<string, unknown>)[c])]);
      } else await writer.query(`delete from ${table} where id = $1`, [op.id]);
    }
    await writer.query('commit');
  }
}
