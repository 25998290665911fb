/**
 * Logs (pino) on stderr, so that stdout carries only what a person reads (the start banner,
 * command output): readable coloured lines in a terminal (pino-pretty), one JSON object per line
 * otherwise or with LOG_FORMAT=json. Tokens never reach the logs: the gateway logs paths without
 * query strings, and credentials headers are removed.
 */
import { createRequire } from 'node:module';
import { format } from 'node:util';
import pino, { type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { Config } from './load.ts';

// pino-pretty (and its dependencies) is loaded only for readable logs: not for JSON lines, which
// is what a service under compose, systemd or `nextmavens start` piped into a file writes.
const require = createRequire(import.meta.url);

export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>): Logger {
  const options = {
    level: config.logLevel,
    base: { app: 'nextmavens' },
    redact: { paths: ['req.headers.authorization', 'req.headers.apikey', 'req.headers.cookie'], remove: true },
  };
  const readable = config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stderr.isTTY === true);
  if (!readable) return pino(options, pino.destination({ fd: 2, sync: false }));
  const pretty = require('pino-pretty') as typeof PinoPretty;
  return pino(options, pretty({ destination: 2, colorize: process.stderr.isTTY === true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,app', sync: true }));
}

/**
 * Routes console.warn / console.error (libraries that write there: PostGraphile's schema-build
 * warnings, Grafserv) through `log`, so a server's output stays one stream in one format.
 */
export function captureConsole(log: Logger): void {
  const child = log.child({ component: 'console' });
  const message = (args: unknown[]) => (args.length === 1 && args[0] instanceof Error ? args[0].message : format(...args));
  console.warn = (...args: unknown[]) => child.warn(message(args));
  console.error = (...args: unknown[]) => {
    const err = args.find((a): a is Error => a instanceof Error);
    if (err) child.error({ err }, message(args));
    else child.error(message(args));
  };
}
