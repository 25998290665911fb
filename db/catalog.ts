/**
 * What the REST engine reads from the Postgres catalog, in one statement that returns JSON:
 * relations with columns and keys, foreign keys, unique column sets, functions and type names
 * usable in casts. Schema names are bind parameters.
 */
import type pg from 'pg';

export interface CatalogType {
  schema: string;
  name: string;
  kind: string;
  /** format_type's name (integer, character varying, …). */
  display?: string;
  element?: { schema: string; name: string; kind: string } | null;
}

export interface CatalogColumn {
  name: string;
  type: CatalogType;
  nullable: boolean;
  default: string | null;
  generatedAlways: boolean;
}

export interface CatalogRelation {
  oid: number;
  schema: string;
  name: string;
  relkind: string;
  updatableBits: number;
  columns: CatalogColumn[];
  pk: string[];
  uniques: string[][];
}

export interface CatalogForeignKey {
  name: string;
  fromOid: number;
  toOid: number;
  fromColumns: string[];
  toColumns: string[];
}

/** A view column that is a plain reference to a base table column (pg_rewrite's resorigtbl/resorigcol). */
export interface CatalogViewColumn {
  viewOid: number;
  column: string;
  baseOid: number;
  baseColumn: string;
}

export interface CatalogFunction {
  schema: string;
  name: string;
  /** All arguments with mode i (in), o (out), b (inout), v (variadic), t (table). */
  args: { name: string; mode: string; type: CatalogType; hasDefault: boolean }[];
  returnType: CatalogType;
  returnsSet: boolean;
  returnRelationOid: number | null;
  volatility: string;
  /** Whether anon, authenticated or service_role may execute it. */
  executable: boolean;
  /** COMMENT ON FUNCTION (PostgREST orders same-length overloads by it). */
  description: string | null;
}

/**
 * A computed relationship (PostgREST v12+): a function of exactly one argument, the row type of
 * an exposed relation, returning rows of an exposed relation; to-one when it returns one row
 * (not SETOF, or ROWS 1). The function may live in any schema, as in PostgREST.
 */
export interface CatalogComputedRelationship {
  schema: string;
  name: string;
  fromOid: number;
  toOid: number;
  singleRow: boolean;
}

export interface Catalog {
  relations: CatalogRelation[];
  /** Foreign keys among the exposed tables and the tables exposed views select from. */
  foreignKeys: CatalogForeignKey[];
  viewColumns: CatalogViewColumn[];
  /** Primary keys of the tables exposed views select from (also outside the exposed schemas). */
  basePrimaryKeys: { oid: number; columns: string[] }[];
  functions: CatalogFunction[];
  computedRelationships: CatalogComputedRelationship[];
  types: { schema: string; name: string; kind: string }[];
  /** Enum types of the exposed schemas with their labels in order. */
  enums: { schema: string; name: string; values: string[] }[];
}

const TYPE = (t: string) => `json_build_object('schema', ${t}n.nspname, 'name', ${t}.typname, 'kind', ${t}.typtype, 'display', format_type(${t}.oid, null),
  'element', (select json_build_object('schema', en.nspname, 'name', e.typname, 'kind', e.typtype)
              from pg_type e join pg_namespace en on en.oid = e.typnamespace
              where e.oid = ${t}.typelem and ${t}.typlen = -1 and ${t}.typcategory = 'A'))`;

