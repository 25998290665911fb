import { describe, expect, it } from 'vitest';
import type { OrderTerm } from '../ast.ts';
import { RestError } from '../errors.ts';
import { parseOrder } from './order.ts';

function expectOrderError(input: string, column?: number, details?: string): void {
  let err: unknown;
  try {
    parseOrder(input);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(RestError);
  const e = err as RestError;
  expect(e.status).toBe(400);
  expect(e.code).toBe('PGRST100');
  if (column !== undefined) expect(e.message).toBe(`"failed to parse order (${input})" (line 1, column ${column})`);
  if (details !== undefined) expect(e.details).toBe(details);
}

const term = (name: string, extra: Partial<OrderTerm> = {}): OrderTerm => ({ field: { name, jsonPath: [] }, ...extra });

describe('parseOrder (§1.7)', () => {
  it('columns with optional direction and nulls order', () => {
    expect(parseOrder('id')).toEqual([term('id')]);
    expect(parseOrder('id.asc')).toEqual([term('id', { direction: 'asc' })]);
    expect(parseOrder('id.desc')).toEqual([term('id', { direction: 'desc' })]);
    expect(parseOrder('a.nullsfirst')).toEqual([term('a', { nulls: 'first' })]);
    expect(parseOrder('a.nullslast')).toEqual([term('a', { nulls: 'last' })]);
    expect(parseOrder('a.desc.nullslast')).toEqual([term('a', { direction: 'desc', nulls: 'last' })]);
    expect(parseOrder('name.desc.nullsfirst')).toEqual([term('name', { direction: 'desc', nulls: 'first' })]);
  });

  it('several terms, whitespace tolerated', () => {
    expect(parseOrder('client_id.desc.nullslast,id.desc')).toEqual([term('client_id', { direction: 'desc', nulls: 'last' }), term('id', { direction: 'desc' })]);
    expect(parseOrder(' a , b.asc ')).toEqual([term('a'), term('b', { direction: 'asc' })]);
  });

  it('JSON paths (an index before . is an index)', () => {
    expect(parseOrder('data->>id.asc')).toEqual([{ field: { name: 'data', jsonPath: [{ arrow: '->>', key: 'id' }] }, direction: 'asc' }]);
    expect(parseOrder('json_col->key.asc.nullslast')).toEqual([{ field: { name: 'json_col', jsonPath: [{ arrow: '->', key: 'key' }] }, direction: 'asc', nulls: 'last' }]);
    expect(parseOrder('data->0.desc,data->>-1')).toEqual([
      { field: { name: 'data', jsonPath: [{ arrow: '->', key: 0 }] }, direction: 'desc' },
      { field: { name: 'data', jsonPath: [{ arrow: '->>', key: -1 }] } },
    ]);
    expect(parseOrder('json_col->!@#$%^&*_a.asc')).toEqual([{ field: { name: 'json_col', jsonPath: [{ arrow: '->', key: '!@#$%^&*_a' }] }, direction: 'asc' }]);
  });

  it('related orders on embeds', () => {
    expect(parseOrder('clients(name).desc')).toEqual([term('name', { relation: 'clients', direction: 'desc' })]);
    expect(parseOrder('clients(json_col->key).desc.nullsfirst')).toEqual([
      { field: { name: 'json_col', jsonPath: [{ arrow: '->', key: 'key' }] }, relation: 'clients', direction: 'desc', nulls: 'first' },
    ]);
    expect(parseOrder('name,clients(name),id')).toEqual([term('name'), term('name', { relation: 'clients' }), term('id')]);
    expect(parseOrder('clients( name ).nullslast')).toEqual([term('name', { relation: 'clients', nulls: 'last' })]);
  });

  it('quoted and unusual names', () => {
    expect(parseOrder('"a.b".desc')).toEqual([term('a.b', { direction: 'desc' })]);
    expect(parseOrder('Just A Server Model.asc')).toEqual([term('Just A Server Model', { direction: 'asc' })]);
    expect(parseOrder('field-with_sep')).toEqual([term('field-with_sep')]);
  });

  it('errors with Parsec-like columns', () => {
    expectOrderError('id.asc.nullslasttt', 17, `unexpected 't' expecting "," or end of input`);
    expectOrderError('id.nullslasttt', 13, `unexpected 't' expecting "," or end of input`);
    expectOrderError('id.descc', 8, `unexpected 'c' expecting delimiter (.), "," or end of input`);
    expectOrderError('id.ac', 4);
    expectOrderError('id.nulsfist', 4);
    expectOrderError('id.smth34', 4, 'unexpected "s" expecting "asc", "desc", "nullsfirst" or "nullslast"');
    expectOrderError('id.asc.nlsfst', 8, 'unexpected "n" expecting "nullsfirst" or "nullslast"');
    expectOrderError('id.asc.smth34', 8);
    expectOrderError('clients(name,id)', 13);
    expectOrderError('');
    expectOrderError('id,');
    expectOrderError(',id');
    expectOrderError('id.asc.desc');
    expectOrderError('id.nullsfirst.asc');
    expectOrderError('clients(name');
    expectOrderError('clients()');
    expectOrderError('id..asc');
    expect(() => parseOrder('ASC')).not.toThrow();
  });
});
