// The edge to the database: one Prisma client, migrated, with its change feed, on
// either the embedded database (PGlite, in-process) or PostgreSQL.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import lockfile from 'proper-lockfile';
import { CHANNEL, ChangeFeed } from './events.js';
import { Prisma, PrismaClient } from './generated/prisma/client.js';
import { applyMigrations, type MigrationSession } from './migrate.js';
import { OperatorError } from '../operator-error.js';

export { Prisma, PrismaClient };
export type { Role, User } from './generated/prisma/client.js';
export type TransactionClient = Prisma.TransactionClient;

export interface Database {
  readonly prisma: PrismaClient;
  /** Committed changes from every process that shares this database. */
  readonly changes: ChangeFeed;
  /** For people: where the data is. */
  readonly description: string;
  close(): Promise<void>;
}

/** A problem with where the data is that the person starting peertrust must fix. */
export class DatabaseUnavailableError extends OperatorError {}

const transactionOptions = { maxWait: 10_000, timeout: 30_000 };

function pgliteSession(tx: { query: PGlite['query']; exec: PGlite['exec'] }): MigrationSession {
  return {
    query: async <Row>(sql: string, params?: unknown[]) => (await tx.query<Row>(sql, params)).rows,
    exec: async (sql) => {
      await tx.exec(sql);
    },
  };
}

/**
 * Opens an embedded database. With a directory the data lives there, and only one
 * process may open it: PGlite would corrupt a directory two processes write to.
 * With an existing PGlite instance (tests) the caller owns its lifetime.
 */
export async function openEmbeddedDatabase(
  source: { dataDir: string } | { pglite: PGlite },
): Promise<Database> {
  let pglite: PGlite;
  let release: (() => Promise<void>) | undefined;
  let description: string;
  if ('dataDir' in source) {
    const dir = path.resolve(source.dataDir, 'db');
    await mkdir(dir, { recursive: true });
    release = await lockDataDir(dir);
    try {
      pglite = await PGlite.create(dir);
    } catch (error) {
      await release();
      throw error;
    }
    description = `embedded database in ${dir}`;
  } else {
    pglite = source.pglite;
    description = 'embedded database in memory';
  }
  try {
    await pglite.transaction((tx) => applyMigrations(pgliteSession(tx)));
  } catch (error) {
    if (release) {
      await pglite.close();
      await release();
    }
    throw error;
  }
  const changes = new ChangeFeed();
  const unlisten = await pglite.listen(CHANNEL, (payload) => changes.deliver(payload));
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite), transactionOptions });
  return {
    prisma,
    changes,
    description,
    async close() {
      await prisma.$disconnect();
      await unlisten();
      if (release) {
        await pglite.close();
        await release();
      }
    },
  };
}

async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  try {
    return await lockfile.lock(dir, {
      lockfilePath: `${dir}.lock`,
      // The lock is refreshed every 5 s; one left by a crashed process expires after 15 s.
      stale: 15_000,
      update: 5_000,
      onCompromised: (error) => {
        process.emitWarning(`the lock on ${dir} was lost: ${error.message}`);
      },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new DatabaseUnavailableError(
        `the embedded database in ${dir} is in use by another peertrust process; stop that process first ` +
          `(a crashed process releases it within 15 s), or run several servers in one process with ` +
          `\`peertrust cluster\`, or share PostgreSQL through DATABASE_URL`,
      );
    }
    throw error;
  }
}

function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `PostgreSQL at ${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}

/** Opens PostgreSQL, applies migrations and starts listening for changes. */
export async function openPostgresDatabase(url: string): Promise<Database> {
  const description = describeUrl(url);
  const connect = async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    try {
      await client.connect();
    } catch (error) {
      throw new DatabaseUnavailableError(`cannot connect to ${description}: ${(error as Error).message}`);
    }
    return client;
  };

  const migrator = await connect();
  try {
    await migrator.query('BEGIN');
    await applyMigrations({
      query: async <Row>(sql: string, params?: unknown[]) => (await migrator.query(sql, params)).rows as Row[],
      exec: async (sql) => {
        await migrator.query(sql);
      },
    });
    await migrator.query('COMMIT');
  } catch (error) {
    await migrator.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await migrator.end();
  }

  const changes = new ChangeFeed();
  const listener = await connect();
  listener.on('notification', (message) => {
    if (message.channel === CHANNEL && message.payload) changes.deliver(message.payload);
  });
  // A lost LISTEN connection must not crash the server; recovery is the HA work's.
  listener.on('error', (error) => process.emitWarning(`LISTEN connection lost: ${error.message}`));
  await listener.query(`LISTEN ${CHANNEL}`);

  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }), transactionOptions });
  return {
    prisma,
    changes,
    description,
    async close() {
      await prisma.$disconnect();
      await listener.end();
    },
  };
}

/** The database a configuration names: PostgreSQL when a URL is given, else embedded under dataDir. */
export function openDatabase(config: { databaseUrl?: string | undefined; dataDir: string }): Promise<Database> {
  return config.databaseUrl ? openPostgresDatabase(config.databaseUrl) : openEmbeddedDatabase({ dataDir: config.dataDir });
}
