/**
 * `nextmavens gen types [schemas]`: TypeScript types of the database in the shape
 * `supabase gen types typescript` prints, so `createClient<Database>(url, key)` type-checks
 * queries. Built from the same catalog the REST engine serves.
 */
import pg from 'pg';
import { loadCatalog, type Catalog, type CatalogType } from '../db/catalog.ts';
import { buildRestModel } from '../rest/model-build.ts';
import type { Column, Relation, RestModel } from '../rest/model.ts';

const NUMBER = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'oid', 'money']);
const STRING = new Set(['text', 'varchar', 'bpchar', 'char', 'name', 'uuid', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval', 'bytea', 'inet', 'cidr', 'macaddr', 'citext', 'tsvector', 'tsquery', 'xml', 'bit', 'varbit']);

function quoteKey(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
}

function tsType(t: { schema: string; name: string; kind: string; element?: { schema: string; name: string; kind: string } | null }, enums: Map<string, string[]>): string {
  if (t.element) return `${tsType(t.element, enums)}[]`;
  if (t.kind === 'e') {
    const values = enums.get(`${t.schema}.${t.name}`);
    return values ? `Database[${JSON.stringify(t.schema)}]["Enums"][${JSON.stringify(t.name)}]` : 'string';
  }
  if (NUMBER.has(t.name)) return 'number';
  if (t.name === 'bool') return 'boolean';
  if (t.name === 'json' || t.name === 'jsonb') return 'Json';
  if (STRING.has(t.name)) return 'string';
  return 'unknown';
}

function columnLines(rel: Relation, enums: Map<string, string[]>, mode: 'Row' | 'Insert' | 'Update'): string[] {
  return rel.columns.map((c: Column) => {
    const base = tsType(c.type, enums);
    const type = c.nullable ? `${base} | null` : base;
    if (mode === 'Row') return `${quoteKey(c.name)}: ${type}`;
    if (c.generatedAlways) return `${quoteKey(c.name)}?: never`;
    const optional = mode === 'Update' || c.nullable || c.defaultExpr !== undefined;
    return `${quoteKey(c.name)}${optional ? '?' : ''}: ${type}`;
  });
}

function relationshipLines(model: RestModel, rel: Relation): string[] {
  return model
    .relationshipsFrom(rel)
    .filter((r) => !r.inverse && (r.cardinality === 'many-to-one' || r.cardinality === 'one-to-one'))
    .map(
      (r) =>
        `{ foreignKeyName: ${JSON.stringify(r.constraint)}; columns: ${JSON.stringify(r.fromColumns)}; isOneToOne: ${r.cardinality === 'one-to-one'}; referencedRelation: ${JSON.stringify(r.to.name)}; referencedColumns: ${JSON.stringify(r.toColumns)} }`,
    );
}

const block = (indent: string, lines: string[]) => (lines.length ? `{\n${lines.map((l) => `${indent}  ${l}`).join('\n')}\n${indent}}` : '{}');

export function generateTypes(catalog: Catalog, schemas: string[]): string {
  const model = buildRestModel(catalog, schemas);
  const enums = new Map(catalog.enums.map((e) => [`${e.schema}.${e.name}`, e.values]));
  const out: string[] = [
    'export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[]',
    '',
    'export type Database = {',
  ];
  for (const schema of schemas) {
    const rels = model.relations(schema);
    const tables = rels.filter((r) => r.kind === 'table' || r.kind === 'partitioned_table' || r.kind === 'foreign_table');
    const views = rels.filter((r) => r.kind === 'view' || r.kind === 'materialized_view');
    const relBlock = (r: Relation) =>
      [
        `${quoteKey(r.name)}: {`,
        `  Row: ${block('        ', columnLines(r, enums, 'Row'))}`,
        ...(r.kind === 'view' || r.kind === 'materialized_view'
          ? []
          : [`  Insert: ${block('        ', columnLines(r, enums, 'Insert'))}`, `  Update: ${block('        ', columnLines(r, enums, 'Update'))}`]),
        `  Relationships: [${relationshipLines(model, r).join(', ')}]`,
        '}',
      ].map((l) => `      ${l}`);
    const fnLines: string[] = [];
    const byName = new Map<string, ReturnType<RestModel['allFunctions']>>();
    // Functions no API role may execute (the stack's migration helpers, your own internal ones) are no API.
    for (const f of model.allFunctions(schema).filter((fn) => fn.executable)) (byName.get(f.name) ?? byName.set(f.name, []).get(f.name)!).push(f);
    for (const [name, fns] of byName) {
      const variants = fns.map((f) => {
        const args = f.args.filter((a) => a.name).map((a) => `${quoteKey(a.name)}${a.hasDefault ? '?' : ''}: ${tsType(a.type, enums)}`);
        let ret: string;
        if (f.returnKind === 'void') ret = 'undefined';
        else if (f.returnRelation) {
          const cols = f.returnRelation.columns.map((c) => `${quoteKey(c.name)}: ${tsType(c.type, enums)}${c.nullable ? ' | null' : ''}`);
          ret = `{ ${cols.join('; ')} }${f.returnsSet ? '[]' : ''}`;
        } else ret = `${tsType(f.returnType as CatalogType, enums)}${f.returnsSet ? '[]' : ''}`;
        return `{ Args: ${args.length ? `{ ${args.join('; ')} }` : 'never'}; Returns: ${ret} }`;
      });
      fnLines.push(`      ${quoteKey(name)}: ${variants.join(' | ')}`);
    }
    const enumLines = catalog.enums.filter((e) => e.schema === schema).map((e) => `      ${quoteKey(e.name)}: ${e.values.map((v) => JSON.stringify(v)).join(' | ')}`);
    out.push(
      `  ${quoteKey(schema)}: {`,
      `    Tables: {\n${tables.flatMap(relBlock).join('\n')}\n    }`,
      `    Views: {\n${views.flatMap(relBlock).join('\n')}\n    }`,
      `    Functions: {\n${fnLines.join('\n')}\n    }`,
      `    Enums: {\n${enumLines.join('\n')}\n    }`,
      '    CompositeTypes: { [_ in never]: never }',
      '  }',
    );
  }
  out.push('}', '', HELPERS);
  return out.join('\n') + '\n';
}

const HELPERS = `type DefaultSchema = Database[Extract<keyof Database, "public">]

export type Tables<T extends keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])> =
  (DefaultSchema["Tables"] & DefaultSchema["Views"])[T] extends { Row: infer R } ? R : never

export type TablesInsert<T extends keyof DefaultSchema["Tables"]> =
  DefaultSchema["Tables"][T] extends { Insert: infer I } ? I : never

export type TablesUpdate<T extends keyof DefaultSchema["Tables"]> =
  DefaultSchema["Tables"][T] extends { Update: infer U } ? U : never

export type Enums<T extends keyof DefaultSchema["Enums"]> = DefaultSchema["Enums"][T]`;

export async function generateTypesFromDatabase(url: string, schemas: string[]): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return generateTypes(await loadCatalog(client, schemas), schemas);
  } finally {
    await client.end();
  }
}
