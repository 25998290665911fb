/**
 * The load generator of bench/rest.ts in a child process: one autocannon run described by plain
 * data (the first IPC message), its figures sent back. Running it in its own process keeps
 * autocannon's own HTTP parsing out of the servers' event loop, for the product and the floor
 * alike. (Not a worker thread: autocannon skips its result aggregation off the main thread,
 * node_modules/autocannon/lib/run.js.)
 */
import { once } from 'node:events';
import autocannon from 'autocannon';
import { visibleItemId } from './fixtures.ts';

export interface CannonJob {
  title: string;
  url: string;
  method?: 'GET' | 'POST' | 'PATCH';
  headers: Record<string, string>;
  body?: string;
  /** Each request's path is this prefix plus a random visible primary key (bench/fixtures.ts). */
  pkPath?: string;
  connections: number;
  duration: number;
}

const [job] = (await once(process, 'message')) as [CannonJob];
const requests = job.pkPath
  ? [{ method: job.method ?? 'GET', body: job.body, setupRequest: (req: object) => ({ ...req, path: `${job.pkPath}${visibleItemId(Math.floor(Math.random() * 10_000))}` }) }]
  : undefined;
const result = await autocannon({
  title: job.title,
  url: job.url,
  method: job.method ?? 'GET',
  headers: job.headers,
  body: job.body,
  connections: job.connections,
  duration: job.duration,
  ...(requests && { requests }),
});
process.send!({ total: result.requests.total, duration: result.duration, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors });
