/**
 * The S3 blob backend (STORAGE_BACKEND=s3; MinIO in compose, any S3-compatible server) over the
 * `minio` client. Every object of every storage bucket lives in the one S3_BUCKET under the
 * service's versioned key.
 *
 * Uploads stream: bodies up to one part (8 MiB) are sent in one PUT, larger ones as a multipart
 * upload written part by part with at most two parts in flight (the minio client's own putObject
 * buffers a part of up to 5 TiB / 10,000 for bodies of unknown length, and never aborts a failed
 * multipart upload). A staged blob is written directly at its versioned key, which no row names
 * yet: `commit` has nothing left to do and `abort` deletes it.
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, CopyDestinationOptions, CopySourceOptions } from 'minio';
import type { StorageConfig } from '../../config/load.ts';
import { byteMeter } from './meter.ts';
import { BlobNotFound, type BlobInfo, type BlobRange, type PutOptions, type StagedBlob, type StagedInfo, type StorageBackend, type WrittenBlob } from './types.ts';

const MIN_PART = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;
const PARTS_IN_FLIGHT = 2;
const code = (err: unknown) => (err as { code?: string })?.code;
const isMissing = (err: unknown) => ['NoSuchKey', 'NotFound', 'NoSuchObject'].includes(code(err) ?? '');

/**
 * The S3 key of a blob key: each segment with every byte outside [A-Za-z0-9._-] written as `~XX`.
 * Object names may hold characters (`+`, `'`, `%`, spaces, …) that some S3-compatible servers
 * mangle in listings; the escaped form survives every server and maps back exactly.
 */
