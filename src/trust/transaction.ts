import type { Database, TransactionClient } from '../db/client.js';

const MAX_ATTEMPTS = 5;

/** Postgres gave up on the transaction because of a concurrent one; running it again is safe. */
function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : '';
  return code === 'P2034' || /deadlock detected|could not serialize access/i.test(message);
}

/** Registers what to do once the transaction has committed (nothing, if it does not). */
export type AfterCommit = (action: () => void) => void;

/**
 * Runs `work` in one transaction: all of a change, its history and its notices
 * commit together or not at all. Retried when it lost a race with another one.
 * `maxWait`: how long it may wait for a connection, when not the pool's wait.
 */
export async function inTransaction<T>(
  db: Database,
  work: (tx: TransactionClient, afterCommit: AfterCommit) => Promise<T>,
  options: { maxWait?: number } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const committed: (() => void)[] = [];
    try {
      const result = await db.prisma.$transaction((tx) => work(tx, (action) => committed.push(action)), options);
      for (const action of committed) action();
      return result;
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !isRetryable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }
}
