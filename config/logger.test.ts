/**
 * What a person and a log collector read: LOG_FORMAT=pretty gives readable lines, json one JSON
 * object per line, auto picks json when stderr is not a terminal; console.error of libraries
 * (PostGraphile) goes through the same logger. Credentials headers never reach the logs.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const SCRIPT = `
  import { captureConsole, createLogger } from './config/logger.ts';
  const log = createLogger({ logLevel: 'info', logFormat: process.env.FORMAT });
  captureConsole(log);
  log.info({ req: { headers: { authorization: 'Bearer secret-token', apikey: 'k' } } }, 'applied sql/0001_roles.sql');
  console.error(new Error('schema build failed'));
  log.flush();
`;

async function logsOf(format: string): Promise<string> {
  const { stderr } = await run(process.execPath, ['--input-type=module', '-e', SCRIPT], { cwd: ROOT, env: { ...process.env, FORMAT: format } });
  return stderr;
}

describe('logs', () => {
  it('pretty: readable lines with the level and message, no JSON', async () => {
    const out = await logsOf('pretty');
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: applied sql\/0001_roles\.sql$/m);
    expect(out).toMatch(/ERROR: schema build failed/);
    expect(out).not.toMatch(/^\{/m);
    expect(out).not.toContain('secret-token');
  });

  it('json (and auto off a terminal): one JSON object per line, console errors included', async () => {
    for (const format of ['json', 'auto']) {
      const lines = (await logsOf(format)).trim().split('\n').map((l) => JSON.parse(l));
      expect(lines[0]).toMatchObject({ level: 30, msg: 'applied sql/0001_roles.sql' });
      expect(lines[0].req?.headers?.authorization).toBeUndefined();
      expect(lines[1]).toMatchObject({ level: 50, component: 'console', msg: 'schema build failed' });
    }
  });
});
