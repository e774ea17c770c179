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
import { silentLogger, type Logger } from '../logger.js';
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

/** Prisma's codes for "cannot reach", "timed out", "connection closed". */
const UNAVAILABLE_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017']);
/** The driver adapter's kinds of the same. */
const UNAVAILABLE_ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
/** PostgreSQL: connection exceptions (08), shutting down or starting up (57P0x), too many connections. */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[1-3]|53300)$/;
/** node-postgres says these in words only. */
const UNAVAILABLE_MESSAGE = /Connection terminated|timeout expired|Query read timeout|connection error|ECONNREFUSED|ECONNRESET/i;

/**
 * Every connection of this process stayed in use for the pool's wait: node-postgres's
 * pool says so in words, Prisma with P2024, or with P2028 and these words when a
 * transaction could not start in time (P2028 covers other transaction errors too).
 */
const BUSY_PRISMA_CODES = new Set(['P2024']);
const BUSY_MESSAGE = /timeout exceeded when trying to connect|Unable to start a transaction in the given time/i;

interface ErrorShape {
  code?: unknown;
  kind?: unknown;
  originalCode?: unknown;
  message?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: { cause?: unknown } };
}

/** Whether `test` holds for an error or one of its causes (Prisma wraps the driver's). */
function anyCause(error: unknown, test: (e: ErrorShape) => boolean): boolean {
  for (let cause = error, depth = 0; cause && typeof cause === 'object' && depth < 5; depth++) {
    const e = cause as ErrorShape;
    if (test(e)) return true;
    cause = e.meta?.driverAdapterError?.cause ?? e.cause;
  }
  return false;
}

/**
 * Whether an error means the database cannot be reached right now (it is down,
 * restarting or refusing connections), as opposed to a bug or a bad request.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return anyCause(
    error,
    (e) =>
      e instanceof DatabaseUnavailableError ||
      (typeof e.code === 'string' && (UNAVAILABLE_PRISMA_CODES.has(e.code) || UNAVAILABLE_SQLSTATE.test(e.code))) ||
      (typeof e.kind === 'string' && UNAVAILABLE_ADAPTER_KINDS.has(e.kind)) ||
      (typeof e.originalCode === 'string' && UNAVAILABLE_SQLSTATE.test(e.originalCode)) ||
      (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)),
  );
}

/**
 * Whether an error means this process is overloaded: the database answers, but every
 * connection of the pool was busy for longer than a request may wait for one.
 */
export function isServerBusy(error: unknown): boolean {
  return anyCause(
    error,
    (e) =>
      (typeof e.code === 'string' && BUSY_PRISMA_CODES.has(e.code)) ||
      (typeof e.message === 'string' && BUSY_MESSAGE.test(e.message)),
  );
}

/**
 * How long a request may wait for a free database connection, and how long a
 * transaction may run. A burst (hundreds of decisions at once) queues rather than
 * fails. The client's default time limit (65 s) is above the worst a request can
 * take: a wait to authenticate, a wait to start its transaction, and the transaction.
 */
const POOL_WAIT_MS = 20_000;
const TRANSACTION_TIMEOUT_MS = 20_000;

/** For both databases. Errors without source excerpts: they reach operators' logs. */
function clientOptions(poolWaitMs = POOL_WAIT_MS) {
  return { transactionOptions: { maxWait: poolWaitMs, timeout: TRANSACTION_TIMEOUT_MS }, errorFormat: 'minimal' } as const;
}

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
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite), ...clientOptions() });
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

/**
 * Every connection peertrust opens: a dead database must fail a connection attempt
 * within seconds. pg.Pool would give its clients its own time limit, which is also how
 * long a request may queue for a free connection (much longer, for bursts).
 */
