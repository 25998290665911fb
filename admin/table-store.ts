/**
 * The table editor's SQL, as the owner: schemas, relations (db/catalog.ts's columns and keys,
 * plus RLS, foreign keys across schemas and policies), rows by page with sort and filters,
 * row inserts/updates/deletes through json_populate_record (Postgres turns the JSON values into
 * the column types), new tables and columns, RLS and policies. Identifiers come from the catalog
 * (a name that is not there is refused before any SQL) and are quoted; values are parameters; a
 * type is accepted only as Postgres names it (format_type(to_regtype($1))).
 */
import type pg from 'pg';
import { loadCatalog, type CatalogColumn, type CatalogRelation } from '../db/catalog.ts';
import { quoteIdent, quoteQualified } from '../db/identifiers.ts';
import { inTransaction } from '../ops/store.ts';
import { AdminError } from './errors.ts';
import type { Db } from './store.ts';

/** Schemas that are Postgres's own. */
const SYSTEM_SCHEMA = `n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema'`;

export async function listSchemas(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(`select n.nspname as name from pg_namespace n where ${SYSTEM_SCHEMA} order by n.nspname = 'public' desc, n.nspname`);
  return rows.map((r) => r.name);
}

export interface RelationSummary {
  name: string;
  kind: 'table' | 'view' | 'materialized view' | 'foreign table';
  rls: boolean;
  estimatedRows: number;
}

const KINDS: Record<string, RelationSummary['kind']> = { r: 'table', p: 'table', v: 'view', m: 'materialized view', f: 'foreign table' };

export async function listRelations(db: Db, schema: string): Promise<RelationSummary[]> {
  const { rows } = await db.query<{ name: string; relkind: string; rls: boolean; est: number }>(
    `select c.relname as name, c.relkind, c.relrowsecurity as rls, greatest(c.reltuples, 0)::float8 as est
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r','p','v','m','f') and not c.relispartition order by c.relname`,
    [schema],
  );
  return rows.map((r) => ({ name: r.name, kind: KINDS[r.relkind], rls: r.rls, estimatedRows: r.est }));
}

export interface ForeignKey {
  name: string;
  columns: string[];
  references: { schema: string; table: string; columns: string[] };
}

export interface Policy {
  name: string;
  command: string;
  permissive: string;
  roles: string[];
  using: string | null;
  withCheck: string | null;
}

export interface RelationDetail {
  schema: string;
  name: string;
  kind: RelationSummary['kind'];
  rls: boolean;
  columns: CatalogColumn[];
  primaryKey: string[];
  foreignKeys: ForeignKey[];
  policies: Policy[];
}

/** The relation as the catalog has it, or 404. */
export async function relation(db: Db, schema: string, name: string): Promise<CatalogRelation> {
  const catalog = await loadCatalog(db, [schema]);
  const rel = catalog.relations.find((r) => r.schema === schema && r.name === name);
  if (!rel) throw new AdminError('not_found', 404, `No table or view ${schema}.${name}`);
  return rel;
}

export async function relationDetail(db: Db, schema: string, name: string): Promise<RelationDetail> {
  const rel = await relation(db, schema, name);
  const [flags, fks, policies] = await Promise.all([
    db.query<{ rls: boolean }>('select relrowsecurity as rls from pg_class where oid = $1', [rel.oid]),
    db.query<ForeignKey>(
      `select c.conname as name,
              array(select a.attname from unnest(c.conkey) with ordinality k(n, i) join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.i)::text[] as columns,
              json_build_object('schema', tn.nspname, 'table', t.relname,
                'columns', array(select a.attname from unnest(c.confkey) with ordinality k(n, i) join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.i)) as references
         from pg_constraint c join pg_class t on t.oid = c.confrelid join pg_namespace tn on tn.oid = t.relnamespace
        where c.contype = 'f' and c.conrelid = $1 order by c.conname`,
      [rel.oid],
    ),
    db.query<Policy>(
      `select policyname as name, cmd as command, permissive, roles::text[] as roles, qual as using, with_check as "withCheck"
         from pg_policies where schemaname = $1 and tablename = $2 order by policyname`,
      [schema, name],
    ),
  ]);
  return { schema, name, kind: KINDS[rel.relkind], rls: flags.rows[0]?.rls ?? false, columns: rel.columns, primaryKey: rel.pk, foreignKeys: fks.rows, policies: policies.rows };
}

