/**
 * Row-change subscriptions: `Subscription.<table>Changed(events: [RowChangeEvent!])` for every
 * table that opted in with `graphql.enable_subscriptions('schema.table')` (sql/0013_graphql.sql).
 *
 * The table's trigger NOTIFYs `graphql_changes:<oid>` with the operation and primary key only.
 * PostGraphile's own pgSubscriber LISTENs; each subscriber's stream then keeps only the events its
 * own role and claims may see — for INSERT/UPDATE the row must be SELECTable under the
 * subscriber's pgSettings (RLS decides), for DELETE (the row is gone, nothing left to check RLS
 * against) the subscriber must be able to SELECT the table and, when the table has a `tenant_id`,
 * belong to the deleted row's tenant (or bypass RLS). The payload's row is then fetched by the
 * normal Grafast plan, under the same pgSettings, so nested relations obey RLS as in queries.
 *
 * Known limit of DELETE (as in Supabase Realtime, where DELETEs are not filtered by RLS at all):
 * policies finer than the tenant (e.g. owner-only rows) cannot be evaluated on a row that no
 * longer exists, so every subscriber of the same tenant with SELECT on the table learns the
 * deleted row's primary key (never its data), and on tables without `tenant_id` every
 * subscriber with SELECT does. Tables whose keys must not leak that way should not opt in,
 * or should use keys that reveal nothing (uuids).
 */
import { access, context, lambda, listen, type GrafastSubscriber, type Step } from 'postgraphile/grafast';
import { withPgClientFromPgService, type PgClient, type PgResource, type WithPgClient } from 'postgraphile/@dataplan/pg';

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
  tenant: string | null;
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
const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

function parseNotification(raw: unknown): ChangeNotification | null {
  try {
    const value = JSON.parse(String(raw)) as ChangeNotification;
    if (!['INSERT', 'UPDATE', 'DELETE'].includes(value.op) || !Array.isArray(value.pk)) return null;
    return value;
  } catch {
    return null;
  }
}

/**
 * The subscriber's view of a change stream: `source` filtered by `visible`, checked one event at
 * a time. `return()` goes straight to the source (ending its LISTEN) even while a check waits.
 */
export function filteredSubscriber(source: GrafastSubscriber, visible: (event: ChangeNotification) => Promise<boolean>): GrafastSubscriber {
  return {
    async subscribe(topic) {
      const upstream = await source.subscribe(topic);
      let done = false;
      const iterator: AsyncIterableIterator<ChangeNotification> = {
        [Symbol.asyncIterator]() {
          return iterator;
        },
        async next() {
          while (!done) {
            const item = await upstream.next();
            if (item.done) break;
            const event = parseNotification(item.value);
            if (event && !done && (await visible(event))) return { done: false, value: event };
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

/** The visibility check of one table, run with the subscriber's pgSettings. */
export function makeVisibilityCheck(
  table: SubscribableTable,
  pkColumns: readonly string[],
  events: readonly string[] | null,
  withPgClient: WithPgClient,
  pgSettings: Record<string, string | undefined> | null,
): (event: ChangeNotification) => Promise<boolean> {
  const from = `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
  const rowQuery = `select 1 from ${from} where ${pkColumns.map((c, i) => `${quoteIdent(c)} = $${i + 1}`).join(' and ')}`;
  const deleteQuery = `select has_table_privilege(current_user, $1::oid, 'SELECT')
    and ($2::text is null or (select rolbypassrls from pg_roles where rolname = current_user) or auth.tenant_id()::text = $2) as ok`;
  const run = <T>(fn: (client: PgClient) => Promise<T>) => withPgClient(pgSettings, fn);
  return async (event) => {
    if (events && !events.includes(event.op)) return false;
    if (event.pk.length !== pkColumns.length) return false;
    try {
      if (event.op === 'DELETE') {
        const { rows } = await run((c) => c.query<{ ok: boolean }>({ text: deleteQuery, values: [table.oid, event.tenant ?? null] }));
        return rows[0]?.ok === true;
      }
      const { rows } = await run((c) => c.query({ text: rowQuery, values: event.pk }));
      return rows.length > 0;
    } catch {
      return false; // no privilege, a dropped table, a bad key: the subscriber sees nothing
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
                    description: 'The row after the change (null after DELETE).',
                    type: rowType as any,
                    plan: ($e: Step) => resource.get(Object.fromEntries(pk.map((a, i) => [a, keyStep($e, i, resource.codec.attributes[a].codec)]))),
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
                [$ctx.get('pgSubscriber'), $ctx.get('withPgClient'), $ctx.get('pgSettings'), fieldArgs.getRaw('events')],
                ([source, withPgClient, pgSettings, events]) =>
                  source
                    ? filteredSubscriber(
                        source as GrafastSubscriber,
                        makeVisibilityCheck(table, pk, (events as string[] | null) ?? null, withPgClient as WithPgClient, pgSettings as Record<string, string>),
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