class BoundedClient extends pg.Client {
  constructor(config: pg.ClientConfig = {}) {
    super({ ...config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  }
}

export interface PoolOptions {
  /** Connections this process keeps at most; node-postgres's 10 when not given. */
  size?: number | undefined;
  /** How long a request waits for a free connection before it is SERVER_BUSY. */
  waitMs?: number;
}

/** Opens PostgreSQL, applies migrations and starts listening for changes. */
export async function openPostgresDatabase(url: string, log: Logger = silentLogger, pool: PoolOptions = {}): Promise<Database> {
  const poolWaitMs = pool.waitMs ?? POOL_WAIT_MS;
  const description = describeUrl(url);
  const connect = async (queryTimeoutMs?: number) => {
    const client = new BoundedClient({
      connectionString: url,
      keepAlive: true,
      ...(queryTimeoutMs ? { query_timeout: queryTimeoutMs } : {}),
    });
    // An error on an idle connection (the database restarted) must not crash the process.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
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
  const listener = await listenForChanges(connect, changes, log.child({ component: 'listen' }));
  const prisma = new PrismaClient({
    adapter: new PrismaPg(
      {
        connectionString: url,
        ...(pool.size ? { max: pool.size } : {}),
        // pg.Pool applies this to waiting for a free connection; BoundedClient limits connecting.
        connectionTimeoutMillis: poolWaitMs,
        Client: BoundedClient,
        query_timeout: QUERY_TIMEOUT_MS,
        keepAlive: true,
      },
      { onPoolError: (error) => log.debug({ err: error }, 'idle database connection closed') },
    ),
    ...clientOptions(poolWaitMs),
  });
  return {
    prisma,
    changes,
    description,
    async close() {
      await prisma.$disconnect();
      await listener.close();
    },
  };
}

/** A connection attempt that takes longer fails, so that no request waits on a dead database. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * A query that gets no answer for this long fails: the database's host may be gone
 * without closing the connection. Transactions are bounded by Prisma at 20 s.
 */
const QUERY_TIMEOUT_MS = 30_000;
/**
 * How often the LISTEN connection is checked, and how long the check may take. A
 * connection cut off without being closed would otherwise drop notices silently.
 */
const LISTEN_CHECK_MS = 10_000;
const LISTEN_CHECK_TIMEOUT_MS = 5_000;
/** Reconnect delays after a lost LISTEN connection: quick at first, then at most this. */
const RECONNECT_MAX_DELAY_MS = 1_000;

/**
 * Keeps one connection LISTENing on the change channel. When it is lost (the database
 * restarted, the network broke), it reconnects with backoff, then tells the feed to
 * resync, since notices sent while it was away were not delivered to this process.
 */
async function listenForChanges(connect: (queryTimeoutMs: number) => Promise<pg.Client>, changes: ChangeFeed, log: Logger) {
  let current: pg.Client | undefined;
  let closed = false;
  let lostAt: Date | undefined;
  let retry: NodeJS.Timeout | undefined;

  const open = async () => {
    const client = await connect(LISTEN_CHECK_TIMEOUT_MS);
    client.on('notification', (message) => {
      if (message.channel === CHANNEL && message.payload) changes.deliver(message.payload);
    });
    client.on('error', (error) => lost(client, error));
    client.on('end', () => lost(client));
    try {
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    current = client;
  };

  const lost = (client: pg.Client, error?: Error) => {
    if (closed || client !== current) return;
    current = undefined;
    lostAt = new Date();
    log.warn({ err: error }, 'LISTEN connection lost; reconnecting');
    void client.end().catch(() => {});
    reconnect(0);
  };

  const reconnect = (attempt: number) => {
    retry = setTimeout(() => {
      open().then(
        () => {
          // Closed while this attempt was under way: the new connection is not wanted.
          if (closed) return void current?.end().catch(() => {});
          const since = lostAt ?? new Date();
          lostAt = undefined;
          log.info({ downMs: Date.now() - since.getTime() }, 'LISTEN re-established');
          changes.resync(since);
        },
        (error: unknown) => {
          if (attempt === 0) log.warn({ err: error }, 'database unavailable; still trying');
          if (!closed) reconnect(attempt + 1);
        },
      );
    }, Math.min(100 * 2 ** attempt, RECONNECT_MAX_DELAY_MS));
  };

  await open();
  const check = setInterval(() => {
    const client = current;
    client?.query('SELECT 1').catch((error: Error) => lost(client, error));
  }, LISTEN_CHECK_MS);
  check.unref();
  return {
    async close() {
      closed = true;
      clearInterval(check);
      clearTimeout(retry);
      await current?.end().catch(() => {});
    },
  };
}

/** The database a configuration names: PostgreSQL when a URL is given, else embedded under dataDir. */
export function openDatabase(
  config: { databaseUrl?: string | undefined; databasePoolSize?: number; dataDir: string },
  log: Logger = silentLogger,
): Promise<Database> {
  return config.databaseUrl
    ? openPostgresDatabase(config.databaseUrl, log, { size: config.databasePoolSize })
    : openEmbeddedDatabase({ dataDir: config.dataDir });
}
