/** Helpers of the REST parser tests (rest/parse/*.test.ts): AST values they expect, and the error a parse must throw. */
import { expect } from 'vitest';
import type { Field, Filter } from '../../rest/ast.ts';
import { RestError } from '../../rest/errors.ts';

export const fld = (name: string): Field => ({ name, jsonPath: [] });

export const filter = (name: string, op: Filter['op'], value: Filter['value'], extra: Partial<Filter> = {}): Filter => ({
  field: fld(name),
  negated: false,
  op,
  value,
  ...extra,
});

/** Runs `f`, asserts it throws a RestError, and returns it. */
export function parseError(f: () => unknown): RestError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(RestError);
    return err as RestError;
  }
  throw new Error('expected a parse error');
}
