/**
 * `nextmavens tenants create <name> [--slug s] | list | key <id|slug> | suspend <id|slug> |
 * resume <id|slug>`: tenant onboarding (and suspension) from the command line. A suspended
 * tenant's users and keys are refused by every API until it is resumed. A tenant's anon key is an API key with the tenant's `tenant_id`: an app of
 * that tenant is configured with it, and a user who signs up through it joins the tenant (their
 * access tokens then carry `tenant_id`, which RLS policies read with auth.tenant_id()).
 */
import pg from 'pg';
import type { Config } from '../config/load.ts';
import { createLogger } from '../config/logger.ts';
import { deriveApiKey } from '../config/keys.ts';
import { createTenant, findTenant, listTenants, setTenantStatus } from '../db/tenants.ts';
import { startDatabase } from './stack.ts';
import { optionValue } from './args.ts';

const say = (m: string): void => void process.stdout.write(`${m}\n`);

/** The configured database (the running embedded Postgres, or started for the command) on one client. */
export async function withDatabase<T>(config: Config, command: string, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const database = await startDatabase(config, createLogger(config), { command, share: true });
  const db = new pg.Client({ connectionString: database.url, application_name: `nextmavens ${command}` });
  try {
    await db.connect();
    return await fn(db);
  } finally {
    await db.end().catch(() => undefined);
    await database.stop();
  }
}

export async function commandTenants(config: Config, what: string | undefined, args: string[]): Promise<void> {
  const option = (flag: string) => optionValue(args, flag);
  const positional = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--'))).join(' ').trim();
  switch (what) {
    case 'create': {
      if (!positional) throw new Error('tenants create: give the tenant a name, e.g. `nextmavens tenants create "Acme Inc" --slug acme`');
      const tenant = await withDatabase(config, 'tenants create', (db) => createTenant(db, positional, option('--slug')));
      say(`tenant id: ${tenant.id}`);
      say(`tenant anon key: ${await deriveApiKey('anon', config.jwtSecret, tenant.id)}`);
      return;
    }
    case 'list': {
      const tenants = await withDatabase(config, 'tenants list', (db) => listTenants(db));
      if (!tenants.length) {
        say('no tenants yet: nextmavens tenants create <name>');
        return;
      }
      say(['id', 'slug', 'users', 'name', 'status'].join('\t'));
      for (const t of tenants) say([t.id, t.slug ?? '-', String(t.users), t.name, t.status].join('\t'));
      return;
    }
    case 'key': {
      if (!positional) throw new Error('tenants key: name the tenant by id or slug');
      const tenant = await withDatabase(config, 'tenants key', (db) => findTenant(db, positional));
      if (!tenant) throw new Error(`tenants key: no tenant ${positional}`);
      say(`tenant anon key: ${await deriveApiKey('anon', config.jwtSecret, tenant.id)}`);
      return;
    }
    case 'suspend':
    case 'resume': {
      if (!positional) throw new Error(`tenants ${what}: name the tenant by id or slug`);
      const status = what === 'suspend' ? 'suspended' : 'active';
      const tenant = await withDatabase(config, `tenants ${what}`, (db) => setTenantStatus(db, positional, status));
      if (!tenant) throw new Error(`tenants ${what}: no tenant ${positional}`);
      say(`tenant ${tenant.slug ?? tenant.id}: ${tenant.status}`);
      return;
    }
    default:
      throw new Error('tenants: expected create <name> [--slug s], list, key <id|slug>, suspend <id|slug> or resume <id|slug>');
  }
}
