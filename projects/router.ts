/**
 * The dispatch of projects: which project a request is for — the Host `<ref>.<PROJECTS_DOMAIN>`
 * or the path prefix `/project/<ref>/` (removed before the project's gateway sees the path) — and
 * its service set (projects/service-set.ts), opened on the project's first request and closed
 * after PROJECT_IDLE_TIMEOUT seconds without a request or an open WebSocket. A request for the
 * default project (neither) is not touched: `request`/`upgrade` return false at once.
 *
 * Refused here, each as JSON: a Host and a path prefix naming two projects (400 project_mismatch),
 * an unknown ref (404 project_not_found), a paused project (503 project_paused), a write over the
 * project's database or storage quota (507 quota_exceeded). Keys are the project's own gateway's
 * business: another project's keys and tokens do not verify with this project's secret.
 *
 * The registry is read once per project and cached; every change of a row is NOTIFYed
 * (sql/0038_projects.sql), and on that notice the project's cache entry and service set go, so a
 * pause or delete holds at once on every instance.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import http from 'node:http';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import type { EdgeGuard } from '../gateway/edge.ts';
import { projectConfig } from './config.ts';
import { PATH_PREFIX, REF_PATTERN } from './names.ts';
import { openProjectServices, type ProjectServices } from './service-set.ts';
import { getProject, projectUsage, type ProjectRecord } from './store.ts';
import { migrateProject } from './template.ts';

/** How often an open project's database and storage sizes are compared with its limits. */
export const QUOTA_CHECK_MS = 30_000;

interface Entry {
  record: ProjectRecord;
  config?: Config;
  services?: Promise<ProjectServices>;
  lastUsed: number;
  inFlight: number;
  sockets: number;
  over?: { db: boolean; storage: boolean };
  quotaTimer?: NodeJS.Timeout;
}

export interface ProjectRouter {
  /** Handles the request when it is a project's (true), else leaves it to the default project. */
  request(req: IncomingMessage, res: ServerResponse): boolean;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** The projects whose services are open now. */
  open(): string[];
  /** Closes a project's services and forgets its record (after a pause, delete or change). */
  evict(ref: string): Promise<void>;
  close(): Promise<void>;
}

type Target = { ref: string; url: string } | { refusal: [number, string, string] } | undefined;

/** The project of a request: its Host's first label under the domain, or the path prefix. */
export function projectTarget(host: string | undefined, url: string, domain: string): Target {
  // Neither a project path nor a Host under the domain (the default project's every request).
  if (!url.startsWith(PATH_PREFIX) && !(host ?? '').toLowerCase().includes(domain)) return undefined;
  const name = (host ?? '').toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  const hostRef = name.endsWith(`.${domain}`) ? name.slice(0, -domain.length - 1) : undefined;
  let pathRef: string | undefined;
  let rest = url;
  if (url.startsWith(PATH_PREFIX)) {
    const end = url.slice(PATH_PREFIX.length).search(/[/?]/);
    pathRef = end === -1 ? url.slice(PATH_PREFIX.length) : url.slice(PATH_PREFIX.length, PATH_PREFIX.length + end);
    rest = end === -1 ? '/' : url.slice(PATH_PREFIX.length + end);
    if (!rest.startsWith('/')) rest = `/${rest}`;
  }
  if (hostRef === undefined && pathRef === undefined) return undefined;
  if (hostRef !== undefined && pathRef !== undefined && hostRef !== pathRef) {
    return { refusal: [400, 'project_mismatch', 'The Host and the path name two different projects'] };
  }
  const ref = (hostRef ?? pathRef)!;
  if (!REF_PATTERN.test(ref)) return { refusal: [404, 'project_not_found', 'No such project'] };
  return { ref, url: rest };
}

function sendJson(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ code, message, error: code });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function refuseSocket(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ code, message });
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

