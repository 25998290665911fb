/**
 * Image transforms with sharp, served by http/routes/render/ (`GET
 * /render/image/{authenticated|public|sign}/:bucket/*`): `width`, `height` (clamped to
 * 1..MAX_DIMENSION, never enlarged), `resize` (cover|contain|fill), `quality` (20..100) and
 * `format` (origin|webp|avif|png|jpeg; absent: webp when the client accepts it, else the original
 * format). storage-js reaches them through `download(path, {transform})`, `getPublicUrl(path,
 * {transform})` and `createSignedUrl(path, exp, {transform})`, whose token carries the
 * transformations. Access is decided exactly as for the untransformed object.
 *
 * What is transformed is decided by the bytes, not the stored content type (storage-js uploads a
 * Buffer as text/plain unless told otherwise): PNG, JPEG, WebP, AVIF, GIF and TIFF are recognised
 * by their signatures, anything else (SVG, PDF, text, …) is InvalidImage and never reaches libvips.
 * The object is read (sharp would buffer a stream input whole anyway) and decoded by sharp, bounded
 * by MAX_INPUT_PIXELS; the output, at most MAX_DIMENSION² pixels, is buffered so that a bad image
 * is a clean 400 rather than a cut response.
 */
import type SharpModule from 'sharp';
import { STORAGE_ERRORS } from './errors.ts';

export const MAX_DIMENSION = 2500;
/** Largest source image decoded (pixels): bounds memory per transform. */
export const MAX_INPUT_PIXELS = 50_000_000;

const RESIZE = ['cover', 'contain', 'fill'] as const;
const FORMATS = ['origin', 'webp', 'avif', 'png', 'jpeg'] as const;
type OutputFormat = Exclude<(typeof FORMATS)[number], 'origin'> | 'gif' | 'tiff';

export interface TransformOptions {
  width?: number;
  height?: number;
  resize?: (typeof RESIZE)[number];
  quality?: number;
  format?: (typeof FORMATS)[number];
}

const invalid = (message: string) => STORAGE_ERRORS.invalidRequest(message);

function intParam(name: string, v: unknown, min: number, max: number, clamp: boolean): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : /^\d+$/.test(String(v)) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0) throw invalid(`${name} must be a non-negative integer`);
  if (n === 0) return undefined; // 0 = not set, as supabase/storage
  if (clamp) return Math.min(Math.max(n, min), max);
  if (n < min || n > max) throw invalid(`${name} must be between ${min} and ${max}`);
  return n;
}

/** Transform options from a query string or a `transform` JSON object; bad values are InvalidRequest. */
export function parseTransform(input: unknown): TransformOptions {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object') throw invalid('transform must be an object');
  const q = input as Record<string, unknown>;
  const t: TransformOptions = {
    width: intParam('width', q.width, 1, MAX_DIMENSION, true),
    height: intParam('height', q.height, 1, MAX_DIMENSION, true),
    quality: intParam('quality', q.quality, 20, 100, false),
  };
  if (q.resize !== undefined && q.resize !== '') {
    if (!RESIZE.includes(q.resize as never)) throw invalid(`resize must be one of ${RESIZE.join(', ')}`);
    t.resize = q.resize as TransformOptions['resize'];
  }
  if (q.format !== undefined && q.format !== '') {
    const f = q.format === 'jpg' ? 'jpeg' : q.format;
    if (!FORMATS.includes(f as never)) throw invalid(`format must be one of ${FORMATS.join(', ')}`);
    t.format = f as TransformOptions['format'];
  }
  for (const k of Object.keys(t) as (keyof TransformOptions)[]) if (t[k] === undefined) delete t[k];
  return t;
}

/** `width:100,height:100,resize:cover,quality:80,format:webp`, the form signed tokens carry. */
export function transformationsString(t: TransformOptions): string {
  return (['width', 'height', 'resize', 'quality', 'format'] as const)
    .filter((k) => t[k] !== undefined)
    .map((k) => `${k}:${t[k]}`)
    .join(',');
}

