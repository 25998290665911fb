/**
 * The storage end-to-end suite (test/helpers/storage-suite.ts) on the S3 backend, against an
 * s3rver started in this process on a free port with its files in a temporary directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { freePort } from '../test/helpers/net.ts';
import { storageSuite } from '../test/helpers/storage-suite.ts';

let server: S3rver | undefined;
let dir: string | undefined;

storageSuite({
  name: 's3',
  async setup() {
    const port = await freePort();
    dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-s3rver-'));
    server = new S3rver({ port, address: '127.0.0.1', directory: dir, silent: true });
    await server.run();
    return {
      STORAGE_BACKEND: 's3',
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_ACCESS_KEY: 'S3RVER', // s3rver's built-in credentials
      S3_SECRET_KEY: 'S3RVER',
      S3_BUCKET: 'nextmavens-test', // created by the backend at start
    };
  },
  async teardown() {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  },
});
