/**
 * npm run bench:footprint — the whole embedded stack's start times and idle memory, beside the
 * goals of issue 21 (idle PSS < 180 MiB, warm start < 1 s, cold start < 2 s).
 *
 * Starts `node cli/nextmavens.cjs start` on a fresh DATA_DIR (cold: initdb, migrations, keys),
 * stops it, starts it again on the same DATA_DIR (warm), and times each from spawn until
 * `/health` answers 200; BENCH_RUNS times (default 3), printing each run and the median. After
 * the last warm start and IDLE_SECONDS idle, sums the proportional set size (PSS, from
 * /proc/<pid>/smaps_rollup) of the Node process and every process below it (Postgres).
 *
 * The data directories are removed only at the end: on an ext4 file system without a journal
 * (this machine's), the inode allocator passes over inodes freed in the last ~30 s (fs/ext4/
 * ialloc.c, recently_deleted()), so a cold start right after ~1,600 files were deleted beside it
 * creates its own ~1,600 several times slower (perf: 1.2 ms per file vs 0.04 ms).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/helpers/net.ts';

const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ROOT = path.resolve(import.meta.dirname, '..');

async function children(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(entry), ...(await children(Number(entry))));
  }
  return out;
}

/** PSS of one process in KiB (0 when it is gone). */
async function pssKiB(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  return Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
}

async function start(env: Record<string, string>, port: number): Promise<{ child: ChildProcess; seconds: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'cli/nextmavens.cjs'), 'start'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the stack exited with ${child.exitCode} while starting`);
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (ok) return { child, seconds: (performance.now() - t0) / 1000 };
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function main(): Promise<void> {
  const dirs: string[] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  let total = 0;
  let node = 0;
  try {
    for (let run = 1; run <= RUNS; run++) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-footprint-'));
      dirs.push(dir);
      const port = await freePort();
      const env = { DATA_DIR: dir, PORT: String(port), POSTGRESQL_PORT: String(await freePort()), HOST: '127.0.0.1', LOG_LEVEL: 'silent' };
      const first = await start(env, port);
      await stop(first.child);
      const second = await start(env, port);
      cold.push(first.seconds);
      warm.push(second.seconds);
      process.stderr.write(`run ${run}: cold ${first.seconds.toFixed(2)} s, warm ${second.seconds.toFixed(2)} s\n`);
      if (run === RUNS) {
        await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
        const pid = second.child.pid!;
        node = await pssKiB(pid);
        total = node;
        for (const p of await children(pid)) total += await pssKiB(p);
      }
      await stop(second.child);
    }
    const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const each = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' / ');
    process.stdout.write(
      `\nwhole stack (embedded), ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)}, ${RUNS} runs\n` +
        `  cold start (fresh DATA_DIR): median ${median(cold).toFixed(2)} s (${each(cold)})   goal < 2 s\n` +
        `  warm start:                  median ${median(warm).toFixed(2)} s (${each(warm)})   goal < 1 s\n` +
        `  idle PSS after ${IDLE_SECONDS} s:         ${mib(total)} (Node ${mib(node)})   goal < 180 MiB\n`,
    );
  } finally {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
