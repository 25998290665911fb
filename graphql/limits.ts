/**
 * Validation rules against abusive operations, run by graphql-js validation before anything is
 * planned or executed (over HTTP and WebSockets alike):
 *
 * - depth: the deepest nesting of selection sets, fragments inlined (`{ a { b } }` has depth 2);
 * - cost: one per selected field, a field's sub-selection multiplied by its literal `first` or
 *   `last` argument — a node count weighted by the page sizes the operation asks for. Sizes given
 *   through variables count as 1 (validation does not see variables).
 *
 * Fragments are measured once each (memoized), so a document of nested fragment spreads cannot
 * make the measurement itself exponential. Cycles are left to graphql-js's NoFragmentCycles rule.
 */
import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type FieldNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
} from 'postgraphile/graphql';
import { GRAPHQL_ERRORS } from './errors.ts';

export interface OperationSize {
  /** Levels of selection sets below the operation (a lone scalar field is depth 1). */
  depth: number;
  cost: number;
}

function pageSize(field: FieldNode): number {
  for (const arg of field.arguments ?? []) {
    if ((arg.name.value === 'first' || arg.name.value === 'last') && arg.value.kind === Kind.INT) {
      return Math.max(1, Number(arg.value.value));
    }
  }
  return 1;
}

/** Measures a selection set; `fragments` resolves spreads, `memo` caches each fragment's size. */
export function measureSelectionSet(
  set: SelectionSetNode,
  fragments: (name: string) => FragmentDefinitionNode | undefined | null,
  memo = new Map<string, OperationSize>(),
  visiting = new Set<string>(),
): OperationSize {
  let depth = 0;
  let cost = 0;
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) {
      if (sel.selectionSet) {
        const child = measureSelectionSet(sel.selectionSet, fragments, memo, visiting);
        depth = Math.max(depth, child.depth + 1);
        cost += 1 + pageSize(sel) * child.cost;
      } else {
        depth = Math.max(depth, 1);
        cost += 1;
      }
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      const child = measureSelectionSet(sel.selectionSet, fragments, memo, visiting);
      depth = Math.max(depth, child.depth);
      cost += child.cost;
    } else {
      const name = sel.name.value;
      let child = memo.get(name);
      if (!child) {
        const fragment = fragments(name);
        if (!fragment || visiting.has(name)) continue;
        visiting.add(name);
        child = measureSelectionSet(fragment.selectionSet, fragments, memo, visiting);
        visiting.delete(name);
        memo.set(name, child);
      }
      depth = Math.max(depth, child.depth);
      cost += child.cost;
    }
  }
  return { depth, cost };
}

/** One validation rule checking both limits for every operation of the document. */
export function operationLimitsRule(limits: { maxDepth: number; maxCost: number }): (context: ValidationContext) => ASTVisitor {
  return (context) => {
    const memo = new Map<string, OperationSize>();
    return {
      OperationDefinition(node) {
        const { depth, cost } = measureSelectionSet(node.selectionSet, (name) => context.getFragment(name), memo);
        const name = node.name ? `Operation "${node.name.value}"` : 'The operation';
        if (depth > limits.maxDepth) {
          context.reportError(
            new GraphQLError(`${name} has depth ${depth}, over the maximum of ${limits.maxDepth}`, {
              nodes: [node],
              extensions: { code: 'GRAPHQL_DEPTH_LIMIT', depth, maxDepth: limits.maxDepth },
            }),
          );
        }
        if (cost > limits.maxCost) {
          context.reportError(
            new GraphQLError(`${name} has cost ${cost}, over the maximum of ${limits.maxCost}`, {
              nodes: [node],
              extensions: { code: 'GRAPHQL_COST_LIMIT', cost, maxCost: limits.maxCost },
            }),
          );
        }
        return false; // measured; no need to visit the operation's nodes again
      },
    };
  };
}

/**
 * A preset adding the rule to Grafserv's validation rules (shared by HTTP and WebSockets), and
 * giving Grafserv's own 413 (bodies without Content-Length over maxRequestLength) a clear error.
 */
export function limitsPreset(limits: { maxDepth: number; maxCost: number; maxBodyBytes: number }): GraphileConfig.Preset {
  const rule = operationLimitsRule(limits);
  return {
    plugins: [
      {
        name: 'NextMavensOperationLimitsPlugin',
        version: '1.0.0',
        grafserv: {
          middleware: {
            setPreset(next, event) {
              event.validationRules.push(rule);
              return next();
            },
            async processRequest(next) {
              const result = await next();
              if (result?.type !== 'buffer' || result.statusCode !== 413) return result;
              const { message, code } = GRAPHQL_ERRORS.tooLarge(limits.maxBodyBytes);
              const buffer = Buffer.from(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
              return { ...result, headers: { ...result.headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(buffer.length) }, buffer };
            },
          },
        },
      },
    ],
  };
}
