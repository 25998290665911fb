/**
 * The filesystem blob backend (embedded default, under DATA_DIR/storage). Uploads stream into a
 * temporary file and only become visible under their final, versioned key once committed, so an
 * aborted upload leaves nothing behind and an overwrite never exposes half a file.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';

export interface StagedBlob {
  size: number;
  etag: string;
  /** Moves the staged bytes to their final key. */
  commit(key: string): Promise<void>;
  discard(): Promise<void>;
}

export class SizeLimitExceeded extends Error {}

export class FsBackend {
  private readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  private file(key: string): string {
    const resolved = path.resolve(this.root, 'objects', key);
    if (!resolved.startsWith(path.resolve(this.root, 'objects') + path.sep)) throw new Error('key escapes the storage root');
    return resolved;
  }

  /** Streams `body` to a temporary file, counting bytes and hashing; over `maxBytes` aborts. */
  async stage(body: Readable, maxBytes: number): Promise<StagedBlob> {
    const tmpDir = path.join(this.root, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = path.join(tmpDir, randomUUID());
    const hash = createHash('md5');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new SizeLimitExceeded());
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(tmp));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const file = (key: string) => this.file(key);
    return {
      size,
      etag: `"${hash.digest('hex')}"`,
      async commit(key) {
        const target = file(key);
        await mkdir(path.dirname(target), { recursive: true });
        await rename(tmp, target);
      },
      discard: () => rm(tmp, { force: true }),
    };
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    return createReadStream(this.file(key), range);
  }

  async size(key: string): Promise<number> {
    return (await stat(this.file(key))).size;
  }

  async copy(from: string, to: string): Promise<void> {
    const target = this.file(to);
    await mkdir(path.dirname(target), { recursive: true });
    await pipeline(createReadStream(this.file(from)), createWriteStream(target));
  }

  async remove(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }
}
