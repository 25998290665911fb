/**
 * On a Node older than package.json's engines (the machine's /usr/bin/node is Node 20), every entry
 * point says in one line which Node is needed and how to get it, before anything else runs: the
 * preflight itself, the CLI shim (package.json `bin`), `npm start`, `npm test` and the other npm
 * scripts. On the Node running the tests (24), the preflight is silent and the `bin` works.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; engines: { node: string }; bin: Record<string, string> };
const preflight = createRequire(import.meta.url)('../scripts/check-node.cjs') as {
  tooOld(version: string): boolean;
  REQUIRED: [number, number];
};

const OLD_NODE = '/usr/bin/node';
const oldVersion = existsSync(OLD_NODE) ? spawnSync(OLD_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim() : '';
const haveOldNode = oldVersion !== '' && preflight.tooOld(oldVersion);
const ONE_LINE = new RegExp(
  `^nextmavens: Node ${oldVersion.replace(/\./g, '\\.')} is too old: Node 22\\.18 or newer is needed \\(24 LTS recommended\\); get it from https://nodejs\\.org/ or with \`nvm install 24\`, or run \`\\. scripts/ensure-node\\.sh\` to put Node 24 from npm on PATH\\.$`,
);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nm-node-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Output lines that are not npm's own "> pkg@version script" / "> command" header. */
function ownLines(output: string): string[] {
  return output.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('> '));
}

describe('the Node version preflight', () => {
  it('reads the required version from package.json engines and compares major.minor', () => {
    expect(pkg.engines.node).toBe(`>=${preflight.REQUIRED.join('.')}`);
    for (const v of ['v20.20.2', 'v18.0.0', 'v22.17.9', '22.9.0']) expect(preflight.tooOld(v), v).toBe(true);
    for (const v of ['v22.18.0', 'v22.20.1', 'v23.0.0', process.version]) expect(preflight.tooOld(v), v).toBe(false);
  });

  it.skipIf(!haveOldNode)(`on ${oldVersion || 'an old Node'} (${OLD_NODE}): the preflight and the CLI shim print one line and exit 1`, () => {
    for (const args of [['scripts/check-node.cjs'], ['cli/nextmavens.cjs', 'start'], ['cli/nextmavens.cjs', 'gen', 'types'], [path.join(ROOT, pkg.bin.nextmavens), '--version']]) {
      const r = spawnSync(OLD_NODE, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DATA_DIR: path.join(dir, 'data') } });
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trimEnd(), args.join(' ')).toMatch(ONE_LINE);
    }
    expect(existsSync(path.join(dir, 'data'))).toBe(false); // nothing ran
  });

  it.skipIf(!haveOldNode)('npm start, npm test and the other npm scripts with the old Node first on PATH: one line, non-zero exit', () => {
    const env = { ...process.env, PATH: `/usr/bin:${process.env.PATH}`, DATA_DIR: path.join(dir, 'data'), PORT: '1', npm_config_update_notifier: 'false' };
    // `npm test` filtered to no file: were the preflight missing, vitest would find nothing to run
    // and exit 0 (never the whole suite).
    for (const args of [['start'], ['test', '--', '--passWithNoTests', '__no_such_test_file__'], ['run', 'migrate'], ['run', 'typecheck'], ['run', 'bench:rest']]) {
      const r = spawnSync('/usr/bin/npm', args, { cwd: ROOT, encoding: 'utf8', env, timeout: 60_000 });
      const lines = ownLines(r.stdout + r.stderr);
      expect(r.status, `npm ${args.join(' ')}: ${r.stdout}${r.stderr}`).not.toBe(0);
      expect(lines, `npm ${args.join(' ')}`).toHaveLength(1);
      expect(lines[0], `npm ${args.join(' ')}`).toMatch(ONE_LINE);
    }
    expect(existsSync(path.join(dir, 'data'))).toBe(false);
  }, 90_000);

  it(`on ${process.version}: the preflight is silent and the bin (linked as npm link does) runs the CLI`, async () => {
    const ok = spawnSync(process.execPath, ['scripts/check-node.cjs'], { cwd: ROOT, encoding: 'utf8' });
    expect([ok.status, ok.stdout, ok.stderr]).toEqual([0, '', '']);
    const link = path.join(dir, 'nextmavens');
    await symlink(path.join(ROOT, pkg.bin.nextmavens), link);
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` };
    const version = spawnSync(link, ['--version'], { cwd: dir, encoding: 'utf8', env });
    expect(version.stderr).toBe('');
    expect([version.status, version.stdout]).toEqual([0, `${pkg.version}\n`]);
    const bad = spawnSync(link, ['nonsense'], { cwd: dir, encoding: 'utf8', env });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('unknown command "nonsense"');
  });
});
