/**
 * `nextmavens projects create <ref> | list | pause <ref> | resume <ref> | delete <ref> | keys <ref>`
 * (projects/manage.ts does the work, the same as the admin API /projects/v1). Next to a running
 * stack it uses that stack's database; the running stack sees every change at once (NOTIFY).
 */
import pg from 'pg';
import type { Config } from '../config/load.ts';
import { createLogger } from '../config/logger.ts';
import { migrate } from '../db/migrate.ts';
import { parseCreate } from '../projects/admin-api.ts';
import { projectsAdmin, type ProjectKeys } from '../projects/manage.ts';
import { optionValue } from './args.ts';
import { startDatabase } from './stack.ts';
import { UsageError } from './usage-error.ts';

const say = (m: string): void => void process.stdout.write(`${m}\n`);

export class ProjectsUsageError extends UsageError {}

function number(args: string[], flag: string): number | undefined {
  const v = optionValue(args, flag);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new ProjectsUsageError(`${flag} needs a whole number`);
  return Number(v);
}

function printKeys(k: ProjectKeys): void {
  say(`         API URL: ${k.url}`);
  say(`        anon key: ${k.anon_key}`);
  say(`service_role key: ${k.service_role_key}`);
  say(`      JWT secret: ${k.jwt_secret}`);
}

export async function commandProjects(config: Config, what: string | undefined, args: string[]): Promise<void> {
  const ref = args.find((a, i) => !a.startsWith('--') && !(i > 0 && ['--server', '--site-url', '--db-bytes', '--storage-bytes', '--connections'].includes(args[i - 1])));
  if (what !== 'list' && !ref) throw new ProjectsUsageError(`projects ${what ?? ''}: name the project, e.g. \`nextmavens projects ${what ?? 'create'} my-app\``);
  if (!['create', 'list', 'pause', 'resume', 'delete', 'keys'].includes(what ?? '')) throw new ProjectsUsageError('projects: expected create, list, pause, resume, delete or keys');
  const database = await startDatabase(config, createLogger(config), { command: `projects ${what}`, share: true });
  const pool = new pg.Pool({ connectionString: database.url, max: 2, application_name: 'nextmavens projects' });
  pool.on('error', () => undefined);
  try {
    await migrate(database.url); // the registry (sql/0038) on a database no stack has started on yet
    const admin = projectsAdmin({ ...config, postgres: { ...config.postgres, url: database.url } }, pool);
    switch (what) {
      case 'create': {
        const limits = { db_bytes: number(args, '--db-bytes'), storage_bytes: number(args, '--storage-bytes'), connections: number(args, '--connections') };
        const body = parseCreate({ ref, server: optionValue(args, '--server'), settings: { site_url: optionValue(args, '--site-url'), autoconfirm: args.includes('--autoconfirm') || undefined }, limits });
        const created = await admin.create(body.ref, body);
        say(`project ${created.ref} created in ${created.ms.toFixed(0)} ms (database ${created.database} on server ${created.server})`);
        printKeys(created.keys);
        return;
      }
      case 'list': {
        const all = await admin.list();
        if (!all.length) return say('no projects yet: nextmavens projects create <ref>');
        say(['ref', 'status', 'server', 'database', 'url', 'created'].join('\t'));
        for (const p of all) say([p.ref, p.status, p.server, p.database, p.url, p.created_at].join('\t'));
        return;
      }
      case 'pause':
      case 'resume': {
        const p = await admin.setStatus(ref!, what === 'pause' ? 'paused' : 'active');
        return say(`project ${p.ref} is ${p.status}`);
      }
      case 'keys':
        return printKeys(await admin.keys(ref!));
      case 'delete': {
        const done = await admin.delete(ref!, { backup: !args.includes('--no-backup'), progress: (l) => process.stderr.write(`${l}\n`) });
        return say(done.backup ? `project ${done.ref} deleted; its backup: ${done.backup}` : `project ${done.ref} deleted (no backup)`);
      }
    }
  } finally {
    await pool.end().catch(() => undefined);
    await database.stop();
  }
}
