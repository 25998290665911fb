/**
 * npm run bench:graphql — GraphQL throughput and latency beside the REST equivalents, same run.
 *
 * Starts the whole stack on a throwaway embedded Postgres, loads bench/rest.ts's fixtures (a
 * tenant-isolated table under RLS with 10,000 rows and a to-one relation), then with autocannon
 * at concurrency 16, as an authenticated tenant user:
 *   1. one row by primary key        GraphQL `benchItem(id:)`            vs GET ?id=eq.N
 *   2. 100 rows with a to-one embed   GraphQL `benchItems(first: 100)`    vs GET ?select=…,bench_clients(name)&limit=100
 * Prints req/s, p50 and p99 for each and the ratio GraphQL/REST. BENCH_SECONDS sets the duration.
 */
import os from 'node:os';
import { loadItems, tenantUser, visibleItemId } from './fixtures.ts';
import { CONNECTIONS, SECONDS, cannon, startBenchStack, type Figures } from './harness.ts';

const PK_QUERY = `query($id: BigInt!) { benchItem(id: $id) { id name clientId } }`;
const LIST_QUERY = `{ benchItems(first: 100, orderBy: ID_ASC) { nodes { id name client { name } } } }`;

async function main(): Promise<void> {
  const { config, stack, close } = await startBenchStack({ DB_POOL_MAX: String(CONNECTIONS) });
  await loadItems(config);
  const { headers } = await tenantUser(config);
  const graphqlUrl = `${stack.url}/graphql/v1`;
  const post = (query: string, variables: Record<string, unknown> = {}) =>
    fetch(graphqlUrl, { method: 'POST', headers, body: JSON.stringify({ query, variables }) }).then((r) => r.json() as Promise<any>);

  // Watch mode rebuilds the schema after the DDL: wait for the new table, then check both queries.
  const deadline = Date.now() + 30_000;
  while ((await post(PK_QUERY, { id: '1' })).errors) {
    if (Date.now() > deadline) throw new Error('GraphQL schema did not pick up the bench tables');
    await new Promise((r) => setTimeout(r, 200));
  }
  const list = await post(LIST_QUERY);
  if (list.errors || list.data.benchItems.nodes.length !== 100 || !list.data.benchItems.nodes[0].client) throw new Error(`unexpected list result: ${JSON.stringify(list).slice(0, 300)}`);

  let i = 0;
  let j = 0;
  process.stderr.write(`${SECONDS} s per measurement at concurrency ${CONNECTIONS}\n`);
  const rows: [string, Figures, Figures][] = [];
  rows.push([
    'one row by primary key',
    await cannon({
      title: 'graphql pk',
      url: graphqlUrl,
      method: 'POST',
      headers,
      requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: PK_QUERY, variables: { id: String(visibleItemId(i++)) } }) }) }],
    }),
    await cannon({
      title: 'rest pk',
      url: stack.url,
      headers,
      requests: [{ setupRequest: (req) => ({ ...req, path: `/rest/v1/bench_items?id=eq.${visibleItemId(j++)}` }) }],
    }),
  ]);
  rows.push([
    '100 rows with a to-one relation',
    await cannon({ title: 'graphql list', url: graphqlUrl, method: 'POST', headers, body: JSON.stringify({ query: LIST_QUERY }) }),
    await cannon({ title: 'rest list', url: `${stack.url}/rest/v1/bench_items?select=id,name,bench_clients(name)&order=id&limit=100`, headers }),
  ]);

  const cell = (f: Figures) => `${f.rps.toFixed(0).padStart(7)} ${f.p50.toFixed(2).padStart(8)} ${f.p99.toFixed(2).padStart(8)}`;
  const out = process.stdout;
  out.write(`\nGraphQL vs REST, concurrency ${CONNECTIONS}, ${SECONDS} s each, ${os.cpus().length} cores (latencies in ms)\n\n`);
  out.write(`${'scenario'.padEnd(34)}${'GraphQL req/s      p50      p99'.padStart(32)}  ${'REST req/s      p50      p99'.padStart(28)}  GraphQL/REST\n`);
  for (const [name, gql, rest] of rows) {
    out.write(`${name.padEnd(34)}      ${cell(gql)}     ${cell(rest)}  ${(gql.rps / rest.rps).toFixed(2).padStart(12)}\n`);
  }
  out.write('\n');
  await close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