// ------------------------------------------------------------------------------------- rows

export const FILTER_OPS = { eq: '=', neq: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=', like: 'like', ilike: 'ilike', is_null: 'is null', not_null: 'is not null' } as const;
export type FilterOp = keyof typeof FILTER_OPS;

export interface RowQuery {
  limit: number;
  offset: number;
  order?: { column: string; ascending: boolean };
  filters: { column: string; op: FilterOp; value?: string }[];
}

function column(rel: CatalogRelation, name: string): string {
  if (!rel.columns.some((c) => c.name === name)) throw new AdminError('validation_failed', 400, `No column ${name} in ${rel.schema}.${rel.name}`);
  return quoteIdent(name);
}

function whereClause(rel: CatalogRelation, filters: RowQuery['filters'], params: unknown[]): string {
  const parts = filters.map((f) => {
    const col = column(rel, f.column);
    const op = FILTER_OPS[f.op];
    if (!op) throw new AdminError('validation_failed', 400, `Unknown filter operator ${f.op}`);
    if (f.op === 'is_null' || f.op === 'not_null') return `${col} ${op}`;
    params.push(f.value ?? '');
    // like/ilike compare the text form; the others let Postgres read the value as the column's type.
    return f.op === 'like' || f.op === 'ilike' ? `${col}::text ${op} $${params.length}` : `${col} ${op} $${params.length}`;
  });
  return parts.length ? `where ${parts.join(' and ')}` : '';
}

/** A page of rows as JSON (Postgres's own text forms), with the count of all that match. */
export async function selectRows(db: Db, rel: CatalogRelation, q: RowQuery): Promise<{ rows: Record<string, unknown>[]; total: number }> {
  const params: unknown[] = [];
  const where = whereClause(rel, q.filters, params);
  const table = quoteQualified(rel.schema, rel.name);
  const order = q.order ? `order by ${column(rel, q.order.column)} ${q.order.ascending ? 'asc' : 'desc'} nulls last` : rel.pk.length ? `order by ${rel.pk.map(quoteIdent).join(', ')}` : '';
  const [page, count] = await Promise.all([
    db.query<{ r: Record<string, unknown> }>(`select to_jsonb(t) as r from (select * from ${table} ${where} ${order} limit ${q.limit} offset ${q.offset}) t`, params),
    db.query<{ n: number }>(`select count(*)::float8 as n from ${table} ${where}`, params),
  ]);
  return { rows: page.rows.map((r) => r.r), total: count.rows[0].n };
}

function checkColumns(rel: CatalogRelation, values: Record<string, unknown>): string[] {
  const names = Object.keys(values);
  for (const n of names) column(rel, n);
  return names;
}

/** The row of JSON `values` as the table's record type, and which of its columns are named. */
const populated = (rel: CatalogRelation, param: number) => `json_populate_record(null::${quoteQualified(rel.schema, rel.name)}, $${param}::json)`;

function keyMatch(rel: CatalogRelation, key: Record<string, unknown>, param: number): string {
  if (!rel.pk.length) throw new AdminError('validation_failed', 400, `${rel.schema}.${rel.name} has no primary key: edit its rows in the SQL editor`);
  for (const k of rel.pk) if (!(k in key)) throw new AdminError('validation_failed', 400, `The row's key needs ${rel.pk.join(', ')}`);
  const cols = rel.pk.map(quoteIdent).join(', ');
  return `(${cols}) = (select ${cols} from ${populated(rel, param)})`;
}

export async function insertRow(db: Db, rel: CatalogRelation, values: Record<string, unknown>): Promise<Record<string, unknown>> {
  const names = checkColumns(rel, values).map(quoteIdent).join(', ');
  const table = quoteQualified(rel.schema, rel.name);
  const sql = names
    ? `insert into ${table} (${names}) select ${names} from ${populated(rel, 1)} returning to_jsonb(${table}.*) as r`
    : `insert into ${table} default values returning to_jsonb(${table}.*) as r`;
  const { rows } = await db.query<{ r: Record<string, unknown> }>(sql, names ? [JSON.stringify(values)] : []);
  return rows[0].r;
}

export async function updateRow(db: Db, rel: CatalogRelation, key: Record<string, unknown>, values: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  const names = checkColumns(rel, values).map(quoteIdent);
  if (!names.length) throw new AdminError('validation_failed', 400, 'Nothing to change');
  const table = quoteQualified(rel.schema, rel.name);
  const set = names.length === 1 ? `${names[0]} = (select ${names[0]} from ${populated(rel, 1)})` : `(${names.join(', ')}) = (select ${names.join(', ')} from ${populated(rel, 1)})`;
  const { rows } = await db.query<{ r: Record<string, unknown> }>(`update ${table} set ${set} where ${keyMatch(rel, key, 2)} returning to_jsonb(${table}.*) as r`, [JSON.stringify(values), JSON.stringify(key)]);
  return rows[0]?.r;
}

export async function deleteRow(db: Db, rel: CatalogRelation, key: Record<string, unknown>): Promise<boolean> {
  const { rowCount } = await db.query(`delete from ${quoteQualified(rel.schema, rel.name)} where ${keyMatch(rel, key, 1)}`, [JSON.stringify(key)]);
  return (rowCount ?? 0) > 0;
}

// -------------------------------------------------------------------------- tables, columns

/** The defaults a column may get from the editor: a fixed set of expressions, or a literal (quoted by Postgres). */
export const DEFAULT_EXPRESSIONS = { now: 'now()', gen_random_uuid: 'gen_random_uuid()', 'auth.uid': 'auth.uid()', 'auth.tenant_id': 'auth.tenant_id()', true: 'true', false: 'false' } as const;

export interface ColumnSpec {
  name: string;
  type: string;
  nullable?: boolean;
  /** A key of DEFAULT_EXPRESSIONS, `identity`, or `{ literal }`. */
  default?: string | { literal: string };
  primaryKey?: boolean;
  unique?: boolean;
  references?: { schema: string; table: string; column: string };
}

export function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !name.trim() || name.length > 63) throw new AdminError('validation_failed', 400, `${what} needs a name of 1 to 63 characters`);
  return name.trim();
}

