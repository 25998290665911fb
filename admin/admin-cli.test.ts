/**
 * `nextmavens admin create|list` as an operator runs them, against a database given by
 * DATABASE_URL: the first admin is an owner, the printed password signs in, a piped one too,
 * a taken email or a bad role is a clear error.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, TEST_JWT_SECRET, type TestDatabase } from '../test/helpers/db.ts';
import { checkSignIn } from './accounts.ts';

const CLI = path.resolve(import.meta.dirname, '../cli/nextmavens.ts');
let db: TestDatabase;

function cli(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'warn' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.stdin.end(stdin ?? '');
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

it('creates admins, the first an owner, and lists them', async () => {
  const first = await cli(['admin', 'create', 'first@example.com']);
  expect(first.code, first.stderr).toBe(0);
  expect(first.stdout).toMatch(/admin first@example\.com created \(role owner, id [0-9a-f-]{36}\)/);
  const password = /password: (\S+)/.exec(first.stdout)![1];
  expect(password.length).toBeGreaterThanOrEqual(20);
  expect((await checkSignIn(db.admin, 'first@example.com', password, undefined)).ok).toBe(true);

  const piped = await cli(['admin', 'create', 'reader@example.com', '--role', 'read_only', '--password-stdin'], 'piped-password-1\n');
  expect(piped.code, piped.stderr).toBe(0);
  expect(piped.stdout).not.toContain('password:');
  expect((await checkSignIn(db.admin, 'reader@example.com', 'piped-password-1', undefined)).ok).toBe(true);

  const taken = await cli(['admin', 'create', 'FIRST@example.com']);
  expect(taken.code).toBe(1);
  expect(taken.stderr).toContain('exists already');
  const badRole = await cli(['admin', 'create', 'x@example.com', '--role', 'root']);
  expect(badRole.code).toBe(1);
  expect(badRole.stderr).toContain('role must be one of owner, developer, read_only');
  const usage = await cli(['admin', 'nope']);
  expect(usage.code).toBe(1);
  expect(usage.stderr).toContain('admin: expected');

  const list = await cli(['admin', 'list']);
  expect(list.stdout.split('\n').filter((l) => l.includes('@')).map((l) => l.split('\t').slice(1, 3))).toEqual([
    ['first@example.com', 'owner'],
    ['reader@example.com', 'read_only'],
  ]);
}, 180_000);
