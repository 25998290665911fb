/**
 * Calls `onChange` when the schema may have changed: on `NOTIFY pgrst` (payload empty or
 * 'reload schema', as PostgREST) and on `nextmavens_ddl`, which an event trigger raises after
 * every DDL command (sql/0006_ddl_notify.sql). Bursts are debounced into one call. The
 * listening connection reconnects on its own and reports a change after reconnecting, since
 * notifications may have been missed meanwhile.
 */
import pg from 'pg';

export const DDL_CHANNEL = 'nextmavens_ddl';
export const PGRST_CHANNEL = 'pgrst';
const DEBOUNCE_MS = 50;
const RECONNECT_MS = 1000;

export interface SchemaWatcher {
  close(): Promise<void>;
}

export async function watchSchema(url: string, onChange: () => unknown): Promise<SchemaWatcher> {
  let closed = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;

  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void onChange(), DEBOUNCE_MS);
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url, application_name: 'nextmavens schema watch' });
    c.on('notification', (n) => {
      if (n.channel === DDL_CHANNEL || !n.payload || n.payload === 'reload schema') changed();
    });
    c.on('error', () => undefined);
    c.on('end', () => {
      if (closed) return;
      retry = setTimeout(() => connect().then(changed, () => undefined), RECONNECT_MS);
    });
    await c.connect();
    await c.query(`listen ${PGRST_CHANNEL}; listen ${DDL_CHANNEL}`);
    client = c;
  };

  await connect();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
