/**
 * Leader election with a Postgres session advisory lock held on a dedicated connection: exactly
 * one realtime instance holds it and consumes the replication slot. Followers retry every
 * `retryMs`; when the leader's session ends (process killed, connection lost) Postgres releases
 * the lock and a follower takes over. A leader that loses its own connection steps down first.
 */
import pg from 'pg';
import type { Logger } from 'pino';

export interface Leadership {
  isLeader(): boolean;
  stop(): Promise<void>;
}

export interface LeaderOptions {
  url: string;
  /** Names the lock (hashed to a bigint key); instances that compete use the same name. */
  name: string;
  log: Logger;
  retryMs?: number;
  /** Starts the leader's work; resolves to the function that stops it. */
  onElected: () => Promise<() => Promise<void>>;
}

export function electLeader(opts: LeaderOptions): Leadership {
  const retryMs = opts.retryMs ?? 1000;
  let stopped = false;
  let leader = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });

  async function campaign(): Promise<void> {
    while (!stopped) {
      const c = new pg.Client({ connectionString: opts.url, application_name: 'nextmavens realtime leader', keepAlive: true });
      client = c;
      const lost = new Promise<void>((resolve) => {
        c.on('error', () => resolve());
        c.on('end', () => resolve());
      });
      try {
        await c.connect();
        while (!stopped) {
          const { rows } = await c.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 0)) as ok', [`nextmavens_realtime:${opts.name}`]);
          if (rows[0]?.ok) break;
          await Promise.race([sleep(retryMs), lost]);
          if (c !== client) return;
        }
        if (stopped) break;
        leader = true;
        opts.log.info('realtime: this instance is the replication leader');
        const stopWork = await opts.onElected().catch((err) => {
          opts.log.error({ err }, 'realtime: leader could not start its work');
          return undefined;
        });
        if (stopWork) {
          await Promise.race([lost, new Promise<void>((r) => (wake = r))]);
          leader = false;
          await stopWork().catch(() => undefined);
        }
        leader = false;
      } catch (err) {
        if (!stopped) opts.log.warn({ err }, 'realtime: leader election connection failed; retrying');
      } finally {
        leader = false;
        await c.end().catch(() => undefined);
      }
      if (!stopped) await sleep(retryMs);
    }
  }

  const running = campaign();
  return {
    isLeader: () => leader,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await client?.end().catch(() => undefined);
      await running;
    },
  };
}
