/** Test helpers: AST values the parser tests expect. */
import type { Field, Filter } from '../ast.ts';

export const fld = (name: string): Field => ({ name, jsonPath: [] });

export const filter = (name: string, op: Filter['op'], value: Filter['value'], extra: Partial<Filter> = {}): Filter => ({
  field: fld(name),
  negated: false,
  op,
  value,
  ...extra,
});
