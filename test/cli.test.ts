/**
 * `nextmavens start` as a user runs it: a child process with an embedded Postgres, the banner
 * with keys and `ready`, /health, and a clean Ctrl-C that leaves no process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { body } from './helpers/http.ts';
import { freePort } from './helpers/net.ts';

const CLI = path.resolve(import.meta.dirname, '../cli/nextmavens.ts');
let dir: string;
let env: Record<string, string>;

function run(args: string[], extraEnv: Record<string, string> = {}): { child: ChildProcess; output: () => string; exited: Promise<number | string | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // The exit code, or the signal's name when a signal ended the process (so a failure says which).
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return { child, output: () => out, exited };
}

async function waitFor(predicate: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting; output:\n${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nm-cli-'));
  await chmod(dir, 0o755);
  env = {
    DATA_DIR: path.join(dir, 'data'),
    PORT: String(await freePort()),
    POSTGRESQL_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
  };
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY']) delete process.env[name];
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('nextmavens start', () => {
  let firstKeys = '';

  it('boots Postgres, migrates, prints URLs, keys and ready; Ctrl-C stops everything', async () => {
    const started = Date.now();
    const proc = run(['start']);
    await waitFor(() => /^ready: accepting requests/m.test(proc.output()), 30_000, proc.output);
    const coldStartMs = Date.now() - started;
    const out = proc.output();
    expect(out).toContain(`API URL: http://localhost:${env.PORT}`);
    expect(out).toMatch(/DB URL: postgresql:\/\/nextmavens:[^@]+@127\.0\.0\.1:\d+\/nextmavens/);
    expect(out).toMatch(/anon key: eyJ/);
    expect(out).toMatch(/service_role key: eyJ/);
    firstKeys = out.match(/anon key: (\S+)/)![1];

    const health = await fetch(`http://127.0.0.1:${env.PORT}/health`);
    expect(health.status).toBe(200);
    expect((await body(health)).services.database.status).toBe('up');

    const pidFile = path.join(env.DATA_DIR, 'postgres', 'postmaster.pid');
    const pgPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    expect(alive(pgPid)).toBe(true);

    proc.child.kill('SIGINT');
    expect(await proc.exited).toBe(0);
    expect(alive(pgPid)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
    await expect(fetch(`http://127.0.0.1:${env.PORT}/health`)).rejects.toThrow();
    console.log(`cold start (first run, initdb included): ${coldStartMs} ms`);
  }, 60_000);

  it('a second start reuses the cluster and prints the same keys; SIGTERM also stops cleanly', async () => {
    const proc = run(['start']);
    await waitFor(() => /^ready: accepting requests/m.test(proc.output()), 30_000, proc.output);
    expect(proc.output().match(/anon key: (\S+)/)![1]).toBe(firstKeys);
    proc.child.kill('SIGTERM');
    expect(await proc.exited, proc.output()).toBe(0);
  }, 60_000);

  it('migrate alone is a no-op on a migrated database', async () => {
    const proc = run(['migrate']);
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toMatch(/migrations: 0 applied, \d+ already applied/);
  }, 60_000);

  it('refuses a bad configuration with a clear message, before starting anything', async () => {
    const proc = run(['start'], { JWT_SECRET: 'too-short', PORT: 'http' });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('Invalid configuration');
    expect(proc.output()).toContain('PORT must be an integer');
    expect(proc.output()).not.toMatch(/^ready: accepting requests/m);
  });

  it('says which port is taken when the gateway cannot listen, and stops its Postgres', async () => {
    const blocker = run(['start']);
    await waitFor(() => /^ready: accepting requests/m.test(blocker.output()), 30_000, blocker.output);
    const second = run(['start'], { DATA_DIR: path.join(dir, 'data2'), POSTGRESQL_PORT: String(await freePort()) });
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/EADDRINUSE|address already in use/i);
    const pid2 = path.join(dir, 'data2', 'postgres', 'postmaster.pid');
    expect(existsSync(pid2)).toBe(false);
    blocker.child.kill('SIGINT');
    expect(await blocker.exited).toBe(0);
  }, 90_000);
});
