/**
 * npm run bench:projects — many projects in one stack (projects/, README "Many projects").
 *
 * One stack over a throwaway embedded Postgres 17; BENCH_PROJECTS projects (default 100) are
 * created through the admin API (POST /projects/v1/projects), each given a table, then read once
 * cold (the project's services open on that request) and 20 times warm through supabase-js's
 * URL shape (`/project/<ref>/rest/v1/notes`). Printed beside: the floor of creation (the same
 * `CREATE DATABASE … TEMPLATE` in SQL alone) and the reference of a warm read (the same read of
 * the default project). Memory: the Node process's RSS and Postgres's (the sum of its processes'
 * PSS, so shared buffers count once), with every project open (PROJECT_IDLE_TIMEOUT=0).
 */
import '../config/process-env.ts';
import { chmod, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { startStack } from '../cli/stack.ts';
import { loadConfig } from '../config/load.ts';
import { EmbeddedPostgres } from '../db/embedded.ts';
import { freePort } from '../test/helpers/net.ts';
import { percentile } from './harness.ts';

const PROJECTS = Number(process.env.BENCH_PROJECTS ?? 100);
const WARM = 20;
const TABLE = `create table public.notes (id bigint generated always as identity primary key, body text not null);
  alter table public.notes enable row level security;
  create policy notes_read on public.notes for select to anon using (true);
  grant select on public.notes to anon;
  insert into public.notes (body) values ('one'), ('two');`;

const ms = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${percentile(s, 50).toFixed(1)} ms, p99 ${percentile(s, 99).toFixed(1)} ms, max ${s.at(-1)!.toFixed(1)} ms`;
};
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** The sum of the PSS of the postmaster and its children. */
async function postgresPss(dataDir: string): Promise<number> {
  const postmaster = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  let total = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number(entry) !== postmaster && ppid !== postmaster) continue;
    const rollup = await readFile(`/proc/${entry}/smaps_rollup`, 'utf8').catch(() => '');
    total += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024;
  }
  return total;
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await fn();
  return [performance.now() - t, v];
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-bench-projects-'));
  await chmod(dir, 0o755);
  const pgPort = await freePort();
  const password = 'bench-password';
  // Three connections per open project (its REST requests, its owner pool, the schema watch): room for all of them.
  const server = new EmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: pgPort, user: 'nextmavens', password, settings: { max_connections: 4 * PROJECTS + 100 } });
  await server.start();
  await server.ensureDatabase('nextmavens');
  const dbUrl = `postgresql://nextmavens:${password}@127.0.0.1:${pgPort}/nextmavens`;
  const config = await loadConfig({ DATABASE_URL: dbUrl, DATA_DIR: dir, PORT: String(await freePort()), LOG_LEVEL: 'silent', PROJECT_IDLE_TIMEOUT: '0', RATE_LIMIT_REST: '0', RATE_LIMIT_AUTH: '0', RATE_LIMIT_GRAPHQL: '0', RATE_LIMIT_STORAGE: '0', RATE_LIMIT_REALTIME: '0' });
  config.host = '127.0.0.1';
  const stack = await startStack(config, pino({ level: 'silent' }));
  const root = new pg.Client({ connectionString: dbUrl.replace(/\/nextmavens$/, '/postgres') });
  await root.connect();
  try {
    const rssBefore = process.memoryUsage().rss;
    const pgBefore = await postgresPss(path.join(dir, 'pg'));
    const create = (ref: string) =>
      fetch(`${stack.url}/projects/v1/projects`, { method: 'POST', headers: { apikey: config.serviceRoleKey, 'content-type': 'application/json' }, body: JSON.stringify({ ref }) }).then(async (r) => {
        if (r.status !== 201) throw new Error(`create ${ref}: ${r.status} ${await r.text()}`);
        return (await r.json()) as { database: string; keys: { anon_key: string } };
      });
    const [first] = await timed(() => create('first')); // includes creating and migrating the template
    const creations: number[] = [];
    const projects: { ref: string; key: string; database: string }[] = [];
    for (let i = 0; i < PROJECTS; i++) {
      const ref = `p${String(i).padStart(3, '0')}`;
      const [t, created] = await timed(() => create(ref));
      creations.push(t);
      projects.push({ ref, key: created.keys.anon_key, database: created.database });
    }
    const floors: number[] = [];
    for (let i = 0; i < 10; i++) {
      const [t] = await timed(() => root.query(`create database floor_${i} template nextmavens_project_template`));
      floors.push(t);
      await root.query(`drop database floor_${i}`);
    }
    for (const p of projects) {
      const c = new pg.Client({ connectionString: dbUrl.replace(/\/nextmavens$/, `/${p.database}`) });
      await c.connect();
      await c.query(TABLE);
      await c.end();
    }
    await new pg.Client({ connectionString: dbUrl }).connect().then(async (c) => {
      await c.query(TABLE);
      await c.end();
    });
    const read = async (prefix: string, key: string) => {
      const r = await fetch(`${stack.url}${prefix}/rest/v1/notes?select=body`, { headers: { apikey: key } });
      if (r.status !== 200) throw new Error(`${prefix}: ${r.status} ${await r.text()}`);
      await r.arrayBuffer();
    };
    const cold: number[] = [];
    const warm: number[] = [];
    for (const p of projects) cold.push((await timed(() => read(`/project/${p.ref}`, p.key)))[0]);
    // Warm: round-robin over every project, each read followed by the default project's same read
    // (the reference, measured under the same load); then one project read over and over.
    const reference: number[] = [];
    for (let i = 0; i < WARM; i++) {
      for (const p of projects) {
        warm.push((await timed(() => read(`/project/${p.ref}`, p.key)))[0]);
        reference.push((await timed(() => read('', config.anonKey)))[0]);
      }
    }
    const single: number[] = [];
    const singleRef: number[] = [];
    for (let i = 0; i < WARM * 50; i++) {
      single.push((await timed(() => read(`/project/${projects[0].ref}`, projects[0].key)))[0]);
      singleRef.push((await timed(() => read('', config.anonKey)))[0]);
    }
    global.gc?.();
    const rss = process.memoryUsage().rss;
    const pgPss = await postgresPss(path.join(dir, 'pg'));

    console.log(`bench:projects — ${PROJECTS} projects in one stack (Node ${process.version}, ${os.cpus().length} CPUs)`);
    console.log(`  create (admin API)        first ${first.toFixed(0)} ms (with the template); then ${ms(creations)}; total ${(creations.reduce((a, b) => a + b, 0) / 1000).toFixed(1)} s`);
    console.log(`    floor: CREATE DATABASE … TEMPLATE alone   ${ms(floors)}`);
    console.log(`  cold first request        ${ms(cold)}   (goal < 500 ms)`);
    console.log(`  warm request, round-robin over the projects   ${ms(warm)}`);
    console.log(`    reference: the default project's same read, interleaved   ${ms(reference)}`);
    console.log(`  warm request, one project over and over       ${ms(single)}`);
    console.log(`    reference: the default project's same read, interleaved   ${ms(singleRef)}`);
    console.log(`  memory, every project open: Node RSS ${mb(rss)} (${mb(rssBefore)} before the projects), Postgres PSS ${mb(pgPss)} (${mb(pgBefore)} before); total ${mb(rss + pgPss)}   (goal < 1536 MB)`);
  } finally {
    await root.end();
    await stack.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
