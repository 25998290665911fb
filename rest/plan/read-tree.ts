/**
 * The read plan's tree (PostgREST's ReadPlanTree, docs/postgrest.md §0 and §1.9): the root
 * relation and, for every embedded resource of `select`, the relationship it resolves to, its
 * SQL aliases and its children. Relationships are resolved here, once per request; the SQL
 * renderer (rest/query/select.ts) only reads the tree — a count query and the body render the
 * same tree.
 */
import type { AtPath, EmbedItem, ParsedQuery, SelectItem } from '../ast.ts';
import { ERRORS, RestError } from '../errors.ts';
import type { Relation, Relationship, RestModel } from '../model.ts';
import { isToOne, resolveRelationship } from '../relationships.ts';

/** An embedded resource in the request tree. */
export interface EmbedNode {
  item: EmbedItem;
  relationship: Relationship;
  toOne: boolean;
  /** SQL alias of the lateral join. */
  joinAlias: string;
  /** SQL alias of the embedded relation inside its subquery. */
  alias: string;
  /** The name PostgREST's SQL gives this embed (`<table>_<depth>`), for error messages. */
  errorName: string;
  /** Keys (alias or name) from the root to this embed. */
  path: string[];
  children: EmbedNode[];
}

export interface ReadTree {
  rel: Relation;
  /** SQL alias of the root relation. */
  alias: string;
  /** The query, every path rewritten to the embeds' keys (alias or name). */
  query: ParsedQuery;
  embeds: EmbedNode[];
  /** Every SQL alias the tree uses (the renderer's fresh aliases avoid them). */
  aliases: Set<string>;
}

/** Allocates fresh SQL aliases derived from relation names. */
export class Aliases {
  readonly used: Set<string>;
  constructor(used: Iterable<string> = []) {
    this.used = new Set(used);
  }
  fresh(base: string): string {
    let candidate = base;
    for (let n = 1; this.used.has(candidate); n++) candidate = `${base}_${n}`;
    this.used.add(candidate);
    return candidate;
  }
}

function buildEmbeds(model: RestModel, aliases: Aliases, rel: Relation, items: SelectItem[], path: string[]): EmbedNode[] {
  const nodes: EmbedNode[] = [];
  for (const item of items) {
    if (item.type !== 'embed') continue;
    const relationship = resolveRelationship(model, rel, item);
    const childPath = [...path, item.alias ?? item.name];
    const node: EmbedNode = {
      item,
      relationship,
      toOne: isToOne(relationship),
      joinAlias: aliases.fresh(`${relationship.to.name}_join`),
      alias: aliases.fresh(relationship.to.name),
      errorName: `${relationship.to.name}_${childPath.length}`,
      path: childPath,
      children: [],
    };
    node.children = buildEmbeds(model, aliases, relationship.to, item.select, childPath);
    nodes.push(node);
  }
  return nodes;
}

/**
 * PostgREST names each embed's join `<origin>_<alias or name>_<depth>`, so two embeds of one
 * level with the same name — the same target twice without an alias — make Postgres answer
 * 42712 there (after every relationship was resolved); never a body with a duplicate key.
 */
function checkJoinNames(rel: Relation, nodes: EmbedNode[], depth: number): void {
  const names = new Set<string>();
  for (const node of nodes) {
    const name = `${rel.name}_${node.item.alias ?? node.item.name}_${depth}`;
    if (names.has(name)) throw new RestError(400, '42712', `table name "${name}" specified more than once`);
    names.add(name);
    checkJoinNames(node.relationship.to, node.children, depth + 1);
  }
}

/** The embed a path segment names at one level: by alias, or by relation name as written. */
export function findEmbed(embeds: EmbedNode[], name: string): EmbedNode | undefined {
  return embeds.find((e) => (e.item.alias ?? e.item.name) === name) ?? embeds.find((e) => e.item.name === name);
}

/**
 * Every path used by filters, order, limits must name an embed of the request (PGRST108). A
 * segment may name an embed by alias or by relation name; paths are rewritten to the embeds'
 * keys (alias or name) so later lookups compare them exactly.
 */
function canonicalPaths(query: ParsedQuery, rootEmbeds: EmbedNode[]): ParsedQuery {
  const resolve = (path: string[]): string[] => {
    let level = rootEmbeds;
    return path.map((segment) => {
      const node = findEmbed(level, segment);
      if (!node) throw ERRORS.notEmbedded(segment);
      level = node.children;
      return node.item.alias ?? node.item.name;
    });
  };
  const canonical = <T>(list: AtPath<T>[]): AtPath<T>[] => list.map((x) => ({ ...x, path: resolve(x.path) }));
  return { ...query, filters: canonical(query.filters), logic: canonical(query.logic), order: canonical(query.order), limits: canonical(query.limits), offsets: canonical(query.offsets) };
}

/** The tree of `select` over `rel` aliased `alias`: relationships resolved, paths checked. */
export function planReadTree(model: RestModel, rel: Relation, alias: string, query: ParsedQuery): ReadTree {
  const aliases = new Aliases([alias]);
  const embeds = buildEmbeds(model, aliases, rel, query.select, []);
  const canonical = canonicalPaths(query, embeds);
  checkJoinNames(rel, embeds, 1);
  return { rel, alias, query: canonical, embeds, aliases: aliases.used };
}

/** A tree with no embeds, for the root filters of a PATCH/DELETE (its paths are not checked). */
export function rootTree(rel: Relation, alias: string, query: ParsedQuery): ReadTree {
  return { rel, alias, query, embeds: [], aliases: new Set([alias]) };
}
