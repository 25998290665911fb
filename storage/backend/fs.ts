/**
 * The filesystem blob backend (embedded default, under DATA_DIR/storage). Uploads stream into a
 * staging file under tmp/ and only appear under their final, versioned key (objects/…) once
 * committed (a rename), so an aborted upload leaves nothing readable behind and an overwrite
 * never exposes half a file. Blobs are immutable, so a copy is a hard link.
 */
import { createWriteStream, type Dirent } from 'node:fs';
import { link, mkdir, open, opendir, readFile, rename, rm, rmdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { byteMeter } from './meter.ts';
import { BlobNotFound, type BlobInfo, type BlobRange, type PutOptions, type StagedBlob, type StagedInfo, type StorageBackend, type WrittenBlob } from './types.ts';

const STAGED_ID = /^[0-9a-f-]{36}$/;
/**
 * Buffer of the file streams (bytes): reads of this size, and writes queued up to it, which the
 * write stream sends as one writev. With the default (64 KiB reads, a 16 KiB write buffer that
 * pauses the request after every chunk off the socket) a 64 MiB object took a thousand reads and
 * as many pause/resume turns; this is memory per transfer in flight, the peak RSS bench/storage.ts prints.
 */
const STREAM_CHUNK = 512 * 1024;
const errno = (err: unknown) => (err as NodeJS.ErrnoException)?.code;
/**
 * Longest file name written (bytes; what file systems allow). A longer encoded segment (never
 * written before: it failed) is split into directories of one byte less, each marked by a
 * trailing `%` (an encodeURIComponent result never ends in `%`), so object names up to the
 * service's 1024 bytes fit whatever their characters, and every shorter one keeps its file.
 */
const MAX_FILE_NAME = 255;
const CONTINUED = '%';

/** The file names of one key segment: URI-encoded, split as above. */
function fileNames(segment: string): string[] {
  const encoded = encodeURIComponent(segment);
  if (encoded.length <= MAX_FILE_NAME) return [encoded];
  const names: string[] = [];
  for (let i = 0; i < encoded.length; i += MAX_FILE_NAME - 1) names.push(encoded.slice(i, i + MAX_FILE_NAME - 1));
  return names.map((n, i) => (i < names.length - 1 ? n + CONTINUED : n));
}

/** The key segments of a blob's path below objects/ (the inverse of fileNames), or undefined for a file this backend did not write. */
function keySegments(names: string[]): string[] | undefined {
  const segments: string[] = [];
  let pending = '';
  for (const n of names) {
    if (n.endsWith(CONTINUED)) {
      pending += n.slice(0, -1);
      continue;
    }
    try {
      segments.push(decodeURIComponent(pending + n));
    } catch {
      return undefined;
    }
    pending = '';
  }
  return pending ? undefined : segments;
}

export class FsBackend implements StorageBackend {
  readonly kind = 'fs';
  private readonly objects: string;
  private readonly tmp: string;
  constructor(root: string) {
    this.objects = path.resolve(root, 'objects');
    this.tmp = path.resolve(root, 'tmp');
  }

  /** The file of a key: each segment URI-encoded (no separators, no surprises in file names), long ones split (fileNames). */
  private file(key: string): string {
    const segments = key.split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..')) throw new Error(`invalid blob key: ${key}`);
    const resolved = path.resolve(this.objects, ...segments.flatMap(fileNames));
    if (!resolved.startsWith(this.objects + path.sep)) throw new Error('key escapes the storage root');
    return resolved;
  }

  async init(): Promise<void> {
    await mkdir(this.objects, { recursive: true });
    await mkdir(this.tmp, { recursive: true });
  }

  /** Runs `place(target)` after creating its directory, again if a concurrent prune removed it. */
  private async place(key: string, placeFn: (target: string) => Promise<void>): Promise<void> {
    const target = this.file(key);
    for (let attempt = 0; ; attempt++) {
      await mkdir(path.dirname(target), { recursive: true });
      try {
        return await placeFn(target);
      } catch (err) {
        if (errno(err) !== 'ENOENT' || attempt >= 3) throw err;
      }
    }
  }

  async stage(key: string, body: Readable, opts: PutOptions): Promise<StagedBlob> {
    this.file(key); // validate before reading anything
    await mkdir(this.tmp, { recursive: true });
    const tmp = path.join(this.tmp, randomUUID());
    const meter = byteMeter(opts.maxBytes);
    try {
      await pipeline(body, meter, createWriteStream(tmp, { highWaterMark: STREAM_CHUNK }));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const etag = meter.etag();
    return {
      key,
      size: meter.size,
      etag,
      commit: () => this.place(key, (target) => rename(tmp, target)),
      abort: () => rm(tmp, { force: true }),
    };
  }

  /** As put, for bytes in memory: one write of the staging file, no stream. */
  async putBytes(key: string, bytes: Buffer): Promise<void> {
    this.file(key);
    await mkdir(this.tmp, { recursive: true });
    const tmp = path.join(this.tmp, randomUUID());
    try {
      await writeFile(tmp, bytes);
      await this.place(key, (target) => rename(tmp, target));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async put(key: string, body: Readable, opts: PutOptions): Promise<WrittenBlob> {
    const staged = await this.stage(key, body, opts);
    try {
      await staged.commit();
    } catch (err) {
      await staged.abort();
      throw err;
    }
    return { size: staged.size, etag: staged.etag };
  }

  async get(key: string, range?: BlobRange): Promise<Readable> {
    let handle;
    try {
      handle = await open(this.file(key), 'r');
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new BlobNotFound(key);
      throw err;
    }
    return handle.createReadStream({ highWaterMark: STREAM_CHUNK, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async getBytes(key: string): Promise<Buffer> {
    try {
      return await readFile(this.file(key));
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new BlobNotFound(key);
      throw err;
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    try {
      const s = await stat(this.file(key));
      return { key, size: s.size, lastModified: s.mtime };
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      throw err;
    }
  }

  async delete(keys: string[]): Promise<void> {
    await Promise.all(
      keys.map(async (key) => {
        const file = this.file(key);
        await rm(file, { force: true });
        // Prune the now-empty folders up to objects/ (a concurrent writer re-creates them: see place).
        for (let dir = path.dirname(file); dir.startsWith(this.objects + path.sep); dir = path.dirname(dir)) {
          try {
            await rmdir(dir);
          } catch {
            break;
          }
        }
      }),
    );
  }

  async copy(from: string, to: string): Promise<void> {
    const source = this.file(from);
    try {
      await this.place(to, async (target) => {
        await link(source, target);
        // The link shares the source's inode: mark it new so cleanup's grace period covers it too.
        const now = new Date();
        await utimes(target, now, now);
      });
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new BlobNotFound(from);
      if (errno(err) !== 'EXDEV' && errno(err) !== 'EPERM') throw err;
      await this.put(to, (await this.get(from)) as Readable, { maxBytes: Infinity });
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    yield* this.walk(this.objects);
  }

  private async *walk(dir: string): AsyncIterable<BlobInfo> {
    let entries;
    try {
      entries = await opendir(dir);
    } catch (err) {
      if (errno(err) === 'ENOENT') return;
      throw err;
    }
    for await (const e of entries as AsyncIterable<Dirent>) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) yield* this.walk(full);
      else if (e.isFile()) {
        const s = await stat(full).catch(() => null);
        if (!s) continue;
        const key = keySegments(path.relative(this.objects, full).split(path.sep))?.join('/');
        if (key !== undefined) yield { key, size: s.size, lastModified: s.mtime };
      }
    }
  }

  async *listStaged(): AsyncIterable<StagedInfo> {
    let entries;
    try {
      entries = await opendir(this.tmp);
    } catch (err) {
      if (errno(err) === 'ENOENT') return;
      throw err;
    }
    for await (const e of entries as AsyncIterable<Dirent>) {
      if (!e.isFile() || !STAGED_ID.test(e.name)) continue;
      const s = await stat(path.join(this.tmp, e.name)).catch(() => null);
      if (s) yield { id: e.name, lastModified: s.mtime };
    }
  }

  async removeStaged(id: string): Promise<void> {
    if (!STAGED_ID.test(id)) throw new Error(`not a staged upload id: ${id}`);
    await rm(path.join(this.tmp, id), { force: true });
  }
}
