/**
 * npm run bench:footprint — the whole embedded stack's start times and idle memory, beside the
 * goals of issue 21 (idle PSS < 180 MiB, warm start < 1 s, cold start < 2 s).
 *
 * Starts `node cli/nextmavens.cjs start` on a fresh DATA_DIR (cold: initdb, migrations, keys),
 * stops it, starts it again on the same DATA_DIR (warm), and times each from spawn until
 * `/health` answers 200. After IDLE_SECONDS idle, sums the proportional set size (PSS, from
 * /proc/<pid>/smaps_rollup) of the Node process and every process below it (Postgres).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/helpers/net.ts';

const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 5);
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
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-footprint-'));
  const port = await freePort();
  const env = { DATA_DIR: dir, PORT: String(port), POSTGRESQL_PORT: String(await freePort()), HOST: '127.0.0.1', LOG_LEVEL: 'silent' };
  try {
    const cold = await start(env, port);
    await stop(cold.child);
    const warm = await start(env, port);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const pid = warm.child.pid!;
    const node = await pssKiB(pid);
    let total = node;
    for (const p of await children(pid)) total += await pssKiB(p);
    await stop(warm.child);
    const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
    process.stdout.write(
      `\nwhole stack (embedded), ${os.cpus().length} cores\n` +
        `  cold start (fresh DATA_DIR): ${cold.seconds.toFixed(2)} s   goal < 2 s\n` +
        `  warm start:                  ${warm.seconds.toFixed(2)} s   goal < 1 s\n` +
        `  idle PSS after ${IDLE_SECONDS} s:         ${mib(total)} (Node ${mib(node)})   goal < 180 MiB\n`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
