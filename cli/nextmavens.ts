#!/usr/bin/env node
/**
 * nextmavens start | migrate | keys | serve <service> | gen <traefik|env|types> | status
 */
import '../config/process-env.ts';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../config/load.ts';
import { createLogger } from '../config/logger.ts';
import { renderEnvExample, withEnvTable } from '../config/schema.ts';
import { VERSION } from '../config/version.ts';
import { migrate } from '../db/migrate.ts';
import { SERVICE_NAMES, type ServiceName } from '../gateway/routes.ts';
import { renderBanner } from './banner.ts';
import { serveOne, startDatabase, startStack, type RunningStack } from './stack.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const USAGE = `NextMavens Stack ${VERSION}

Usage: nextmavens <command>

  start                 Run the whole stack in one process (embedded Postgres unless DATABASE_URL is set)
  migrate               Apply the SQL migrations in sql/ and exit
  keys                  Print the anon and service_role API keys
  serve <service>       Run one service alone (compose): gateway | ${SERVICE_NAMES.join(' | ')}
  gen traefik           Regenerate gateway/traefik/ from the route table
  gen env               Regenerate .env.example from config/schema.ts
  gen types [schemas]   Print TypeScript types of the database (like \`supabase gen types typescript\`)
  status                Query /health of a running stack
`;

function loadDotEnv(): void {
  const file = path.resolve('.env');
  if (existsSync(file)) process.loadEnvFile(file);
}

/** Runs until SIGINT/SIGTERM, then shuts down in order; a second signal exits at once. */
function runUntilSignal(running: RunningStack, log: ReturnType<typeof createLogger>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal}: shutting down`);
    running.close().then(
      () => {
        log.info('stopped');
        log.flush(() => process.exit(0));
      },
      (err) => {
        log.error({ err }, 'shutdown failed');
        log.flush(() => process.exit(1));
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function commandStart(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const started = performance.now();
  const running = await startStack(config, log);
  process.stdout.write(renderBanner(config, running.port, performance.now() - started));
  runUntilSignal(running, log);
}

async function commandServe(config: Config, name: string | undefined): Promise<void> {
  if (name !== 'gateway' && !SERVICE_NAMES.includes(name as ServiceName)) {
    throw new UsageError(`serve: unknown service "${name ?? ''}"; one of gateway, ${SERVICE_NAMES.join(', ')}`);
  }
  const log = createLogger(config.logLevel);
  const running = await serveOne(name as ServiceName | 'gateway', config, log);
  log.info(`${name} ready on port ${running.port}`);
  runUntilSignal(running, log);
}

async function commandMigrate(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const database = await startDatabase(config, log);
  try {
    const result = await migrate(config.postgres.url, {
      authenticatorPassword: config.postgres.password,
      log: (m) => process.stdout.write(`${m}\n`),
    });
    process.stdout.write(`migrations: ${result.applied.length} applied, ${result.skipped} already applied\n`);
  } finally {
    await database?.stop();
  }
}

async function commandGen(config: () => Promise<Config>, what: string | undefined, args: string[]): Promise<void> {
  switch (what) {
    case 'env': {
      await writeFile(path.join(ROOT, '.env.example'), renderEnvExample());
      const readme = path.join(ROOT, 'README.md');
      await writeFile(readme, withEnvTable(await readFile(readme, 'utf8')));
      process.stdout.write('wrote .env.example and the configuration table of README.md\n');
      return;
    }
    case 'traefik': {
      const { writeTraefikConfig } = await import('../gateway/traefik.ts');
      for (const file of await writeTraefikConfig(ROOT)) process.stdout.write(`wrote ${file}\n`);
      return;
    }
    case 'types': {
      const cfg = await config();
      const log = createLogger(cfg.logLevel);
      const database = await startDatabase(cfg, log);
      try {
        const { generateTypesFromDatabase } = await import('./typegen.ts');
        process.stdout.write(await generateTypesFromDatabase(cfg.postgres.url, args.length ? args : ['public']));
      } finally {
        await database?.stop();
      }
      return;
    }
    default:
      throw new UsageError(`gen: expected traefik, env or types`);
  }
}

async function commandStatus(config: Config): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${config.port}/health`).catch(() => undefined);
  if (!res) {
    process.stdout.write(`nothing answers on port ${config.port}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(JSON.stringify(await res.json(), null, 2) + '\n');
  if (!res.ok) process.exitCode = 1;
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return;
  }
  if (command === '--version' || command === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  loadDotEnv();
  const config = () => loadConfig(process.env);
  switch (command) {
    case 'start':
      return commandStart(await config());
    case 'serve':
      return commandServe(await config(), args[0]);
    case 'migrate':
      return commandMigrate(await config());
    case 'keys': {
      const cfg = await config();
      process.stdout.write(`anon key: ${cfg.anonKey}\nservice_role key: ${cfg.serviceRoleKey}\n`);
      return;
    }
    case 'gen':
      return commandGen(config, args[0], args.slice(1));
    case 'status':
      return commandStatus(await config());
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\nSee .env.example for every variable.\n`);
  } else if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n\n${USAGE}`);
  } else {
    process.stderr.write(`nextmavens: ${(err as Error)?.message ?? err}\n`);
  }
  process.exit(1);
});