async function columnDefinition(db: Db, c: ColumnSpec): Promise<string> {
  const name = checkName(c.name, 'A column');
  const { rows } = await db.query<{ t: string | null }>('select format_type(to_regtype($1), null) as t', [String(c.type ?? '')]).catch(() => ({ rows: [{ t: null }] }));
  const type = rows[0].t;
  if (!type) throw new AdminError('validation_failed', 400, `Unknown type ${String(c.type)} for column ${name}`);
  const parts = [quoteIdent(name), type];
  if (c.default === 'identity') parts.push('generated by default as identity');
  else if (typeof c.default === 'string' && c.default) {
    const expr = DEFAULT_EXPRESSIONS[c.default as keyof typeof DEFAULT_EXPRESSIONS];
    if (!expr) throw new AdminError('validation_failed', 400, `Unknown default ${c.default}; one of identity, ${Object.keys(DEFAULT_EXPRESSIONS).join(', ')} or { literal }`);
    parts.push(`default ${expr}`);
  } else if (c.default && typeof c.default === 'object') {
    const lit = await db.query<{ l: string }>('select format(\'%L\', $1::text) as l', [String(c.default.literal)]);
    parts.push(`default ${lit.rows[0].l}`);
  }
  if (c.nullable === false || c.primaryKey) parts.push('not null');
  if (c.primaryKey) parts.push('primary key');
  else if (c.unique) parts.push('unique');
  if (c.references) parts.push(`references ${quoteQualified(checkName(c.references.schema, 'A referenced schema'), checkName(c.references.table, 'A referenced table'))} (${quoteIdent(checkName(c.references.column, 'A referenced column'))})`);
  return parts.join(' ');
}

/** A new table; with `tenancy`, a tenant_id column and public.enable_tenant_isolation (sql/0005_tenancy.sql); else `rls` turns RLS on without policies. */
export async function createTable(db: pg.Pool, spec: { schema: string; name: string; columns: ColumnSpec[]; rls?: boolean; tenancy?: boolean }): Promise<void> {
  const schema = checkName(spec.schema, 'The schema');
  const name = checkName(spec.name, 'The table');
  if (!Array.isArray(spec.columns) || !spec.columns.length) throw new AdminError('validation_failed', 400, 'A table needs at least one column');
  const columns = [...spec.columns];
  if (spec.tenancy && !columns.some((c) => c.name === 'tenant_id')) columns.push({ name: 'tenant_id', type: 'uuid', nullable: false, default: 'auth.tenant_id', references: { schema: 'public', table: 'tenants', column: 'id' } });
  const defs: string[] = [];
  for (const c of columns) defs.push(await columnDefinition(db, c));
  const table = quoteQualified(schema, name);
  await inTransaction(db, async (tx) => {
    await tx.query(`create table ${table} (${defs.join(', ')})`);
    if (spec.tenancy) await tx.query('select public.enable_tenant_isolation($1::regclass)', [table]);
    else if (spec.rls) await tx.query(`alter table ${table} enable row level security`);
  });
}

