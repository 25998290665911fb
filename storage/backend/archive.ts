/**
 * Blobs as backups keep them (backup/create.ts, backup/restore.ts) and as point-in-time restore
 * archives them before they are deleted (ArchivingBackend, BACKUP_PITR): each blob once, under a
 * name derived from its key (`blobs/<h2>/<sha256 of the key>`: fixed length whatever the object
 * name), zstd-compressed, with a JSON sidecar holding the key, size and SHA-256 of the bytes.
 * Blob keys are versioned and blobs immutable, so a blob archived once never needs writing again:
 * successive backups share them.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { putBytes, type BlobInfo, type BlobRange, type PutOptions, type StagedBlob, type StagedInfo, type StorageBackend, type WrittenBlob } from './types.ts';

/** Where archived files are written and read: a directory (directoryArchive) or a backup target (backup/store.ts). */
export interface BlobArchive {
  exists(name: string): Promise<boolean>;
  /** Writes `body` under `name`, atomically (readers see all or nothing). */
  write(name: string, body: Readable): Promise<void>;
  read(name: string): Promise<Readable>;
}

export interface ArchivedBlob {
  key: string;
  size: number;
  sha256: string;
  /** The compressed file, relative to the archive. */
  file: string;
}

/** The archive file names of a blob key. */
export function archivedBlobFile(key: string): string {
  const h = createHash('sha256').update(key).digest('hex');
  return `blobs/${h.slice(0, 2)}/${h}.zst`;
}

const sidecar = (file: string) => file.replace(/\.zst$/, '.json');

/** zstd level 1 (fast; objects are often compressed already), in 1 MiB output chunks (the 16 KiB default costs 3× the time). */
export const compress = () => zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 }, chunkSize: 1 << 20 });
export const decompress = () => zlib.createZstdDecompress({ chunkSize: 1 << 20 });

/** A pass-through that counts and SHA-256-hashes what flows through it. */
export function sha256Meter(): Transform & { readonly size: number; digest(): string } {
  const hash = createHash('sha256');
  let size = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  let digest: string | undefined;
  return Object.defineProperties(t, { size: { get: () => size }, digest: { value: () => (digest ??= hash.digest('hex')) } }) as Transform & { readonly size: number; digest(): string };
}

/** Copies the blob at `key` of `backend` into `archive` unless it is there already; its record either way. */
export async function archiveBlob(archive: BlobArchive, backend: StorageBackend, key: string): Promise<ArchivedBlob & { written: boolean }> {
  const file = archivedBlobFile(key);
  if (await archive.exists(sidecar(file))) {
    const info = JSON.parse(await streamText(await archive.read(sidecar(file)))) as ArchivedBlob;
    return { ...info, file, written: false };
  }
  const meter = sha256Meter();
  const out = new PassThrough();
  const written = archive.write(file, out);
  await Promise.all([pipeline(await backend.get(key), meter, compress(), out), written]);
  const info: ArchivedBlob = { key, size: meter.size, sha256: meter.digest(), file };
  // The sidecar last: a blob counts as archived only once its bytes are complete.
  await archive.write(sidecar(file), PassThrough.from([Buffer.from(JSON.stringify(info))]) as Readable);
  return { ...info, written: true };
}

/** The bytes of an archived blob, decompressed, and its record; undefined when the archive lacks it. */
export async function readArchivedBlob(archive: BlobArchive, key: string): Promise<{ info: ArchivedBlob; body: Readable } | undefined> {
  const file = archivedBlobFile(key);
  if (!(await archive.exists(sidecar(file)))) return undefined;
  const info = JSON.parse(await streamText(await archive.read(sidecar(file)))) as ArchivedBlob;
  return { info, body: (await archive.read(file)).pipe(decompress()) };
}

async function streamText(s: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/** A BlobArchive in a directory: files written to a temporary name and renamed into place. */
export function directoryArchive(root: string): BlobArchive & { path(name: string): string } {
  const resolve = (name: string) => {
    const p = path.resolve(root, name);
    if (!p.startsWith(path.resolve(root) + path.sep)) throw new Error(`archive name escapes its directory: ${name}`);
    return p;
  };
  return {
    path: resolve,
    exists: (name) => stat(resolve(name)).then(() => true, () => false),
    async write(name, body) {
      const target = resolve(name);
      await mkdir(path.dirname(target), { recursive: true });
      const tmp = `${target}.${randomUUID()}.tmp`;
      try {
        await pipeline(body, createWriteStream(tmp, { mode: 0o600 })); // backups hold every secret of the database
        await rename(tmp, target);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },
    async read(name) {
      const file = resolve(name);
      await stat(file); // ENOENT now, not on the first read
      return createReadStream(file);
    },
  };
}

/** Reads the JSON file `name` of `archive`. */
export async function readJson<T>(archive: BlobArchive, name: string): Promise<T> {
  return JSON.parse(await streamText(await archive.read(name))) as T;
}

/**
 * A backend that archives every blob as it is committed and before it is deleted (BACKUP_PITR):
 * every blob any row ever referenced is in the archive, so a point-in-time restore finds the
 * objects as they were at that time even without the data directory they lived in. A write whose
 * blob cannot be archived fails (before its row commits); a blob that cannot be archived is not
 * deleted (cleanup tries again).
 */
export class ArchivingBackend implements StorageBackend {
  readonly inner: StorageBackend;
  private readonly archive: BlobArchive;
  constructor(inner: StorageBackend, archive: BlobArchive) {
    this.inner = inner;
    this.archive = archive;
  }
  get kind() {
    return this.inner.kind;
  }
  init = () => this.inner.init();
  get = (key: string, range?: BlobRange) => this.inner.get(key, range);
  head = (key: string): Promise<BlobInfo | null> => this.inner.head(key);
  list = (): AsyncIterable<BlobInfo> => this.inner.list();
  listStaged = (): AsyncIterable<StagedInfo> => this.inner.listStaged();
  removeStaged = (id: string) => this.inner.removeStaged(id);
  close = () => this.inner.close?.();

  async stage(key: string, body: Readable, opts: PutOptions): Promise<StagedBlob> {
    const staged = await this.inner.stage(key, body, opts);
    return {
      key: staged.key,
      size: staged.size,
      etag: staged.etag,
      commit: async () => {
        await staged.commit();
        await archiveBlob(this.archive, this.inner, key);
      },
      abort: () => staged.abort(),
    };
  }

  async put(key: string, body: Readable, opts: PutOptions): Promise<WrittenBlob> {
    const written = await this.inner.put(key, body, opts);
    await archiveBlob(this.archive, this.inner, key);
    return written;
  }

  async putBytes(key: string, bytes: Buffer, opts: PutOptions): Promise<void> {
    await putBytes(this.inner, key, bytes, opts);
    await archiveBlob(this.archive, this.inner, key);
  }

  async copy(from: string, to: string): Promise<void> {
    await this.inner.copy(from, to);
    await archiveBlob(this.archive, this.inner, to);
  }

  async delete(keys: string[]): Promise<void> {
    const archived: string[] = [];
    for (const key of keys) {
      try {
        await archiveBlob(this.archive, this.inner, key);
        archived.push(key);
      } catch (err) {
        if ((err as Error).name !== 'BlobNotFound') throw err;
      }
    }
    await this.inner.delete(archived);
  }
}
