/**
 * Which relationship `origin?select=target!hint(...)` embeds, PostgREST v13 style (§1.9):
 * by target table name, FK constraint name or FK column name, narrowed by a hint; no match is
 * PGRST200 (with a "perhaps you meant" suggestion), several are PGRST201 (300).
 */
import { ERRORS } from './errors.ts';
import type { EmbedItem } from './ast.ts';
import type { Relation, Relationship, RestModel } from './model.ts';

const isView = (r: Relation) => r.kind === 'view' || r.kind === 'materialized_view';

function fkColumnsOnFromSide(r: Relationship): string[] {
  return r.cardinality === 'many-to-many' ? [] : r.fromColumns;
}

function matchesTarget(r: Relationship, target: string): boolean {
  if (r.to.name === target) return true;
  if (isView(r.to)) return false;
  if (r.cardinality !== 'many-to-many' && r.constraint === target) return true;
  const cols = fkColumnsOnFromSide(r);
  return r.cardinality !== 'one-to-many' && cols.length === 1 && cols[0] === target;
}

function matchesHint(r: Relationship, hint: string): boolean {
  if (r.junction) return r.junction.relation.name === hint || r.junction.fromConstraint === hint || r.junction.toConstraint === hint;
  if (r.constraint === hint) return true;
  return (r.fromColumns.length === 1 && r.fromColumns[0] === hint) || (r.toColumns.length === 1 && r.toColumns[0] === hint);
}

function describe(r: Relationship): Record<string, string> {
  const relationship = r.junction
    ? `${r.junction.relation.name} using ${r.junction.fromConstraint}(${r.junction.junctionFromColumns.join(', ')}) and ${r.junction.toConstraint}(${r.junction.junctionToColumns.join(', ')})`
    : `${r.constraint} using ${r.from.name}(${r.fromColumns.join(', ')}) and ${r.to.name}(${r.toColumns.join(', ')})`;
  return { cardinality: r.cardinality, embedding: `${r.from.name} with ${r.to.name}`, relationship };
}

/** Levenshtein distance, for "Perhaps you meant" hints. */
export function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** Character n-grams of a name as FuzzySet counts them: lower-cased, only letters/digits/commas/spaces, padded with `-`. */
function grams(value: string, size: number): Map<string, number> {
  const simplified = `-${value.toLowerCase().replace(/[^a-z0-9\u00c0-\u00ff, ]+/g, '')}-`;
  const padded = simplified.length < size ? simplified + '-'.repeat(size - simplified.length) : simplified;
  const out = new Map<string, number>();
  for (let i = 0; i + size <= padded.length; i++) out.set(padded.slice(i, i + size), (out.get(padded.slice(i, i + size)) ?? 0) + 1);
  return out;
}

const norm = (g: Map<string, number>) => Math.sqrt([...g.values()].reduce((a, n) => a + n * n, 0));

/**
 * The closest of `names` to `name`, chosen as PostgREST chooses its "Perhaps you meant" hints (a
 * FuzzySet: cosine similarity of 3-grams, else 2-grams, the best 50 rescored by Levenshtein
 * distance, a score of at least 0.33).
 */
export function suggest(name: string, names: Iterable<string>): string | undefined {
  const candidates = [...new Set(names)];
  const simple = (v: string) => v.toLowerCase().replace(/[^a-z0-9\u00c0-\u00ff, ]+/g, '');
  for (const size of [3, 2]) {
    const mine = grams(name, size);
    const scored = candidates
      .map((c) => {
        const theirs = grams(c, size);
        let dot = 0;
        for (const [g, n] of mine) dot += n * (theirs.get(g) ?? 0);
        return { c, score: dot / (norm(mine) * norm(theirs)) };
      })
      .filter((x) => x.score > 0)
      .sort((a, b) => b.score - a.score)
      .slice(0, 50)
      .map(({ c }) => {
        const a = simple(name);
        const b = simple(c);
        return { c, score: 1 - distance(a, b) / Math.max(a.length, b.length, 1) };
      })
      .filter((x) => x.score >= 0.33)
      .sort((a, b) => b.score - a.score);
    if (scored.length) return scored[0].c;
  }
  return undefined;
}

export function resolveRelationship(model: RestModel, from: Relation, item: EmbedItem): Relationship {
  const all = model.relationshipsFrom(from);
  let found = all.filter((r) => matchesTarget(r, item.name));
  if (item.hint !== undefined) found = found.filter((r) => r.to.name === item.name && matchesHint(r, item.hint!));
  if (found.length === 1) return found[0];
  if (found.length === 0) {
    const suggestion = suggest(item.name, new Set(all.map((r) => r.to.name)));
    throw ERRORS.noRelationship(from.name, item.name, from.schema, item.hint, suggestion);
  }
  // Self-reference by table name: the table's children (one-to-many) is what "table(*)" means.
  if (item.hint === undefined && item.name === from.name) {
    const o2m = found.filter((r) => r.cardinality === 'one-to-many');
    if (o2m.length === 1) return o2m[0];
  }
  const options = found.map((r) => `${item.name}!${r.junction ? r.junction.relation.name : r.constraint}`);
  throw ERRORS.ambiguousRelationship(from.name, item.name, found.map(describe), options);
}

export const isToOne = (r: Relationship) => r.cardinality === 'many-to-one' || r.cardinality === 'one-to-one';