export async function addColumn(db: Db, rel: CatalogRelation, c: ColumnSpec): Promise<void> {
  await db.query(`alter table ${quoteQualified(rel.schema, rel.name)} add column ${await columnDefinition(db, c)}`);
}

export async function dropColumn(db: Db, rel: CatalogRelation, name: string): Promise<void> {
  await db.query(`alter table ${quoteQualified(rel.schema, rel.name)} drop column ${column(rel, name)}`);
}

export async function dropTable(db: Db, rel: CatalogRelation): Promise<void> {
  await db.query(`drop ${rel.relkind === 'v' ? 'view' : rel.relkind === 'm' ? 'materialized view' : 'table'} ${quoteQualified(rel.schema, rel.name)}`);
}

// --------------------------------------------------------------------------- RLS, policies

export async function setRls(db: Db, rel: CatalogRelation, enabled: boolean): Promise<void> {
  await db.query(`alter table ${quoteQualified(rel.schema, rel.name)} ${enabled ? 'enable' : 'disable'} row level security`);
}

const COMMANDS = ['all', 'select', 'insert', 'update', 'delete'] as const;

export interface PolicySpec {
  name: string;
  command?: string;
  permissive?: boolean;
  roles?: string[];
  /** SQL boolean expressions: a policy is SQL by nature (the editor's templates fill them in). */
  using?: string;
  withCheck?: string;
}

/**
 * A policy. Its expressions are SQL written by a developer admin (who may run any SQL in the SQL
 * editor anyway); they go into one statement sent with the extended protocol, so nothing after a
 * `;` runs, and inside a transaction that turns RLS on as well.
 */
export async function createPolicy(db: pg.Pool, rel: CatalogRelation, p: PolicySpec): Promise<void> {
  const name = checkName(p.name, 'The policy');
  const command = (p.command ?? 'all').toLowerCase();
  if (!(COMMANDS as readonly string[]).includes(command)) throw new AdminError('validation_failed', 400, `command must be one of ${COMMANDS.join(', ')}`);
  const roles = (p.roles?.length ? p.roles : ['public']).map((r) => (r === 'public' ? 'public' : quoteIdent(checkName(r, 'A role'))));
  if (command === 'insert' && p.using) throw new AdminError('validation_failed', 400, 'An insert policy has only a WITH CHECK expression');
  if ((command === 'select' || command === 'delete') && p.withCheck) throw new AdminError('validation_failed', 400, `A ${command} policy has only a USING expression`);
  const sql = [
    `create policy ${quoteIdent(name)} on ${quoteQualified(rel.schema, rel.name)}`,
    `as ${p.permissive === false ? 'restrictive' : 'permissive'} for ${command} to ${roles.join(', ')}`,
    p.using ? `using (${p.using})` : '',
    p.withCheck ? `with check (${p.withCheck})` : '',
  ].join(' ');
  await inTransaction(db, async (tx) => {
    await tx.query(singleStatement(sql));
    await tx.query(`alter table ${quoteQualified(rel.schema, rel.name)} enable row level security`);
  });
}

export async function dropPolicy(db: Db, rel: CatalogRelation, name: string): Promise<void> {
  await db.query(`drop policy ${quoteIdent(checkName(name, 'The policy'))} on ${quoteQualified(rel.schema, rel.name)}`);
}

/**
 * `text` sent with the extended protocol (node-pg's queryMode, which @types/pg does not list):
 * Postgres refuses more than one statement in it, so nothing after a `;` runs.
 */
export function singleStatement(text: string, values: unknown[] = []): pg.QueryConfig {
  return { text, values, queryMode: 'extended' } as pg.QueryConfig;
}
