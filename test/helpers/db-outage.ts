/**
 * A TCP proxy between a stack and its Postgres, to take the database away as an outage does:
 * `cut()` drops every open connection and refuses new ones (ECONNREFUSED), `shutDown()` drops them
 * and answers new ones as a Postgres that is shutting down (FATAL 57P03), `restore()` forwards
 * again on the same port.
 */
import net from 'node:net';
import { inject } from 'vitest';
import type { RunningStack } from '../../cli/stack.ts';
import type { PostgresConfig } from '../../config/load.ts';
import type { TestDatabase } from './db.ts';
import { startTestStack, type TestStackOptions } from './stack.ts';

export interface DbProxy {
  port: number;
  cut(): Promise<void>;
  shutDown(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** The ErrorResponse a Postgres shutting down sends to a new connection before closing it. */
function shuttingDownMessage(): Buffer {
  const fields = Buffer.from('SFATAL\0VFATAL\0C57P03\0Mthe database system is shutting down\0\0');
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

export async function startDbProxy(): Promise<DbProxy> {
  const target = inject('postgres');
  const sockets = new Set<net.Socket>();
  let shuttingDown = false;
  const server = net.createServer((client) => {
    if (shuttingDown) {
      sockets.add(client);
      client.on('error', () => undefined).on('close', () => sockets.delete(client));
      client.once('data', () => client.end(shuttingDownMessage()));
      return;
    }
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) => new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
  const port = await listen(0);
  const stop = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (server.listening) server.close(() => resolve());
    else resolve();
  });
  const dropAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    port,
    cut: stop,
    async shutDown() {
      shuttingDown = true;
      dropAll();
      if (!server.listening) await listen(port);
    },
    async restore() {
      shuttingDown = false;
      if (!server.listening) await listen(port);
    },
    close: stop,
  };
}

/** A stack's Postgres settings with every connection going through `proxy` instead. */
export function throughProxy(postgres: PostgresConfig, proxy: DbProxy): PostgresConfig {
  const url = new URL(postgres.url);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return { ...postgres, host: '127.0.0.1', port: proxy.port, url: url.toString() };
}

export interface StackBehindProxy {
  db: TestDatabase;
  proxy: DbProxy;
  stack: RunningStack;
  close(): Promise<void>;
}

/** The whole embedded stack (test/helpers/stack.ts) over a fresh database reached only through a proxy. */
export async function startStackBehindProxy(opts: Omit<TestStackOptions, 'configure'> = {}): Promise<StackBehindProxy> {
  const proxy = await startDbProxy();
  const t = await startTestStack({ ...opts, configure: (db) => void (db.config.postgres = throughProxy(db.config.postgres, proxy)) });
  return {
    ...t,
    proxy,
    async close() {
      // The stack may fail to close cleanly while its database is cut; the database is dropped anyway.
      await t.stack.close().catch(() => undefined);
      await proxy.close();
      await t.db.drop();
    },
  };
}
