/**
 * The storage end-to-end suite (test/helpers/storage-suite.ts) on the filesystem backend, the embedded default.
 */
import { randomUUID } from 'node:crypto';
import { utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/load.ts';
import { storageSuite } from '../test/helpers/storage-suite.ts';

const root = (config: Config) => path.join(config.dataDir, 'storage');
const twoHoursAgo = () => new Date(Date.now() - 2 * 60 * 60 * 1000);

storageSuite({
  name: 'fs',
  setup: async () => ({ STORAGE_BACKEND: 'fs' }),
  async leaveStaged(config) {
    const id = randomUUID();
    await writeFile(path.join(root(config), 'tmp', id), 'half an upload');
    return id;
  },
  async age(config, { blob, staged }) {
    if (blob) await utimes(path.join(root(config), 'objects', ...blob.split('/').map(encodeURIComponent)), twoHoursAgo(), twoHoursAgo());
    if (staged) await utimes(path.join(root(config), 'tmp', staged), twoHoursAgo(), twoHoursAgo());
  },
});