export function s3Key(key: string): string {
  return key
    .split('/')
    .map((seg) => Array.from(Buffer.from(seg, 'utf8'), (b) => (/[A-Za-z0-9._-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `~${b.toString(16).toUpperCase().padStart(2, '0')}`)).join(''))
    .join('/');
}

/** S3's limit on a key (UTF-8 bytes). */
export const MAX_S3_KEY_BYTES = 1024;

/** s3Key for a blob about to be written: one S3 would refuse (too long once escaped) fails first, as `KeyTooLongError` (a 400). */
function writableS3Key(key: string): string {
  const object = s3Key(key);
  if (Buffer.byteLength(object) > MAX_S3_KEY_BYTES) {
    throw Object.assign(new Error(`blob key longer than ${MAX_S3_KEY_BYTES} bytes once escaped`), { code: 'KeyTooLongError' });
  }
  return object;
}

/** The blob key of an S3 key written by s3Key, or null. */
export function fromS3Key(key: string): string | null {
  if (!/^(?:[A-Za-z0-9._/-]|~[0-9A-F]{2})*$/.test(key)) return null;
  const out: number[] = [];
  for (let i = 0; i < key.length; i++) {
    if (key[i] === '~') {
      out.push(parseInt(key.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(key.charCodeAt(i));
  }
  return Buffer.from(out).toString('utf8');
}

export class S3Backend implements StorageBackend {
  readonly kind = 's3';
  readonly bucket: string;
  private readonly region: string;
  private readonly client: Client;
  private readonly agent: http.Agent;

  constructor(cfg: NonNullable<StorageConfig['s3']>) {
    const url = new URL(cfg.endpoint);
    const useSSL = url.protocol === 'https:';
    this.agent = useSSL ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.bucket = cfg.bucket;
    this.region = cfg.region;
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: cfg.accessKey ?? '',
      secretKey: cfg.secretKey ?? '',
      region: cfg.region,
      pathStyle: cfg.forcePathStyle,
      transportAgent: this.agent,
    });
  }

  async init(): Promise<void> {
    if (await this.client.bucketExists(this.bucket)) return;
    await this.client.makeBucket(this.bucket, this.region).catch((err) => {
      if (code(err) !== 'BucketAlreadyOwnedByYou' && code(err) !== 'BucketAlreadyExists') throw err;
    });
  }

  async stage(key: string, body: Readable, opts: PutOptions): Promise<StagedBlob> {
    const object = writableS3Key(key);
    const meter = byteMeter(opts.maxBytes);
    const partSize = Number.isFinite(opts.maxBytes) ? Math.max(MIN_PART, Math.ceil(opts.maxBytes / MAX_PARTS)) : MIN_PART;
    const headers: Record<string, string> = {};
    if (opts.contentType) headers['Content-Type'] = opts.contentType;
    if (opts.cacheControl) headers['Cache-Control'] = opts.cacheControl;
    let uploadId: string | undefined;
    const parts: { part: number; etag: string }[] = [];
    let nextPart = 1;
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;

    const sendPart = (payload: Buffer) => {
      const part = nextPart++;
      const p: Promise<void> = this.client
        .uploadPart({ bucketName: this.bucket, objectName: object, uploadID: uploadId!, partNumber: part, headers: {} }, payload)
        .then((r) => void parts.push({ part, etag: r.etag }))
        .catch((err) => void (failure ??= err))
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };

    try {
      await pipeline(body, meter, async (source: AsyncIterable<Buffer>) => {
        let chunks: Buffer[] = [];
        let buffered = 0;
        for await (const chunk of source) {
          chunks.push(chunk);
          buffered += chunk.length;
          if (buffered < partSize) continue;
          uploadId ??= await this.client.initiateNewMultipartUpload(this.bucket, object, headers);
          const payload = Buffer.concat(chunks, buffered);
          chunks = [];
          buffered = 0;
          while (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
          if (failure) throw failure;
          sendPart(payload.subarray(0, partSize));
          if (payload.length > partSize) {
            chunks.push(payload.subarray(partSize));
            buffered = payload.length - partSize;
          }
        }
        if (!uploadId) {
          await this.client.putObject(this.bucket, object, Buffer.concat(chunks, buffered), buffered, headers);
          return;
        }
        if (buffered > 0) sendPart(Buffer.concat(chunks, buffered));
        await Promise.all(inFlight);
        if (failure) throw failure;
        parts.sort((a, b) => a.part - b.part);
        await this.client.completeMultipartUpload(this.bucket, object, uploadId, parts);
      });
    } catch (err) {
      await Promise.allSettled(inFlight);
      if (uploadId) await this.client.abortMultipartUpload(this.bucket, object, uploadId).catch(() => undefined);
      throw err;
    }
    const etag = meter.etag();
    return {
      key,
      size: meter.size,
      etag,
      commit: async () => undefined,
      abort: () => this.delete([key]),
    };
  }

  async put(key: string, body: Readable, opts: PutOptions): Promise<WrittenBlob> {
    const { size, etag } = await this.stage(key, body, opts);
    return { size, etag };
  }

  async get(key: string, range?: BlobRange): Promise<Readable> {
    try {
      return range
        ? await this.client.getPartialObject(this.bucket, s3Key(key), range.start, range.end - range.start + 1)
        : await this.client.getObject(this.bucket, s3Key(key));
    } catch (err) {
      if (isMissing(err)) throw new BlobNotFound(key);
      throw err;
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    try {
      const s = await this.client.statObject(this.bucket, s3Key(key));
      return { key, size: s.size, lastModified: s.lastModified };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map(s3Key);
      const results = await this.client.removeObjects(this.bucket, batch);
      const failed = results.filter((r) => (r as { Error?: { Code?: string } }).Error && (r as { Error: { Code?: string } }).Error.Code !== 'NoSuchKey');
      if (failed.length) throw new Error(`S3 delete failed for ${failed.length} object(s)`);
    }
  }

  async copy(from: string, to: string): Promise<void> {
    const source = new CopySourceOptions({ Bucket: this.bucket, Object: s3Key(from) });
    const dest = new CopyDestinationOptions({ Bucket: this.bucket, Object: writableS3Key(to) });
    try {
      await this.client.copyObject(source, dest);
    } catch (err) {
      if (isMissing(err)) throw new BlobNotFound(from);
      // A single CopyObject is limited to 5 GiB: larger blobs are copied part by part.
      if (code(err) !== 'EntityTooLarge' && code(err) !== 'InvalidRequest') throw err;
      await this.client.composeObject(dest, [source]);
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    for await (const item of this.client.listObjectsV2(this.bucket, '', true) as AsyncIterable<{ name?: string; size: number; lastModified: Date }>) {
      const key = item.name ? fromS3Key(item.name) : null;
      if (key) yield { key, size: item.size, lastModified: new Date(item.lastModified) };
    }
  }

  async *listStaged(): AsyncIterable<StagedInfo> {
    let keyMarker = '';
    let uploadIdMarker = '';
    for (;;) {
      let page;
      try {
        page = await this.client.listIncompleteUploadsQuery(this.bucket, '', keyMarker, uploadIdMarker, '');
      } catch (err) {
        if (code(err) === 'NotImplemented') return; // some S3-compatible servers (s3rver) do not list uploads
        throw err;
      }
      for (const u of page.uploads as { key: string; uploadId: string; initiated?: Date }[]) {
        const initiated = u.initiated ? new Date(u.initiated) : new Date(NaN);
        // An unknown start time counts as now: never abort an upload that may still be running.
        yield { id: `${u.uploadId} ${u.key}`, lastModified: Number.isNaN(initiated.getTime()) ? new Date() : initiated };
      }
      if (!page.isTruncated) return;
      keyMarker = page.nextKeyMarker;
      uploadIdMarker = page.nextUploadIdMarker;
    }
  }

  async removeStaged(id: string): Promise<void> {
    const space = id.indexOf(' ');
    if (space < 1) throw new Error(`not a staged upload id: ${id}`);
    await this.client.abortMultipartUpload(this.bucket, id.slice(space + 1), id.slice(0, space));
  }

  close(): void {
    this.agent.destroy();
  }
}
