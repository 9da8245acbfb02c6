import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Runs `work` on a pg client borrowed from the ORM's pool, outside any transaction of the ORM, and gives the client
 * back however `work` ends. For statements the ORM cannot send: named prepared statements (prepared.ts) and the
 * audit writer's own multi-statement transactions.
 */
export async function onPooledClient<Client, T>(em: EntityManager, work: (client: Client) => Promise<T>): Promise<T> {
  const pool = em.getConnection().getKnex().client;
  const client = (await pool.acquireConnection()) as Client;
  try {
    return await work(client);
  } finally {
    await pool.releaseConnection(client);
  }
}
