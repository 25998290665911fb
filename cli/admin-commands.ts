/**
 * `nextmavens admin create <email> [--role owner|developer|read_only] [--password-stdin]` and
 * `nextmavens admin list`: the admin dashboard's accounts (admin/accounts.ts) from the command
 * line. Without --password-stdin a strong password is generated and printed once. The first admin
 * created here is an owner unless --role says otherwise.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/load.ts';
import { createAdminAccount } from '../admin/accounts.ts';
import { countAdmins, listAdmins } from '../admin/store.ts';
import { optionValue } from './args.ts';
import { UsageError } from './usage-error.ts';
import { withDatabase } from './tenants.ts';

export class AdminUsageError extends UsageError {}

const say = (m: string): void => void process.stdout.write(`${m}\n`);

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function commandAdmin(config: Config, what: string | undefined, args: string[]): Promise<void> {
  switch (what) {
    case 'create': {
      const email = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1] === '--role'));
      if (!email) throw new AdminUsageError('admin create: give the admin an email, e.g. `nextmavens admin create me@example.com --role owner`');
      const generated = !args.includes('--password-stdin');
      const password = generated ? randomBytes(18).toString('base64url') : await readStdin();
      const admin = await withDatabase(config, 'admin create', async (db) =>
        createAdminAccount(db, { email, password, role: optionValue(args, '--role') ?? ((await countAdmins(db)) === 0 ? 'owner' : undefined) }),
      );
      say(`admin ${admin.email} created (role ${admin.role}, id ${admin.id})`);
      if (generated) say(`password: ${password}`);
      say(`sign in at ${config.publicUrl}/admin`);
      return;
    }
    case 'list': {
      const admins = await withDatabase(config, 'admin list', (db) => listAdmins(db));
      if (!admins.length) return say('no admins yet: nextmavens admin create <email>');
      say(['id', 'email', 'role', 'totp', 'last sign-in'].join('\t'));
      for (const a of admins) say([a.id, a.email, a.role, a.totp_enabled ? 'yes' : 'no', a.last_sign_in_at?.toISOString() ?? '-'].join('\t'));
      return;
    }
    default:
      throw new AdminUsageError('admin: expected `admin create <email> [--role owner|developer|read_only] [--password-stdin]` or `admin list`');
  }
}