const QUERY = `
with rels as (
  select c.oid, c.reltype, n.nspname, c.relname, c.relkind
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = any($1::text[]) and c.relkind in ('r','p','v','m','f') and not c.relispartition
),
-- Each view column traced to the table column it shows, as PostgREST does: the target entries of
-- the view's query carry resorigtbl/resorigcol. Entries of subqueries come first in the rule's
-- text, so the last entry with the column's number and name is the view's own.
view_cols as (
  select distinct on (r.oid, a.attnum) r.oid as view_oid, a.attname as col, e.tbl as base_oid, ba.attname as base_col
  from rels r
  join pg_rewrite rw on rw.ev_class = r.oid and rw.rulename = '_RETURN'
  cross join lateral (
    select m[1]::int as resno, regexp_replace(m[2], '\\\\(.)', '\\1', 'g') as resname, m[3]::oid as tbl, m[4]::int as colno, ord
    from regexp_matches(rw.ev_action::text, ':resno (\\d+) :resname ((?:[^ \\\\]|\\\\.)+) :ressortgroupref \\d+ :resorigtbl (\\d+) :resorigcol (\\d+)', 'g')
      with ordinality as t(m, ord)) e
  join pg_attribute a on a.attrelid = r.oid and a.attnum = e.resno and a.attname = e.resname
  join pg_attribute ba on ba.attrelid = e.tbl and ba.attnum = e.colno and not ba.attisdropped
  where r.relkind in ('v', 'm') and e.tbl <> 0
  order by r.oid, a.attnum, e.ord desc
),
keyed as (
  select oid from rels union select base_oid from view_cols
)
select json_build_object(
  'relations', coalesce((
    select json_agg(json_build_object(
      'oid', r.oid, 'schema', r.nspname, 'name', r.relname, 'relkind', r.relkind,
      'updatableBits', case when r.relkind in ('r','p') then 28 else pg_relation_is_updatable(r.oid, false) end,
      'columns', coalesce((
        select json_agg(json_build_object(
          'name', a.attname,
          'type', ${TYPE('t')},
          'nullable', not a.attnotnull,
          'default', case
            when a.attidentity <> '' then format('nextval(%L::regclass)', pg_get_serial_sequence(format('%I.%I', r.nspname, r.relname), a.attname))
            when a.attgenerated <> '' then null
            when d.adbin is null and t.typtype = 'd' then pg_get_expr(t.typdefaultbin, 0)
            else pg_get_expr(d.adbin, d.adrelid) end,
          'generatedAlways', a.attidentity = 'a' or a.attgenerated <> ''
        ) order by a.attnum)
        from pg_attribute a
        join pg_type t on t.oid = a.atttypid
        join pg_namespace tn on tn.oid = t.typnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped), '[]'),
      'pk', coalesce((
        select json_agg(a.attname order by a.attname)
        from pg_constraint k join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any(k.conkey)
        where k.conrelid = r.oid and k.contype = 'p'), '[]'),
      'uniques', coalesce((
        select json_agg(cols) from (
          select array_agg(a.attname order by a.attname) as cols
          from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
          where i.indrelid = r.oid and i.indisunique and i.indpred is null and 0 <> all(i.indkey)
          group by i.indexrelid) u), '[]')
    ) order by r.nspname, r.relname) from rels r), '[]'),
  'foreignKeys', coalesce((
    select json_agg(json_build_object(
      'name', k.conname, 'fromOid', k.conrelid, 'toOid', k.confrelid,
      'fromColumns', (select json_agg(a.attname order by x.i) from unnest(k.conkey) with ordinality x(n, i)
                      join pg_attribute a on a.attrelid = k.conrelid and a.attnum = x.n),
      'toColumns', (select json_agg(a.attname order by x.i) from unnest(k.confkey) with ordinality x(n, i)
                    join pg_attribute a on a.attrelid = k.confrelid and a.attnum = x.n))
      -- In creation order, whatever the catalog's physical order (another migration moves rows):
      -- the order of ambiguous relationships in a PGRST201 answer follows it.
      order by k.oid)
    from pg_constraint k
    where k.contype = 'f' and k.conrelid in (select oid from keyed) and k.confrelid in (select oid from keyed)
      and k.conparentid = 0), '[]'),
  'viewColumns', coalesce((
    select json_agg(json_build_object('viewOid', v.view_oid, 'column', v.col, 'baseOid', v.base_oid, 'baseColumn', v.base_col)) from view_cols v), '[]'),
  'basePrimaryKeys', coalesce((
    select json_agg(json_build_object('oid', k.conrelid,
      'columns', (select json_agg(a.attname order by a.attname) from pg_attribute a where a.attrelid = k.conrelid and a.attnum = any(k.conkey))))
    from pg_constraint k where k.contype = 'p' and k.conrelid in (select base_oid from view_cols)), '[]'),
  'functions', coalesce((
    select json_agg(json_build_object(
      'schema', n.nspname, 'name', p.proname,
      'args', coalesce((
        select json_agg(json_build_object(
          'name', coalesce(p.proargnames[x.i], ''),
          'mode', coalesce(p.proargmodes[x.i], 'i'),
          'type', ${TYPE('t')},
          'hasDefault', x.i > p.pronargs - p.pronargdefaults and coalesce(p.proargmodes[x.i], 'i') in ('i', 'v')
        ) order by x.i)
        from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality x(typ, i)
        join pg_type t on t.oid = x.typ join pg_namespace tn on tn.oid = t.typnamespace), '[]'),
      'returnType', (select ${TYPE('t')} from pg_type t join pg_namespace tn on tn.oid = t.typnamespace where t.oid = p.prorettype),
      'returnsSet', p.proretset,
      'returnRelationOid', (select t.typrelid from pg_type t where t.oid = p.prorettype and t.typrelid <> 0),
      'volatility', p.provolatile,
      'executable', has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute')
        or has_function_privilege('service_role', p.oid, 'execute'),
      'description', obj_description(p.oid, 'pg_proc'))
    order by n.nspname, p.proname, p.pronargs)
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = any($1::text[]) and p.prokind = 'f' and p.prorettype <> 'pg_catalog.trigger'::regtype
      and p.prorettype <> 'pg_catalog.event_trigger'::regtype), '[]'),
  'computedRelationships', coalesce((
    select json_agg(json_build_object('schema', n.nspname, 'name', p.proname, 'fromOid', a.oid, 'toOid', r.oid,
      'singleRow', not p.proretset or p.prorows = 1) order by n.nspname, p.proname)
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    join rels a on a.reltype = p.proargtypes[0]
    join rels r on r.reltype = p.prorettype
    where p.pronargs = 1 and p.prokind = 'f'), '[]'),
  'types', (
    select json_agg(json_build_object('schema', n.nspname, 'name', t.typname, 'kind', t.typtype))
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where (n.nspname = any($1::text[]) or n.nspname in ('pg_catalog', 'extensions', 'public'))
      and t.typtype in ('b', 'c', 'd', 'e', 'r', 'm') and (t.typrelid = 0 or t.typtype = 'c')),
  'enums', coalesce((
    select json_agg(json_build_object('schema', n.nspname, 'name', t.typname,
      'values', (select json_agg(e.enumlabel order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid))
      order by n.nspname, t.typname)
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = any($1::text[]) and t.typtype = 'e'), '[]')
) as catalog`;

export async function loadCatalog(client: pg.ClientBase | pg.Pool, schemas: string[]): Promise<Catalog> {
  const { rows } = await client.query<{ catalog: Catalog }>(QUERY, [schemas]);
  return rows[0].catalog;
}
