/** Test helper: runs `f`, asserts it throws a RestError, and returns it. */
import { expect } from 'vitest';
import { RestError } from '../errors.ts';

export function parseError(f: () => unknown): RestError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(RestError);
    return err as RestError;
  }
  throw new Error('expected a parse error');
}
