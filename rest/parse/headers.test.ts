import { describe, expect, it } from 'vitest';
import { RestError } from '../errors.ts';
import { parseAccept, parseInteger, parsePrefer, parseRange } from './headers.ts';

describe('parsePrefer (§2.1)', () => {
  it('nothing → no preferences', () => {
    expect(parsePrefer(undefined)).toEqual({ invalid: [] });
    expect(parsePrefer('')).toEqual({ invalid: [] });
    expect(parsePrefer([])).toEqual({ invalid: [] });
  });

  it('every understood preference', () => {
    expect(parsePrefer('return=minimal').return).toBe('minimal');
    expect(parsePrefer('return=headers-only').return).toBe('headers-only');
    expect(parsePrefer('return=representation').return).toBe('representation');
    expect(parsePrefer('count=exact').count).toBe('exact');
    expect(parsePrefer('count=planned').count).toBe('planned');
    expect(parsePrefer('count=estimated').count).toBe('estimated');
    expect(parsePrefer('resolution=merge-duplicates').resolution).toBe('merge-duplicates');
    expect(parsePrefer('resolution=ignore-duplicates').resolution).toBe('ignore-duplicates');
    expect(parsePrefer('missing=default').missing).toBe('default');
    expect(parsePrefer('missing=null').missing).toBe('null');
    expect(parsePrefer('handling=strict').handling).toBe('strict');
    expect(parsePrefer('handling=lenient').handling).toBe('lenient');
    expect(parsePrefer('tx=commit').tx).toBe('commit');
    expect(parsePrefer('tx=rollback').tx).toBe('rollback');
    expect(parsePrefer('timezone=America/Los_Angeles').timezone).toBe('America/Los_Angeles');
    expect(parsePrefer('max-affected=10').maxAffected).toBe(10);
  });

  it('splits on commas across headers, trims, first occurrence wins', () => {
    expect(parsePrefer('count=exact, return=representation')).toEqual({ count: 'exact', return: 'representation', invalid: [] });
    expect(parsePrefer(['resolution=ignore-duplicates', 'resolution=merge-duplicates']).resolution).toBe('ignore-duplicates');
    expect(parsePrefer('tx=commit, tx=rollback').tx).toBe('commit');
    expect(parsePrefer('count=exact,    tx=commit   ,return=representation , missing=default, handling=strict, anything')).toEqual({
      count: 'exact',
      tx: 'commit',
      return: 'representation',
      missing: 'default',
      handling: 'strict',
      invalid: ['anything'],
    });
    expect(parsePrefer(['handling=strict', 'max-affected=5999', 'max-affected=1'])).toEqual({ handling: 'strict', maxAffected: 5999, invalid: [] });
    expect(parsePrefer('timezone=UTC, timezone=Europe/Paris').timezone).toBe('UTC');
  });

  it('collects what is not understood, in order (PGRST122 under handling=strict)', () => {
    expect(parsePrefer('handling=strict, anything').invalid).toEqual(['anything']);
    expect(parsePrefer('count=none').invalid).toEqual(['count=none']);
    expect(parsePrefer('count=none').count).toBeUndefined();
    expect(parsePrefer('Return=minimal, params=single-object, a, b').invalid).toEqual(['Return=minimal', 'params=single-object', 'a', 'b']);
    expect(parsePrefer('a,,b, ,').invalid).toEqual(['a', 'b']);
  });

  it('max-affected is never invalid but only set for integers', () => {
    expect(parsePrefer('max-affected=abc')).toEqual({ invalid: [] });
    expect(parsePrefer('max-affected=abc, max-affected=5')).toEqual({ invalid: [] });
    expect(parsePrefer('max-affected=-3').maxAffected).toBe(-3);
    expect(parsePrefer('max-affected=1e3').maxAffected).toBeUndefined();
  });

  it('what postgrest-js sends', () => {
    expect(parsePrefer('count=exact,return=minimal')).toEqual({ count: 'exact', return: 'minimal', invalid: [] });
    expect(parsePrefer('resolution=ignore-duplicates, return=representation')).toEqual({ resolution: 'ignore-duplicates', return: 'representation', invalid: [] });
    expect(parsePrefer('return=representation, tx=rollback')).toEqual({ return: 'representation', tx: 'rollback', invalid: [] });
    expect(parsePrefer('handling=strict, max-affected=10')).toEqual({ handling: 'strict', maxAffected: 10, invalid: [] });
  });
});

