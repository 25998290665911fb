/**
 * Row-change subscriptions: `Subscription.<table>Changed(events: [RowChangeEvent!])` for every
 * table that opted in with `graphql.enable_subscriptions('schema.table')` (sql/0013_graphql.sql,
 * sql/0017_graphql_committed_rows.sql).
 *
 * The table's trigger NOTIFYs `graphql_changes:<oid>` with the operation, the primary key and the
 * row as committed (`new::text`, `old::text` for DELETE; a large row is parked in
 * graphql.change_rows and named by id). PostGraphile's own pgSubscriber LISTENs; each
 * subscriber's stream keeps only the events whose committed row its own role and claims may
 * SELECT (RLS evaluated by Postgres over those values, realtime.check_rows, as realtime does:
 * docs/realtime-changes.md) — for DELETE, the old row. A row changed or deleted by a later
 * transaction before the check is neither lost nor judged on the later values. The payload's row
 * is served from the committed values; nested relations are read by the normal Grafast plan
 * under the subscriber's pgSettings, so they obey RLS as in queries. DELETE payloads carry only
 * the key (the row is null).
 */
import { access, context, lambda, listen, type GrafastSubscriber, type Step } from 'postgraphile/grafast';
import { pgSelect, TYPES, withPgClientFromPgService, type PgResource } from 'postgraphile/@dataplan/pg';
import { sql, type SQL } from 'postgraphile/pg-sql2';
import type pg from 'pg';
import { checkCommittedRows } from '../db/committed-rows.ts';

/** An opted-in table, as found in the database at gather time. */
export interface SubscribableTable {
  schema: string;
  table: string;
  oid: number;
}

/** What the trigger sends (after JSON parsing). */
export interface ChangeNotification {
  op: 'INSERT' | 'UPDATE' | 'DELETE';
  pk: (string | null)[];
  /** The row as committed (composite literal): the new row, the old one for DELETE. */
  row?: string;
  /** Id of the row in graphql.change_rows when it was too large to notify. */
  parked?: number;
}

/** An event as the payload plan sees it: the committed row, none for DELETE. */
export interface ChangeEvent {
  op: ChangeNotification['op'];
  pk: (string | null)[];
  row: string | null;
}

/** Key of the grafast context entry holding the service's CommittedRowCheck. */
export const ROW_CHECK_CONTEXT = 'nextmavensRowCheck';

declare global {
  namespace Grafast {
    interface Context {
      nextmavensRowCheck?: CommittedRowCheck;
    }
  }
}

/** Checks run on the owner pool (realtime.check_rows is not granted to API roles). */
export interface CommittedRowCheck {
  /** May a subscriber with these pgSettings (role, request.jwt.claims) SELECT the committed row? */
  visible(tableOid: number, row: string, pgSettings: Record<string, string | undefined> | null): Promise<boolean>;
  /** The row the trigger parked in graphql.change_rows. */
  parked(id: number): Promise<string | undefined>;
}

export function committedRowCheck(admin: pg.Pool): CommittedRowCheck {
  return {
    async visible(tableOid, row, pgSettings) {
      let claims: Record<string, unknown> = {};
      try {
        claims = JSON.parse(pgSettings?.['request.jwt.claims'] ?? '{}');
      } catch {
        return false;
      }
      const checked = await checkCommittedRows(admin, tableOid, [row], [{ ...claims, role: pgSettings?.role ?? 'anon' }], 'record');
      return checked.visible[0].has(0);
    },
    async parked(id) {
      const { rows } = await admin.query<{ row_text: string }>('select row_text from graphql.change_rows where id = $1', [id]);
      return rows[0]?.row_text;
    },
  };
}

type AnyResource = PgResource<string, any, any, any, any>;

const TABLES_QUERY = `
  select n.nspname as schema, c.relname as "table", c.oid::int as oid
  from pg_trigger t
  join pg_class c on c.oid = t.tgrelid
  join pg_namespace n on n.oid = c.relnamespace
  join pg_proc p on p.oid = t.tgfoid
  join pg_namespace pn on pn.oid = p.pronamespace
  where t.tgname = 'graphql_subscriptions' and p.proname = 'notify_change' and pn.nspname = 'graphql'`;

const TABLES_KEY = 'nextmavensSubscriptionTables';
export const channelOf = (oid: number) => `graphql_changes:${oid}`;

