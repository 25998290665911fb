/**
 * What the admin dashboard costs the stack: `nextmavens start` (embedded Postgres, a throwaway
 * DATA_DIR; the first start, which creates the cluster, is not counted) measured as the stack's
 * own "started in" figure, and the Node process's idle RSS and PSS (/proc/<pid>/smaps_rollup,
 * Postgres's processes apart) — the reference: the stack with the /admin stub only (no admin
 * module loaded) — beside the same figures once the dashboard is loaded (first /admin request:
 * the page, its assets, first run, sign-in, the table editor's and SQL editor's first calls),
 * and how long that first request took. Run: `node bench/admin.ts` (BENCH_STARTS, default 3);
 * BENCH_CLI=<another checkout>/cli/nextmavens.ts measures that build's start and idle memory (e.g. one
 * without the dashboard; its "loaded" line is then meaningless).
 */
import '../config/process-env.ts';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnStart } from '../test/helpers/cli.ts';
import { freePort } from '../test/helpers/net.ts';
import { AdminClient } from '../test/helpers/admin-client.ts';

const CLI = process.env.BENCH_CLI ?? path.resolve(import.meta.dirname, '../cli/nextmavens.ts');
const STARTS = Number(process.env.BENCH_STARTS ?? 3);

interface Started {
  child: ChildProcess;
  startedMs: number;
  url: string;
  stop(): Promise<void>;
}

async function start(env: Record<string, string>): Promise<Started> {
  const started = await spawnStart({ ...process.env, ...env }, { timeoutMs: 120_000, cli: CLI });
  const startedMs = Number(/started in ([\d.]+) s/.exec(started.output())![1]) * 1000;
  return { child: started.child, startedMs, url: `http://127.0.0.1:${env.PORT}`, stop: started.stop };
}

/** RSS and PSS of a process in MiB. */
async function memory(pid: number): Promise<{ rss: number; pss: number }> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)![1]);
  return { rss: kb('Rss') / 1024, pss: kb('Pss') / 1024 };
}

const idle = () => new Promise((r) => setTimeout(r, 3000));
const mib = (n: number) => `${n.toFixed(1)} MiB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = await mkdtemp(path.join(os.tmpdir(), 'nm-bench-admin-'));
await chmod(dir, 0o755);
for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY']) delete process.env[name];
const env = { DATA_DIR: path.join(dir, 'data'), PORT: String(await freePort()), POSTGRESQL_PORT: String(await freePort()), LOG_LEVEL: 'warn', ALERT_INTERVAL: '3600' };
try {
  await (await start(env)).stop(); // creates the cluster and migrates: not a cold start of a configured stack
  const starts: number[] = [];
  const before: { rss: number; pss: number }[] = [];
  const after: { rss: number; pss: number }[] = [];
  const firstRequest: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const s = await start(env);
    starts.push(s.startedMs);
    await idle();
    before.push(await memory(s.child.pid!));
    const t = performance.now();
    const page = await fetch(`${s.url}/admin`);
    await page.text();
    firstRequest.push(performance.now() - t);
    for (const asset of ['app.js', 'api.js', 'pages/tables.js', 'vendor/preact.js', 'vendor/hooks.js', 'vendor/htm.js', 'admin.css']) await (await fetch(`${s.url}/admin/assets/${asset}`)).arrayBuffer();
    const admin = new AdminClient(s.url);
    if (i === 0) await admin.call('POST', '/admin/api/setup', { email: 'bench@example.com', password: 'bench-password-1' });
    await admin.login('bench@example.com', 'bench-password-1');
    await admin.call('GET', '/admin/api/schemas');
    await admin.call('GET', '/admin/api/schemas/public/relations');
    await admin.call('GET', '/admin/api/tables/public/tenants/rows');
    await admin.call('POST', '/admin/api/sql', { sql: 'select * from pg_stat_activity' });
    await idle();
    after.push(await memory(s.child.pid!));
    await s.stop();
  }
  const rss0 = median(before.map((m) => m.rss));
  const pss0 = median(before.map((m) => m.pss));
  const rss1 = median(after.map((m) => m.rss));
  const pss1 = median(after.map((m) => m.pss));
  console.log(`nextmavens start (embedded Postgres, warm cluster), median of ${STARTS}: ${(median(starts) / 1000).toFixed(2)} s  [${starts.map((x) => (x / 1000).toFixed(2)).join(', ')}]`);
  console.log(`idle Node process, /admin stub only (reference): RSS ${mib(rss0)}, PSS ${mib(pss0)}`);
  console.log(`idle Node process, admin dashboard loaded and used: RSS ${mib(rss1)} (+${mib(rss1 - rss0)}), PSS ${mib(pss1)} (+${mib(pss1 - pss0)})`);
  console.log(`first GET /admin (imports the admin server, reads the UI's files), median: ${median(firstRequest).toFixed(0)} ms`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
