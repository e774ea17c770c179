import type { Database, TransactionClient } from '../db/client.js';

const MAX_ATTEMPTS = 5;

/** Postgres gave up on the transaction because of a concurrent one; running it again is safe. */
function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : '';
  return code === 'P2034' || /deadlock detected|could not serialize access/i.test(message);
}

/**
 * Runs `work` in one transaction: all of a change, its history and its notices
 * commit together or not at all. Retried when it lost a race with another one.
 */
export async function inTransaction<T>(db: Database, work: (tx: TransactionClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.prisma.$transaction(work);
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !isRetryable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }
}
