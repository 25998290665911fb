/** The `nextmavens` command as a user runs it: one-shot commands and a `start` left running, in a project folder. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const CLI = path.resolve(import.meta.dirname, '../../cli/nextmavens.ts');

export interface CliProject {
  dir: string;
  env: Record<string, string>;
}

/** Runs `nextmavens <args>` in the project's folder to its end; `out` is both streams interleaved. */
export function runCli(project: CliProject, args: string[]): Promise<{ code: number | null; out: string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: project.dir, env: { ...process.env, ...project.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => ((out += d.toString()), (stdout += d.toString())));
    child.stderr!.on('data', (d: Buffer) => ((out += d.toString()), (stderr += d.toString())));
    child.once('close', (code) => resolve({ code, out, stdout, stderr }));
  });
}

export interface StartedCli {
  /** Everything printed up to `ready` (the banner with the URLs and keys). */
  banner: string;
  anonKey: string;
  serviceRoleKey: string;
  dbUrl: string;
  stop(): Promise<void>;
}

/** A `nextmavens start` left running. */
export interface StartProcess {
  child: ChildProcess;
  /** Everything it has printed so far, both streams interleaved. */
  output(): string;
  /** Ctrl-C (SIGINT), then its exit; nothing when it has already exited. */
  stop(): Promise<void>;
}

/**
 * `nextmavens start` (or `cli`'s) with exactly `env` until it says ready; killed, and the start
 * refused with what it printed, when it exits or `timeoutMs` passes first. Tests and benches
 * (bench/admin.ts, bench/rest-cluster.ts) start the stack this way.
 */
export async function spawnStart(env: NodeJS.ProcessEnv, opts: { timeoutMs: number; cwd?: string; cli?: string }): Promise<StartProcess> {
  const child: ChildProcess = spawn(process.execPath, [opts.cli ?? CLI, 'start'], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + opts.timeoutMs;
  while (!/ready: accepting requests/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the stack did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    },
  };
}

/** `nextmavens start` until it says ready. */
export async function startCli(project: CliProject, extraEnv: Record<string, string> = {}): Promise<StartedCli> {
  const started = await spawnStart({ ...process.env, ...project.env, ...extraEnv }, { cwd: project.dir, timeoutMs: 60_000 });
  const banner = started.output();
  const match = (re: RegExp) => banner.match(re)?.[1] ?? '';
  return { banner, anonKey: match(/anon key: (\S+)/), serviceRoleKey: match(/service_role key: (\S+)/), dbUrl: match(/DB URL: (postgresql:\/\/\S+)/), stop: started.stop };
}
