// Transactions made to stall just before they commit, for tests that need one in flight
// while another runs: a trigger waits on an advisory lock that the test holds.
import { expect, onTestFinished } from 'vitest';
import type { Database } from '../src/db/client.js';
import { sql } from './ha-helpers.js';

let nextKey = 4200;

const LOCK_WAITERS = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`;

/**
 * Sessions of this database waiting on a lock now: asked through `on`'s pool, or, given
 * the database's URL, on a connection of its own (for when the pool may be all taken).
 */
export async function lockWaiters(on: Database | string): Promise<number> {
  const [row] = typeof on === 'string' ? await sql<{ n: number }>(on, LOCK_WAITERS) : await on.prisma.$queryRawUnsafe<{ n: number }[]>(LOCK_WAITERS);
  return row!.n;
}

/** Waits until `count` sessions of this database wait on a lock. */
export async function waitForLockWaiters(on: Database | string, count: number): Promise<void> {
  await expect.poll(() => lockWaiters(on), { timeout: 30_000 }).toBeGreaterThanOrEqual(count);
}

/**
 * Every transaction that writes a row of `table` matching `when` (SQL on NEW) stalls
 * after the write, before it commits, until `release` is called.
 */
export async function stallWrites(db: Database, table: string, event: 'INSERT' | 'UPDATE', when: string): Promise<{ release(): Promise<void> }> {
  const key = nextKey++;
  const name = `stall_${key}`;
  await db.prisma.$executeRawUnsafe(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(${key}); RETURN NEW; END $$`);
  await db.prisma.$executeRawUnsafe(`CREATE TRIGGER ${name} AFTER ${event} ON "${table}" FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION ${name}()`);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const held = db.prisma.$transaction(
    async (tx) => {
      await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${key})`);
      locked();
      await released;
    },
    { timeout: 120_000 },
  );
  onTestFinished(async () => {
    release();
    await held.catch(() => undefined);
  });
  await isLocked;
  return {
    async release() {
      release();
      await held;
    },
  };
}
