import { sql, type Kysely } from 'kysely';

/**
 * Runs `fn` in a `BEGIN IMMEDIATE` transaction on one connection: the write
 * lock is taken up front, so a read-then-write never fails half-way with
 * SQLITE_BUSY when another process wrote in between (it waits up to the busy
 * timeout instead). Kysely's own `transaction()` issues a deferred `BEGIN`.
 */
export async function immediateTransaction<DB, T>(db: Kysely<DB>, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  return db.connection().execute(async (conn) => {
    await sql`BEGIN IMMEDIATE`.execute(conn);
    let result: T;
    try {
      result = await fn(conn);
    } catch (error) {
      await sql`ROLLBACK`.execute(conn).catch(() => undefined);
      throw error;
    }
    await sql`COMMIT`.execute(conn);
    return result;
  });
}
