// Applies prisma/migrations at startup, the way `prisma migrate deploy` does: in name
// order, recorded in `_prisma_migrations` with Prisma's checksum, under Prisma's
// advisory lock so that processes starting together apply each migration once.
// Prisma's own CLI cannot run here (its native engine cannot be downloaded), and the
// history it would write is the same, so either can take over from the other.
import { createHash, randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { OperatorError } from '../operator-error.js';
import { migrationsDir } from '../paths.js';

export { migrationsDir };

/** Prisma migrate's advisory lock key. */
const PRISMA_MIGRATE_LOCK = 72707369;

/** One transaction on one connection: enough to run a migration history. */
export interface MigrationSession {
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Runs a script of several statements. */
  exec(sql: string): Promise<void>;
}

export interface Migration {
  /** The directory name: a timestamp, then what it does. */
  name: string;
  sql: string;
  /** sha256 of migration.sql, as Prisma records it. */
  checksum: string;
}

export class MigrationError extends OperatorError {}

/** prisma/migrations, in the order they apply. */
export async function readMigrations(): Promise<Migration[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(migrationsDir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Brings the database up to the newest migration (or only up to `upTo`, by name)
 * inside the caller's transaction. Returns the names of the migrations it applied.
 */
export async function applyMigrations(session: MigrationSession, upTo?: string): Promise<string[]> {
  const all = await readMigrations();
  await session.query(`SELECT pg_advisory_xact_lock(${PRISMA_MIGRATE_LOCK})`);
  await session.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
  )`);
  const recorded = await session.query<{ migration_name: string; checksum: string; finished_at: unknown }>(
    `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`,
  );
  const known = new Map(all.map((m) => [m.name, m]));
  for (const row of recorded) {
    const migration = known.get(row.migration_name);
    if (!migration) {
      throw new MigrationError(
        `the database has migration ${row.migration_name}, which this version of peertrust does not know: it was written by a newer version`,
      );
    }
    if (row.finished_at === null) {
      throw new MigrationError(`migration ${row.migration_name} failed earlier and was never finished; resolve it before starting`);
    }
    if (row.checksum !== migration.checksum) {
      throw new MigrationError(`migration ${row.migration_name} was edited after it was applied`);
    }
  }
  const applied = new Set(recorded.map((r) => r.migration_name));
  const pending = all.filter((m) => !applied.has(m.name) && (upTo === undefined || m.name <= upTo));
  for (const migration of pending) {
    await session.exec(migration.sql);
    await session.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), clock_timestamp(), 1)`,
      [randomUUID(), migration.checksum, migration.name],
    );
  }
  return pending.map((m) => m.name);
}

/** Brings the database `client` is connected to up to the newest migration (or `upTo`), in one transaction. */
export async function migrate(client: pg.Client, upTo?: string): Promise<string[]> {
  await client.query('BEGIN');
  try {
    const applied = await applyMigrations(
      {
        query: async <Row>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as Row[],
        exec: async (sql) => {
          await client.query(sql);
        },
      },
      upTo,
    );
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