function parseNotification(raw: unknown): ChangeNotification | null {
  try {
    const value = JSON.parse(String(raw)) as ChangeNotification;
    if (!['INSERT', 'UPDATE', 'DELETE'].includes(value.op) || !Array.isArray(value.pk)) return null;
    if (typeof value.row !== 'string' && typeof value.parked !== 'number') return null;
    return value;
  } catch {
    return null;
  }
}

/**
 * The subscriber's view of a change stream: `source` filtered by `visible`, checked one event at
 * a time (so in commit order). `return()` goes straight to the source (ending its LISTEN) even
 * while a check waits.
 */
export function filteredSubscriber(source: GrafastSubscriber, visible: (event: ChangeNotification) => Promise<ChangeEvent | null>): GrafastSubscriber {
  return {
    async subscribe(topic) {
      const upstream = await source.subscribe(topic);
      let done = false;
      const iterator: AsyncIterableIterator<ChangeEvent> = {
        [Symbol.asyncIterator]() {
          return iterator;
        },
        async next() {
          while (!done) {
            const item = await upstream.next();
            if (item.done) break;
            const event = parseNotification(item.value);
            const seen = event && !done ? await visible(event) : null;
            if (seen && !done) return { done: false, value: seen };
          }
          done = true;
          return { done: true, value: undefined };
        },
        async return() {
          done = true;
          await upstream.return?.();
          return { done: true, value: undefined };
        },
        async throw(err) {
          done = true;
          await upstream.return?.();
          throw err;
        },
      };
      return iterator as AsyncIterableIterator<any>;
    },
  };
}

/** The visibility check of one table's events for one subscriber (its pgSettings). */
export function makeVisibilityCheck(
  table: SubscribableTable,
  pkColumns: readonly string[],
  events: readonly string[] | null,
  check: CommittedRowCheck,
  pgSettings: Record<string, string | undefined> | null,
): (event: ChangeNotification) => Promise<ChangeEvent | null> {
  return async (event) => {
    if (events && !events.includes(event.op)) return null;
    if (event.pk.length !== pkColumns.length) return null;
    try {
      const row = event.row ?? (event.parked !== undefined ? await check.parked(event.parked) : undefined);
      if (row === undefined || !(await check.visible(table.oid, row, pgSettings))) return null;
      return { op: event.op, pk: event.pk, row: event.op === 'DELETE' ? null : row };
    } catch {
      return null; // a dropped table, a parked row already removed: the subscriber sees nothing
    }
  };
}

const EVENT_ENUM = 'RowChangeEvent';

