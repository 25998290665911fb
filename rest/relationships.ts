/**
 * Which relationship `origin?select=target!hint(...)` embeds, PostgREST v13 style (§1.9):
 * by target table name, FK constraint name or FK column name, narrowed by a hint; no match is
 * PGRST200 (with a "perhaps you meant" suggestion), several are PGRST201 (300).
 */
import { ERRORS } from './errors.ts';
import type { EmbedItem } from './ast.ts';
import type { Relation, Relationship, RestModel } from './model.ts';

const isView = (r: Relation) => r.kind === 'view' || r.kind === 'materialized_view';

/** Both ends are the same relation: a self-referencing foreign key (PostgREST's relIsSelf). */
const isSelf = (r: Relationship) => !r.computed && r.from === r.to;

/** PostgREST's relColumns of a relationship with one column pair: [origin column, target column]. */
function singlePair(r: Relationship): [string, string] | undefined {
  return !r.junction && !r.computed && r.fromColumns.length === 1 ? [r.fromColumns[0], r.toColumns[0]] : undefined;
}

/**
 * Whether `target!hint` names this relationship, exactly as PostgREST v13's findRel decides:
 * - a computed relationship by its function's name (a hint does not apply);
 * - a self-referencing foreign key: the table's name means its children (one-to-many), the
 *   foreign key column's name its parent (many-to-one); with a hint, the table's name and the
 *   children's foreign key column (`collections!parent_id`) — a constraint name does not
 *   disambiguate a self-reference;
 * - otherwise the target table or view, or (not for views) the constraint or the origin's
 *   foreign key column; a hint narrows a target table by constraint, by a column of either
 *   side, or by the junction table of a many-to-many.
 */
function matches(r: Relationship, target: string, hint: string | undefined): boolean {
  if (r.computed) return target === r.computed.name;
  const pair = singlePair(r);
  const o2m = r.cardinality === 'one-to-many';
  const m2o = r.cardinality === 'many-to-one';
  if (isSelf(r)) {
    if (hint === undefined) return (target === r.to.name && o2m) || (pair !== undefined && pair[0] === target && m2o);
    return target === r.to.name && o2m && pair !== undefined && pair[1] === hint;
  }
  const constraint = !r.junction ? r.constraint : undefined;
  if (hint === undefined) {
    return target === r.to.name || (!isView(r.to) && (constraint === target || (pair !== undefined && pair[0] === target)));
  }
  return target === r.to.name && (constraint === hint || (pair !== undefined && (pair[0] === hint || pair[1] === hint)) || r.junction?.relation.name === hint);
}

function describe(r: Relationship): Record<string, string> {
  if (r.computed) return {};
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
 * The names close to `name`, best first, as PostgREST's FuzzySet `get` finds them: an exact
 * (case-insensitive) match alone with score 1; else cosine similarity of 3-grams, else 2-grams
 * (of the name reduced to letters, digits, commas and spaces), the best 50 rescored by the
 * Levenshtein distance of the lower-cased names, those scoring at least 0.33.
 */
export function fuzzyGet(name: string, names: Iterable<string>, minScore = 0.33): { c: string; score: number }[] {
  const candidates = [...new Set(names)];
  const exact = candidates.find((c) => c.toLowerCase() === name.toLowerCase());
  if (exact !== undefined) return [{ c: exact, score: 1 }];
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
        const a = name.toLowerCase();
        const b = c.toLowerCase();
        return { c, score: 1 - distance(a, b) / Math.max(a.length, b.length, 1) };
      })
      .filter((x) => x.score >= minScore)
      .sort((a, b) => b.score - a.score);
    if (scored.length) return scored;
  }
  return [];
}

/** The closest of `names` to `name` (FuzzySet `getOne`), as PostgREST chooses its "Perhaps you meant" hints. */
export function suggest(name: string, names: Iterable<string>, minScore = 0.33): string | undefined {
  return fuzzyGet(name, names, minScore)[0]?.c;
}

/**
 * The closest table or function name to hint at: only a name at least 75% similar, as PostgREST
 * (v14.17+) chooses them so that a hint does not reveal unrelated table or function names
 * (argument lists and relationship hints keep the 0.33 of `suggest`).
 */
export function suggestName(name: string, names: Iterable<string>): string | undefined {
  return suggest(name, names, 0.75);
}

/**
 * PostgREST's hint for PGRST200: when the origin has relationships, the closest other target
 * name ("Perhaps you meant 'roles' instead of 'role'."; none when the target exists); when it
 * has none, the closest relation that has some, instead of the origin.
 */
function noRelationshipHint(model: RestModel, from: Relation, all: Relationship[], target: string): string | undefined {
  if (all.length) {
    const child = fuzzyGet(target, all.map((r) => r.to.name)).find((x) => x.score < 1);
    return child ? `Perhaps you meant '${child.c}' instead of '${target}'.` : undefined;
  }
  const parents = model.relations(from.schema).filter((r) => model.relationshipsFrom(r).length > 0).map((r) => r.name);
  const parent = suggest(from.name, parents);
  return parent ? `Perhaps you meant '${parent}' instead of '${from.name}'.` : undefined;
}

export function resolveRelationship(model: RestModel, from: Relation, item: EmbedItem): Relationship {
  const all = model.relationshipsFrom(from);
  const found = all.filter((r) => matches(r, item.name, item.hint));
  if (found.length === 1) return found[0];
  if (found.length === 0) throw ERRORS.noRelationship(from.name, item.name, from.schema, item.hint, noRelationshipHint(model, from, all, item.name));
  const options = found.map((r) => (r.computed ? '' : `'${r.to.name}!${r.junction ? r.junction.relation.name : r.constraint}'`));
  throw ERRORS.ambiguousRelationship(from.name, item.name, found.map(describe), options);
}

export const isToOne = (r: Relationship) => (r.computed ? r.computed.toOne : r.cardinality === 'many-to-one' || r.cardinality === 'one-to-one');
