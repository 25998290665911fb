/**
 * A realtime server as compose runs it (`nextmavens serve realtime`) in a child process, on a test
 * database and its replication slot, for tests that kill or restart servers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { TEST_JWT_SECRET, type TestDatabase } from './db.ts';

export function spawnRealtime(db: TestDatabase, port: number, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['cli/nextmavens.ts', 'serve', 'realtime'], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: db.url,
      JWT_SECRET: TEST_JWT_SECRET,
      POSTGRESQL_REPLICATION_SLOT: db.name,
      REALTIME_PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      DATA_DIR: `/tmp/${db.name}`,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