/** The plugin: gathers the opted-in tables, then adds one subscription field per table. */
export const RowChangeSubscriptionsPlugin: GraphileConfig.Plugin = {
  name: 'NextMavensRowChangeSubscriptionsPlugin',
  version: '1.0.0',
  gather: {
    async main(output, info) {
      const tables: SubscribableTable[] = [];
      for (const pgService of info.resolvedPreset.pgServices ?? []) {
        const { rows } = await withPgClientFromPgService(pgService, pgService.pgSettingsForIntrospection ?? null, (client) =>
          client.query<SubscribableTable>({ text: TABLES_QUERY }),
        );
        tables.push(...rows);
      }
      (output as Record<string, unknown>)[TABLES_KEY] = tables;
    },
  },
  schema: {
    hooks: {
      init(_, build) {
        const { GraphQLNonNull } = build.graphql;
        build.registerEnumType(
          EVENT_ENUM,
          {},
          () => ({
            description: 'The kind of change a row went through.',
            values: { INSERT: { value: 'INSERT' }, UPDATE: { value: 'UPDATE' }, DELETE: { value: 'DELETE' } },
          }),
          'NextMavens row-change event',
        );
        for (const { resource, pk } of subscribable(build)) {
          const tableType = build.inflection.tableType(resource.codec);
          build.registerObjectType(
            `${tableType}ChangedPayload`,
            {},
            () => ({
              description: `A change to a \`${tableType}\` row. The row is read with the subscriber's own permissions: null when deleted (or no longer visible).`,
              fields: () => {
                const fields: Record<string, any> = {
                  event: {
                    type: new GraphQLNonNull(build.getTypeByName(EVENT_ENUM) as any),
                    plan: ($e: Step) => access($e, 'op'),
                  },
                };
                pk.forEach((attributeName, i) => {
                  const attr = resource.codec.attributes[attributeName];
                  const type = build.getGraphQLTypeByPgCodec(attr.codec, 'output');
                  if (!type) return;
                  fields[build.inflection.attribute({ codec: resource.codec, attributeName })] = {
                    description: 'Primary key of the changed row.',
                    type: type as any,
                    plan: ($e: Step) => keyStep($e, i, attr.codec),
                  };
                });
                const rowType = build.getGraphQLTypeByPgCodec(resource.codec, 'output');
                if (rowType) {
                  fields[build.inflection.tableFieldName(resource)] = {
                    description: 'The row as committed by the change (null after DELETE).',
                    type: rowType as any,
                    plan: ($e: Step) => committedRow(resource, $e),
                  };
                }
                return fields;
              },
            }),
            `NextMavens change payload for ${resource.name}`,
          );
        }
        return _;
      },
      GraphQLObjectType_fields(fields, build, ctx) {
        if (!ctx.scope.isRootSubscription) return fields;
        const { GraphQLList, GraphQLNonNull } = build.graphql;
        const added: typeof fields = {};
        for (const { resource, pk, table } of subscribable(build)) {
          const payload = build.getOutputTypeByName(`${build.inflection.tableType(resource.codec)}ChangedPayload`);
          const channel = channelOf(table.oid);
          const fieldName = `${build.inflection.tableFieldName(resource)}Changed`;
          added[fieldName] = ctx.fieldWithHooks({ fieldName }, {
            description: `Changes to \`${build.inflection.tableType(resource.codec)}\` rows you may see, as they are committed.`,
            type: payload,
            args: {
              events: {
                type: new GraphQLList(new GraphQLNonNull(build.getTypeByName(EVENT_ENUM) as any)),
                description: 'Only these kinds of change (default: all).',
              },
            },
            subscribePlan(_$root, fieldArgs) {
              const $ctx = context();
              const $subscriber = lambda(
                [$ctx.get('pgSubscriber'), $ctx.get(ROW_CHECK_CONTEXT), $ctx.get('pgSettings'), fieldArgs.getRaw('events')],
                ([source, check, pgSettings, events]) =>
                  source && check
                    ? filteredSubscriber(
                        source as GrafastSubscriber,
                        makeVisibilityCheck(table, pk, (events as string[] | null) ?? null, check as unknown as CommittedRowCheck, pgSettings as Record<string, string>),
                      )
                    : null,
              );
              return listen($subscriber, channel);
            },
            plan($event: Step) {
              return $event;
            },
          });
        }
        return build.extend(fields, added, 'NextMavens row-change subscriptions');
      },
    },
  },
};

/**
 * The committed row of an event as a row of `resource` (null for DELETE): selected from the
 * composite literal itself, not re-read from the table, so a later change cannot alter or hide it.
 */
function committedRow(resource: AnyResource, $event: Step): Step {
  return pgSelect({
    resource,
    identifiers: [],
    from: (row: { placeholder: SQL }) => sql`(select (${row.placeholder}::${resource.codec.sqlType}).* where ${row.placeholder} is not null)`,
    args: [{ step: access($event, 'row'), pgCodec: TYPES.text }],
  }).single();
}

/** The i-th primary key value of an event, decoded by the column's codec. */
function keyStep($event: Step, i: number, codec: { fromPg(value: string): unknown }): Step {
  return lambda(access($event, ['pk', i]), (v) => (v == null ? null : codec.fromPg(String(v))), true);
}

/** The resources (tables) with a primary key whose table opted in. */
function subscribable(build: GraphileBuild.Build): { resource: AnyResource; pk: string[]; table: SubscribableTable }[] {
  const tables = ((build.input as unknown as Record<string, unknown>)[TABLES_KEY] ?? []) as SubscribableTable[];
  const out: { resource: AnyResource; pk: string[]; table: SubscribableTable }[] = [];
  for (const resource of Object.values(build.pgResources) as AnyResource[]) {
    if (resource.parameters || resource.isUnique || resource.isVirtual || !resource.codec.attributes) continue;
    const pg = resource.codec.extensions?.pg;
    const table = pg && tables.find((t) => t.schema === pg.schemaName && t.table === pg.name);
    const pk = (resource.uniques as { isPrimary?: boolean; attributes: readonly string[] }[] | undefined)?.find((u) => u.isPrimary)?.attributes;
    if (table && pk?.length) out.push({ resource, pk: [...pk], table });
  }
  return out;
}