describe('parseAccept (§2.3)', () => {
  it('missing or blank → */*', () => {
    expect(parseAccept(undefined)).toEqual([{ type: '*/*', params: {}, q: 1 }]);
    expect(parseAccept('')).toEqual([{ type: '*/*', params: {}, q: 1 }]);
    expect(parseAccept(' , ')).toEqual([{ type: '*/*', params: {}, q: 1 }]);
  });

  it('lower-cases types, keeps params (names lower-cased, values unquoted)', () => {
    expect(parseAccept('Application/JSON')).toEqual([{ type: 'application/json', params: {}, q: 1 }]);
    expect(parseAccept('text/csv; version=1')).toEqual([{ type: 'text/csv', params: { version: '1' }, q: 1 }]);
    expect(parseAccept('application/vnd.pgrst.object+json;nulls=stripped')).toEqual([
      { type: 'application/vnd.pgrst.object+json', params: { nulls: 'stripped' }, q: 1 },
    ]);
    expect(parseAccept('application/vnd.pgrst.plan+json; for="application/json"; options=analyze|verbose;')).toEqual([
      { type: 'application/vnd.pgrst.plan+json', params: { for: 'application/json', options: 'analyze|verbose' }, q: 1 },
    ]);
    expect(parseAccept('application/vnd.pgrst.plan+text; for="text/csv"; options=;')).toEqual([
      { type: 'application/vnd.pgrst.plan+text', params: { for: 'text/csv', options: '' }, q: 1 },
    ]);
    expect(parseAccept('a/b; X=1; x=2; flag')).toEqual([{ type: 'a/b', params: { x: '1', flag: '' }, q: 1 }]);
  });

  it('sorts by q, then specificity, otherwise keeps the order given', () => {
    expect(parseAccept('text/unknowntype, */*').map((m) => m.type)).toEqual(['text/unknowntype', '*/*']);
    expect(parseAccept('*/*, text/unknowntype').map((m) => m.type)).toEqual(['text/unknowntype', '*/*']);
    expect(parseAccept('text/csv, application/json').map((m) => m.type)).toEqual(['text/csv', 'application/json']);
    expect(parseAccept('text/csv;q=0.5, application/json').map((m) => [m.type, m.q])).toEqual([
      ['application/json', 1],
      ['text/csv', 0.5],
    ]);
    expect(parseAccept('a/a;q=0.1, b/b;q=0.9, c/c;q=0.5').map((m) => m.type)).toEqual(['b/b', 'c/c', 'a/a']);
    expect(parseAccept('application/json, application/vnd.pgrst.object+json;nulls=stripped').map((m) => m.type)).toEqual([
      'application/vnd.pgrst.object+json',
      'application/json',
    ]);
  });

  it('q-values parse leniently like Haskell reads (garbage → 1)', () => {
    expect(parseAccept('a/b;q=0').map((m) => m.q)).toEqual([0]);
    expect(parseAccept('a/b;q=.5').map((m) => m.q)).toEqual([1]);
    expect(parseAccept('a/b;q=0.25xyz').map((m) => m.q)).toEqual([0.25]);
    expect(parseAccept('a/b;q=1e-1').map((m) => m.q)).toEqual([0.1]);
    expect(parseAccept('a/b;q=x').map((m) => m.q)).toEqual([1]);
  });
});

describe('parseRange (§2.2)', () => {
  it('first-last and open ranges', () => {
    expect(parseRange('0-1')).toEqual({ first: 0, last: 1 });
    expect(parseRange('10-100')).toEqual({ first: 10, last: 100 });
    expect(parseRange('5-')).toEqual({ first: 5 });
    expect(parseRange('3-3')).toEqual({ first: 3, last: 3 });
    expect(parseRange(' 0-24 ')).toEqual({ first: 0, last: 24 });
  });

  it('anything else is ignored', () => {
    for (const h of [undefined, '', 'items=0-1', '-5', '1', 'a-b', '1-2-3', '0 - 1', '1-2,3-4', '-']) expect(parseRange(h)).toBeUndefined();
  });

  it('last < first → 416 PGRST103', () => {
    let err: unknown;
    try {
      parseRange('1-0');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RestError);
    expect((err as RestError).status).toBe(416);
    expect((err as RestError).body).toEqual({
      code: 'PGRST103',
      details: 'The lower boundary must be lower than or equal to the upper boundary in the Range header.',
      hint: null,
      message: 'Requested range not satisfiable',
    });
    expect(() => parseRange('100000000000000000001-100000000000000000000')).toThrow(RestError);
  });

  it('clamps huge numbers', () => {
    expect(parseRange('0-99999999999999999999')).toEqual({ first: 0, last: Number.MAX_SAFE_INTEGER });
  });
});

describe('parseInteger', () => {
  it('accepts -?digits with surrounding whitespace only', () => {
    expect(parseInteger('5')).toBe(5);
    expect(parseInteger(' 42 ')).toBe(42);
    expect(parseInteger('-4')).toBe(-4);
    expect(parseInteger('-0')).toBe(0);
    expect(Object.is(parseInteger('-0'), 0)).toBe(true);
    for (const s of ['', '-', '+5', '5.0', '1e3', 'abc', '0x10', '5 5']) expect(parseInteger(s)).toBeUndefined();
    expect(parseInteger('9'.repeat(400))).toBe(Number.MAX_SAFE_INTEGER);
  });
});
