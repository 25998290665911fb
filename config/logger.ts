/**
 * JSON logs (pino) on stderr, so that stdout carries only what a person reads (the start banner,
 * command output). Tokens never reach the logs: the gateway logs paths without query strings.
 */
import pino, { type Logger } from 'pino';
import type { Config } from './load.ts';

export function createLogger(level: Config['logLevel']): Logger {
  return pino(
    {
      level,
      base: { app: 'nextmavens' },
      redact: { paths: ['req.headers.authorization', 'req.headers.apikey', 'req.headers.cookie'], remove: true },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}
