/**
 * SQL text helpers for the REST engine. Identifiers are always quoted and come from the model
 * (schema cache); values are always bind parameters collected in `Params`.
 */
import { quoteIdent } from '../db/identifiers.ts';
import { ERRORS } from './errors.ts';
import type { TypeRef } from './model.ts';

/**
 * A quoted identifier. Postgres has no empty identifier (`""` is a syntax error), so an empty
 * name — a JSON key used as an output name, an unnamed argument — is refused here, as the client's
 * 400, before it can reach the SQL text.
 */
export function ident(name: string): string {
  if (name === '') throw ERRORS.emptyName();
  return quoteIdent(name);
}

export function qualified(schema: string, name: string): string {
  return `${ident(schema)}.${ident(name)}`;
}

export function typeSql(t: TypeRef): string {
  return qualified(t.schema, t.name);
}

/** Bind parameters of one statement; `add` returns the placeholder (`$n`). */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** A Postgres array literal (`{"a","b\"c"}`) from text items, every item quoted. */
export function arrayLiteral(items: readonly string[]): string {
  return `{${items.map((i) => `"${i.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}
