/**
 * A PostgreSQL of Debian's packages (/usr/lib/postgresql/<major>/bin: server and client tools), the
 * tests' stand-in for an external server such as compose's `db`: another major version than the
 * embedded one, with its own pg_dump and pg_restore. Undefined when the machine has none.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

export function debianPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
  return majors.map((m) => path.join(root, m, 'bin')).find((bin) => ['postgres', 'initdb', 'pg_ctl', 'pg_dump', 'pg_restore'].every((t) => existsSync(path.join(bin, t))));
}

export const DEBIAN_POSTGRES_MISSING = 'no PostgreSQL server and client tools under /usr/lib/postgresql (apt-get install postgresql)';
