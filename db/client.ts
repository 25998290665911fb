/**
 * One connection for one job (migrations, a seed, a database reset, the projects' template):
 * opened, handed to `fn`, and closed whatever `fn` does. An error the server sends while the
 * client is idle (a restart, pg_terminate_backend) makes the pending or next query fail; it is
 * not an uncaught exception.
 */
import pg from 'pg';

export async function withClient<T>(url: string, applicationName: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