export async function createProjectRouter(opts: { config: Config; admin: pg.Pool; log: Logger; guard: EdgeGuard }): Promise<ProjectRouter> {
  const { config, admin, guard } = opts;
  const domain = config.projects.domain;
  const idleMs = config.projects.idleTimeoutSeconds * 1000;
  const entries = new Map<string, Promise<Entry | undefined>>();
  const opened = new Set<string>();
  let closed = false;

  async function load(ref: string): Promise<Entry | undefined> {
    // Listening before the first read: a change committed after it is always noticed. A stack
    // that serves no project never opens this connection.
    await (listening ??= listen().catch((err) => {
      listening = undefined;
      throw err;
    }));
    const record = await getProject(admin, ref);
    return record && { record, lastUsed: Date.now(), inFlight: 0, sockets: 0 };
  }

  function entryOf(ref: string): Promise<Entry | undefined> {
    let e = entries.get(ref);
    if (!e) {
      e = load(ref);
      entries.set(ref, e);
      e.then((v) => v || entries.delete(ref), () => entries.delete(ref)); // unknown refs are not cached
    }
    return e;
  }

  async function checkQuota(entry: Entry, services: ProjectServices): Promise<void> {
    const { db_bytes, storage_bytes } = entry.record.limits;
    if (!db_bytes && !storage_bytes) return;
    const usage = await projectUsage(services.admin).catch(() => undefined);
    if (usage) entry.over = { db: !!db_bytes && usage.dbBytes > db_bytes, storage: !!storage_bytes && usage.storageBytes > storage_bytes };
  }

  function servicesOf(entry: Entry): Promise<ProjectServices> {
    if (!entry.services) {
      const log = opts.log.child({ project: entry.record.ref });
      entry.services = (async () => {
        entry.config ??= await projectConfig(config, entry.record);
        const services = await openProjectServices(entry.config, log, guard);
        await migrateProject(config, entry.config.postgres.url, services.admin).catch(async (err) => {
          await services.close();
          throw err;
        });
        await checkQuota(entry, services);
        if (entry.record.limits.db_bytes || entry.record.limits.storage_bytes) {
          entry.quotaTimer = setInterval(() => void checkQuota(entry, services), QUOTA_CHECK_MS);
          entry.quotaTimer.unref();
        }
        opened.add(entry.record.ref);
        log.info('project: services opened');
        return services;
      })();
      entry.services.catch((err: Error) => {
        log.error({ err }, 'project: its services could not open');
        entry.services = undefined;
      });
    }
    return entry.services;
  }

  async function release(entry: Entry): Promise<void> {
    const services = entry.services;
    entry.services = undefined;
    opened.delete(entry.record.ref);
    clearInterval(entry.quotaTimer);
    const s = await services?.catch(() => undefined);
    if (s) {
      await s.close();
      opts.log.info({ project: entry.record.ref }, 'project: services closed');
    }
  }

  async function evict(ref: string): Promise<void> {
    const e = entries.get(ref);
    entries.delete(ref);
    const entry = await e?.catch(() => undefined);
    if (entry) await release(entry);
  }

  /** The project's open service set, or a refusal written to `refuse`. */
  async function admitted(ref: string, method: string, url: string, refuse: (status: number, code: string, message: string) => void): Promise<{ entry: Entry; services: ProjectServices } | undefined> {
    const entry = await entryOf(ref);
    if (!entry) return void refuse(404, 'project_not_found', `No project "${ref}"`);
    if (entry.record.status === 'paused') return void refuse(503, 'project_paused', `Project "${ref}" is paused`);
    entry.lastUsed = Date.now();
    const services = await servicesOf(entry).catch(() => undefined);
    if (!services) return void refuse(503, 'project_unavailable', `Project "${ref}" is not available at the moment`);
    if (!READS.has(method) && entry.over) {
      const storageWrite = url.startsWith('/storage/');
      if (entry.over.db || (storageWrite && entry.over.storage)) {
        return void refuse(507, 'quota_exceeded', `Project "${ref}" is over its ${entry.over.db ? 'database size' : 'storage'} limit`);
      }
    }
    return { entry, services };
  }

  const idleTimer = idleMs > 0 ? setInterval(async () => {
    const now = Date.now();
    for (const e of entries.values()) {
      const entry = await e.catch(() => undefined);
      if (entry?.services && entry.inFlight === 0 && entry.sockets === 0 && now - entry.lastUsed > idleMs) await release(entry);
    }
  }, Math.max(250, Math.min(idleMs / 4, 30_000))) : undefined;
  idleTimer?.unref();

  // Registry changes of any instance (and of the CLI) evict the project here.
  let listener: pg.Client | undefined;
  let listening: Promise<void> | undefined;
  async function listen(): Promise<void> {
    const client = new pg.Client({ connectionString: config.postgres.url, application_name: 'nextmavens projects (notices)' });
    client.on('error', () => undefined);
    client.on('end', () => {
      if (closed || listener !== client) return;
      listener = undefined;
      listening = undefined; // the next load listens again
      for (const ref of [...entries.keys()]) void evict(ref); // notices may have been missed
    });
    client.on('notification', (n) => n.payload && void evict(n.payload));
    listener = client;
    try {
      await client.connect();
      await client.query('listen nextmavens_projects');
    } catch (err) {
      listener = undefined;
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Hands a request (or an upgrade) to its project's gateway, counted as in use (`counter`) until
   * its connection closes; false when it is the default project's.
   */
  function dispatch(req: IncomingMessage, conn: ServerResponse | Duplex, counter: 'inFlight' | 'sockets', refuse: (status: number, code: string, message: string) => void, deliver: (services: ProjectServices) => void): boolean {
    const target = projectTarget(req.headers.host, req.url ?? '/', domain);
    if (!target) return false;
    if ('refusal' in target) return refuse(...target.refusal), true;
    admitted(target.ref, counter === 'sockets' ? 'GET' : (req.method ?? 'GET'), target.url, refuse).then(
      (ok) => {
        if (!ok) return;
        ok.entry[counter]++;
        conn.once('close', () => {
          ok.entry[counter]--;
          ok.entry.lastUsed = Date.now();
        });
        req.url = target.url;
        deliver(ok.services);
      },
      (err: Error) => {
        opts.log.error({ err }, 'projects: dispatch failed');
        refuse(503, 'project_unavailable', 'The project is not available at the moment');
      },
    );
    return true;
  }

  return {
    request: (req, res) =>
      dispatch(req, res, 'inFlight', (s, c, m) => (res.headersSent ? res.destroy() : sendJson(res, s, c, m)), (services) => services.server.emit('request', req, res)),
    upgrade: (req, socket, head) =>
      dispatch(req, socket, 'sockets', (s, c, m) => refuseSocket(socket, s, c, m), (services) => services.server.emit('upgrade', req, socket, head)),
    open: () => [...opened],
    evict,
    async close() {
      closed = true;
      clearInterval(idleTimer);
      await listener?.end().catch(() => undefined);
      await Promise.all([...entries.keys()].map(evict));
    },
  };
}
