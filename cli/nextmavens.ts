#!/usr/bin/env node
/**
 * nextmavens start | migrate | projects | migration new | db push|reset|diff | keys | serve <service> | gen <traefik|env|types> | status | backup | restore | audit | admin
 */
import '../config/process-env.ts';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../config/load.ts';
import { captureConsole, createLogger } from '../config/logger.ts';
import { renderEnvExample, withEnvTable } from '../config/schema.ts';
import { generateSigningJwk, parseSigningKeys } from '../config/keys.ts';
import { VERSION } from '../config/version.ts';
import { SERVICE_NAMES, type ServiceName } from '../gateway/routes.ts';
import { renderBanner } from './banner.ts';
import { optionValue } from './args.ts';
import { UsageError } from './usage-error.ts';
// Each command's modules load when it runs: `gen env` or `keys` need not load the whole stack.
import type { RunningStack } from './stack.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const USAGE = `NextMavens Stack ${VERSION}

Usage: nextmavens <command>

  start                 Run the whole stack in one process (embedded Postgres unless DATABASE_URL is set)
  migrate | db push     Apply the stack's migrations (sql/), then yours (MIGRATIONS_DIR), to the running or configured database
  migration new <name>  Create MIGRATIONS_DIR/<timestamp>_<name>.sql (the Supabase CLI layout)
  db reset [--force]    Recreate the database from the migrations plus SEED_FILE (--force for an external database)
  db diff [--schema s] [-f name]  Print (or write as a new migration) the SQL turning the migrations' schema into the live one
  tenants create <name> [--slug s] | list | key <id|slug> | suspend <id|slug> | resume <id|slug>
                        Create a tenant (prints its id and tenant anon key), list them, print a tenant's key, suspend or resume one
  projects create <ref> [--server name] [--site-url URL] [--autoconfirm] [--db-bytes n] [--storage-bytes n] [--connections n]
  projects list | pause <ref> | resume <ref> | keys <ref> | delete <ref> [--no-backup]
                        Another project in this stack: its own database, keys and URL (http://<ref>.localhost:8000); delete backs it up first
  keys                  Print the anon and service_role API keys and how access tokens are signed
  keys --es256|--rs256  Print JWT_SIGNING_KEYS with a new signing key first, then the current ones (rotation)
  serve <service>       Run one service alone (compose): gateway | projects | ${SERVICE_NAMES.join(' | ')}
  gen traefik           Regenerate gateway/traefik/ from the route table
  gen env               Regenerate .env.example from config/schema.ts
  gen env --compose [--out .env] [--public-url URL] [--force]
                        Write the .env docker compose reads: fresh secrets and the matching API keys
  gen types [schemas]   Print TypeScript types of the database (like \`supabase gen types typescript\`)
  status                Query /health of a running stack
  backup [--to DIR|s3://bucket/prefix|telegram:[<chat>]]
                        Back up the database and the storage objects together (default target BACKUP_TARGET)
  backup verify [<backup>]
                        Restore a backup (default: the latest) into a throwaway Postgres and check it
  restore [<backup>] [--force] [--to TIME]
                        Rebuild DATA_DIR from a backup (latest, an id, or its path), or to a point in time
  admin create <email> [--role owner|developer|read_only] [--password-stdin]
                        Create an admin dashboard account (/admin); prints a generated password unless one is piped in
  admin list            List the admin dashboard's accounts
  audit verify          Recompute the audit log's hash chain; prints OK or the first bad entry (exit 1)
  audit export [--to DIR|s3://bucket/prefix]
                        Write the audit log as JSON lines to the backup target (default BACKUP_TARGET)
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

/**
 * `start`: the whole stack in this process, or with WEB_CONCURRENCY > 1 the cluster's primary
 * (cli/cluster.ts) — or, when the primary forked this process, one of its workers.
 */
async function commandStart(config: Config): Promise<void> {
  const log = createLogger(config);
  captureConsole(log);
  const started = performance.now();
  const link = (await import('../core/cluster.ts')).clusterLink();
  if (link) return startWorker(config, log, link.slot);
  const running = config.webConcurrency > 1 ? await (await import('./cluster.ts')).startCluster(config, log) : await (await import('./stack.ts')).startStack(config, log);
  process.stdout.write(renderBanner(config, running.port, performance.now() - started));
  runUntilSignal(running, log);
}

/**
 * A worker of the cluster: reports to the primary once it listens, and stops when the primary
 * says so (SIGTERM) or is gone (the IPC channel closes). SIGINT — Ctrl-C reaches the whole process
 * group — is left to the primary, which stops the workers before Postgres.
 */
async function startWorker(config: Config, log: ReturnType<typeof createLogger>, slot: number): Promise<void> {
  const { startStack } = await import('./stack.ts');
  const report = (m: import('./cluster.ts').WorkerReport) => process.connected && process.send?.(m);
  let running: RunningStack;
  try {
    running = await startStack(config, log, { worker: { slot } });
  } catch (err) {
    report({ nm: 'worker', ready: false, error: (err as Error)?.message ?? String(err) });
    throw err;
  }
  report({ nm: 'worker', ready: true, port: running.port });
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`worker ${slot}: ${why}; shutting down`);
    running.close().then(
      () => log.flush(() => process.exit(0)),
      (err) => {
        log.error({ err }, 'shutdown failed');
        log.flush(() => process.exit(1));
      },
    );
  };
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('disconnect', () => stop('the primary is gone'));
}

async function commandServe(config: Config, name: string | undefined): Promise<void> {
  if (name !== 'gateway' && name !== 'projects' && !SERVICE_NAMES.includes(name as ServiceName)) {
    throw new UsageError(`serve: unknown service "${name ?? ''}"; one of gateway, projects, ${SERVICE_NAMES.join(', ')}`);
  }
  const log = createLogger(config);
  captureConsole(log);
  const running = name === 'projects' ? await (await import('../projects/serve.ts')).serveProjects(config, log) : await (await import('./stack.ts')).serveOne(name as ServiceName | 'gateway', config, log);
  log.info(`${name} ready on port ${running.port}`);
  runUntilSignal(running, log);
}

async function commandGen(config: () => Promise<Config>, what: string | undefined, args: string[]): Promise<void> {
  switch (what) {
    case 'env': {
      if (args.includes('--compose')) {
        const option = (flag: string) => optionValue(args, flag);
        const file = path.resolve(option('--out') ?? '.env');
        await (await import('./compose-env.ts')).writeComposeEnv(file, args.includes('--force'), option('--public-url'));
        process.stdout.write(`wrote ${path.relative(process.cwd(), file) || file} with fresh secrets and the matching API keys\n`);
        return;
      }
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
      const log = createLogger(cfg);
      const { startDatabase } = await import('./stack.ts');
      const database = await startDatabase(cfg, log, { command: 'gen types', share: true });
      try {
        const { generateTypesFromDatabase } = await import('./typegen.ts');
        process.stdout.write(await generateTypesFromDatabase(database.url, args.length ? args : ['public']));
      } finally {
        await database.stop();
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

/**
 * `keys`: the API keys and the current signer. `keys --es256|--rs256`: a new private JWK put in
 * front of the configured JWT_SIGNING_KEYS — the new key signs, the old ones stay published and
 * accepted until the tokens they signed have expired; then drop them from the list.
 */
async function commandKeys(config: () => Promise<Config>, option: string | undefined): Promise<void> {
  const alg = option === '--es256' ? 'ES256' : option === '--rs256' ? 'RS256' : undefined;
  if (option && !alg) throw new UsageError(`keys: unknown option "${option}"; --es256 or --rs256`);
  if (!alg) {
    const cfg = await config();
    const signer = cfg.signingKeys[0];
    const signing = signer ? `${signer.alg} (kid ${signer.kid}), ${cfg.signingKeys.length} key(s) published` : 'HS256 with JWT_SECRET';
    process.stdout.write(`anon key: ${cfg.anonKey}\nservice_role key: ${cfg.serviceRoleKey}\naccess tokens: ${signing}\n`);
    return;
  }
  const current = process.env.JWT_SIGNING_KEYS?.trim();
  let existing: unknown[] = [];
  if (current) {
    parseSigningKeys(current); // refuse to extend a broken list
    const parsed = JSON.parse(current) as unknown[] | { keys: unknown[] };
    existing = Array.isArray(parsed) ? parsed : parsed.keys;
  }
  const fresh = generateSigningJwk(alg);
  process.stderr.write(
    `New ${alg} signing key ${fresh.kid} (private: keep it secret)${existing.length ? `, followed by the ${existing.length} current key(s)` : ''}.\n` +
      'Set this, restart; remove old keys once the tokens they signed have expired (AUTH_ACCESS_TOKEN_TTL).\n',
  );
  process.stdout.write(`JWT_SIGNING_KEYS='${JSON.stringify([fresh, ...existing])}'\n`);
}

async function commandDb(config: Config, what: string | undefined, args: string[]): Promise<void> {
  switch (what) {
    case 'push':
      return (await import('./db-commands.ts')).commandDbPush(config, 'db push');
    case 'reset':
      return (await import('./db-commands.ts')).commandDbReset(config, args);
    case 'diff':
      return (await import('./db-commands.ts')).commandDbDiff(config, args);
    default:
      throw new UsageError('db: expected push, reset or diff');
  }
}


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
      return (await import('./db-commands.ts')).commandDbPush(await config(), 'migrate');
    case 'migration':
      if (args[0] !== 'new') throw new UsageError('migration: expected `migration new <name>`');
      return (await import('./db-commands.ts')).commandMigrationNew(await config(), args.slice(1).join(' ') || undefined);
    case 'db':
      return commandDb(await config(), args[0], args.slice(1));
    case 'keys':
      return commandKeys(config, args[0]);
    case 'tenants':
      return (await import('./tenants.ts')).commandTenants(await config(), args[0], args.slice(1));
    case 'projects':
      return (await import('./projects-commands.ts')).commandProjects(await config(), args[0], args.slice(1));
    case 'gen':
      return commandGen(config, args[0], args.slice(1));
    case 'status':
      return commandStatus(await config());
    case 'backup':
      return (await import('./backup-commands.ts')).commandBackup(await config(), args);
    case 'restore':
      return (await import('./backup-commands.ts')).commandRestore(await config(), args);
    case 'audit':
      return (await import('./audit-commands.ts')).commandAudit(await config(), args[0], args.slice(1));
    case 'admin': {
      // Loaded on use: `start` does not carry the admin dashboard's modules (admin/mount.ts loads them on the first /admin request).
      const { commandAdmin } = await import('./admin-commands.ts');
      return commandAdmin(await config(), args[0], args.slice(1));
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\nSee .env.example for every variable.\n`);
  } else if (err instanceof UsageError) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
  } else {
    process.stderr.write(`nextmavens: ${(err as Error)?.message ?? err}\n`);
  }
  process.exit(1);
});
