/**
 * Quoting of SQL identifiers, once for every module that writes SQL with a name from the catalog
 * (REST's renderer, the committed-row checks, migrations' helpers): always double-quoted, inner
 * quotes doubled. Values are never quoted by hand: they are bind parameters.
 */

/** `"name"`, quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."name"`. */
export function quoteQualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}