/**
 * The `x-transformations` header supabase/storage sends with a transformed image: the operations
 * in its image proxy's (imgproxy's) words, e.g. `height:200,width:200,resizing_type:fill,quality:60`
 * (cover = fill, contain = fit, fill = force).
 */
export function transformationsHeader(t: TransformOptions): string {
  const parts: string[] = [];
  if (t.height !== undefined) parts.push(`height:${t.height}`);
  if (t.width !== undefined) parts.push(`width:${t.width}`);
  if (t.width !== undefined || t.height !== undefined) parts.push(`resizing_type:${({ cover: 'fill', contain: 'fit', fill: 'force' } as const)[t.resize ?? 'cover']}`);
  if (t.quality !== undefined) parts.push(`quality:${t.quality}`);
  if (t.format !== undefined) parts.push(`format:${t.format}`);
  return parts.join(',');
}

export function parseTransformations(s: string | undefined): TransformOptions {
  const q: Record<string, string> = {};
  for (const part of (s ?? '').split(',')) {
    const [k, v] = part.split(':');
    if (k && v !== undefined) q[k] = v;
  }
  return parseTransform(q);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The raster format the bytes begin with (their signature), or undefined for anything else. */
export function imageFormat(b: Buffer): OutputFormat | undefined {
  const ascii = (start: number, end: number) => (b.length >= end ? b.toString('latin1', start, end) : '');
  if (b.length >= 8 && b.subarray(0, 8).equals(PNG_SIGNATURE)) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'tiff';
  if (ascii(4, 8) === 'ftyp') {
    // ISO BMFF: the major brand, then the compatible brands, up to the end of the ftyp box.
    const end = Math.min(b.readUInt32BE(0), b.length, 64);
    for (let at = 8; at + 4 <= end; at += at === 8 ? 8 : 4) if (['avif', 'avis'].includes(ascii(at, at + 4))) return 'avif';
  }
  return undefined;
}
export const FORMAT_MIME: Record<OutputFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  tiff: 'image/tiff',
};
const FIT = { cover: 'cover', contain: 'inside', fill: 'fill' } as const;

/** The output format as the request asks for it: explicit, else negotiated (webp if accepted), else `origin` (the source's own). */
export function requestedFormat(t: TransformOptions, accept: string | undefined): Exclude<TransformOptions['format'], undefined> {
  if (t.format) return t.format;
  return /image\/webp/i.test(accept ?? '') ? 'webp' : 'origin';
}

/** sharp (libvips, ~25 MiB resident) is loaded on the first transform, not at start. */
let sharpLoading: Promise<typeof SharpModule> | undefined;
const loadSharp = () => (sharpLoading ??= import('sharp').then((m) => m.default));

/** The image `bytes` transformed (InvalidImage unless they are a raster image sharp decodes), and the format written. */
export async function transformImage(bytes: Buffer, t: TransformOptions, requested: Exclude<TransformOptions['format'], undefined>, storedType: string): Promise<{ data: Buffer; format: OutputFormat }> {
  const origin = imageFormat(bytes);
  if (!origin) throw STORAGE_ERRORS.invalidImage(`The object is not a PNG, JPEG, WebP, AVIF, GIF or TIFF image (stored as ${storedType || 'unknown'})`);
  const format = requested === 'origin' ? origin : requested;
  const sharp = await loadSharp();
  const image = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error', animated: false }).rotate();
  if (t.width || t.height) image.resize({ width: t.width, height: t.height, fit: FIT[t.resize ?? 'cover'], withoutEnlargement: true });
  image.toFormat(format, t.quality ? { quality: t.quality } : {});
  try {
    const { data } = await image.toBuffer({ resolveWithObject: true });
    return { data, format };
  } catch (err) {
    const message = (err as Error).message ?? '';
    if (/pixel limit/i.test(message)) throw STORAGE_ERRORS.invalidImage(`The image is larger than ${MAX_INPUT_PIXELS} pixels`);
    if (/unsupported image format|corrupt|bad seek|premature end|invalid|not a known file format|vipsload|load_source/i.test(message)) throw STORAGE_ERRORS.invalidImage();
    throw err;
  }
}
