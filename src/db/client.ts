// The edge to the database: one Prisma client, migrated, with its change feed, on
// PostgreSQL: a server named by DATABASE_URL, or the embedded one (embedded.ts).
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { EmbeddedPostgres } from './embedded.js';
import { CHANNEL, ChangeFeed } from './events.js';
import { Prisma, PrismaClient } from './generated/prisma/client.js';
import { migrate, readMigrations } from './migrate.js';
import { silentLogger, type Logger } from '../logger.js';
import { DatabaseUnavailableError, isDatabaseUnavailable } from './errors.js';

export { Prisma, PrismaClient };
export type { Role, User } from './generated/prisma/client.js';
export type TransactionClient = Prisma.TransactionClient;
export { DatabaseUnavailableError, isBadData, isDatabaseUnavailable, isServerBusy, isStorageFull, ServerBusyError } from './errors.js';

export interface Database {
  readonly prisma: PrismaClient;
  /** Committed changes from every process that shares this database. */
  readonly changes: ChangeFeed;
  /** For people: where the data is. */
  readonly description: string;
  /** Whether this process can serve from the database now, check by check: for /ready. */
  readiness(): Promise<Readiness>;
  /** The connection pool's use now: for /metrics. */
  poolUse(): PoolUse;
  /** How long a request waits for the database to take its work (a free connection, or its turn): past it, it is SERVER_BUSY. */
  readonly waitMs: number;
  close(): Promise<void>;
}

/** One readiness check: passed, or why not, in words that name no host, user or database. */
export type Check = { ok: true } | { ok: false; reason: string };

export interface Readiness {
  /** A query on the pool, the way requests reach the database, answers. */
  database: Check;
  /** The LISTEN connection that brings other processes' changes is up. */
  listen: Check;
  /** Every migration this version knows is applied. */
  migrations: Check;
}

export interface PoolUse {
  /** Connections open, in use or idle. */
  total: number;
  idle: number;
  /** Requests queued for a free connection. */
  waiting: number;
  /** The most connections the pool opens. */
  max: number;
}

/**
 * How long a request may wait for a free database connection, and how long a
 * transaction may run. A burst (hundreds of decisions at once) queues rather than
 * fails. The client's default time limit (65 s) is above the worst a request can
 * take: a wait to authenticate, a wait to start its transaction (for a decision, its turn
 * and a connection together), and the transaction.
 */
const POOL_WAIT_MS = 20_000;
const TRANSACTION_TIMEOUT_MS = 20_000;

/** Errors without source excerpts: they reach operators' logs. */
function clientOptions(poolWaitMs: number) {
  return { transactionOptions: { maxWait: poolWaitMs, timeout: TRANSACTION_TIMEOUT_MS }, errorFormat: 'minimal' } as const;
}

function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const socketDir = parsed.searchParams.get('host');
    return socketDir?.startsWith('/')
      ? `PostgreSQL on the socket in ${socketDir}, database ${parsed.pathname.slice(1)}`
      : `PostgreSQL at ${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
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
export async function openPostgresDatabase(
  url: string,
  log: Logger = silentLogger,
  pool: PoolOptions = {},
  description = describeUrl(url),
): Promise<Database> {
  const poolWaitMs = pool.waitMs ?? POOL_WAIT_MS;
  /** A connection of its own; its name says what it is for in pg_stat_activity. */
  const connect = async (purpose: string, queryTimeoutMs?: number) => {
    const client = new BoundedClient({
      connectionString: url,
      application_name: `peertrust ${purpose}`,
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

  const migrator = await connect('migrate');
  try {
    await migrate(migrator);
  } finally {
    await migrator.end();
  }

  const changes = new ChangeFeed();
  const listener = await listenForChanges(connect, changes, log.child({ component: 'listen' }));
  // Ours rather than one PrismaPg makes from a config, so that its use can be measured.
  const connections = new pg.Pool({
    connectionString: url,
    application_name: 'peertrust',
    ...(pool.size ? { max: pool.size } : {}),
    // pg.Pool applies this to waiting for a free connection; BoundedClient limits connecting.
    connectionTimeoutMillis: poolWaitMs,
    Client: BoundedClient,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
  });
  // For the pool's whole life: Prisma's adapter listens only while connected, and an idle
  // connection closed by the database (a restart, a terminated backend) while closing
  // would otherwise be an 'error' event with no listener, which ends the process.
  connections.on('error', (error) => log.debug({ err: error }, 'idle database connection closed'));
  const prisma = new PrismaClient({
    adapter: new PrismaPg(connections),
    ...clientOptions(poolWaitMs),
  });
  const migrationNames = (await readMigrations()).map((m) => m.name);
  return {
    prisma,
    changes,
    description,
    async readiness() {
      const listen: Check = listener.listening ? { ok: true } : { ok: false, reason: 'the LISTEN connection was lost; reconnecting' };
      try {
        await answeredWithin(READY_CHECK_MS, connections.query('SELECT 1'));
      } catch (error) {
        log.debug({ err: error }, 'readiness: the database did not answer');
        return { database: { ok: false, reason: whyNoAnswer(error) }, listen, migrations: { ok: false, reason: 'not checked: the database did not answer' } };
      }
      return { database: { ok: true }, listen, migrations: await missingMigrations(connections, migrationNames) };
    },
    waitMs: poolWaitMs,
    poolUse: () => ({ total: connections.totalCount, idle: connections.idleCount, waiting: connections.waitingCount, max: connections.options.max }),
    async close() {
      await prisma.$disconnect();
      await connections.end();
      await listener.close();
    },
  };
}

/**
 * How long a readiness check waits for the database. A load balancer asks often and
 * wants an answer, not a request queued behind a busy pool.
 */
const READY_CHECK_MS = 3_000;

class NoAnswerError extends Error {}

function answeredWithin<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new NoAnswerError(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Why a check failed, without the driver's words: they name hosts, users and databases. */
function whyNoAnswer(error: unknown): string {
  if (error instanceof NoAnswerError) return error.message;
  if (isDatabaseUnavailable(error)) return 'cannot reach the database';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `the database refused the query (SQLSTATE ${code})` : 'the query failed';
}

async function missingMigrations(connections: pg.Pool, required: string[]): Promise<Check> {
  try {
    const { rows } = await answeredWithin(
      READY_CHECK_MS,
      connections.query<{ migration_name: string }>(
        'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
      ),
    );
    const applied = new Set(rows.map((row) => row.migration_name));
    const missing = required.filter((name) => !applied.has(name));
    return missing.length ? { ok: false, reason: `not applied: ${missing.join(', ')}` } : { ok: true };
  } catch (error) {
    return { ok: false, reason: whyNoAnswer(error) };
  }
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
async function listenForChanges(connect: (purpose: string, queryTimeoutMs: number) => Promise<pg.Client>, changes: ChangeFeed, log: Logger) {
  let current: pg.Client | undefined;
  let closed = false;
  /**
   * The database's time when LISTEN was last known to work. After a loss, changes
   * committed since then may have been missed: the resync starts there, on the
   * database's clock, so that no host's clock matters.
   */
  let healthyAt: Date | undefined;
  let lostAt: number | undefined;
  let retry: NodeJS.Timeout | undefined;

  const checkNow = async (client: pg.Client) => {
    const { rows } = await client.query<{ now: Date }>('SELECT now() AS now');
    if (client === current || current === undefined) healthyAt = rows[0]!.now;
  };

  const open = async () => {
    const client = await connect('listen', LISTEN_CHECK_TIMEOUT_MS);
    client.on('notification', (message) => {
      if (message.channel === CHANNEL && message.payload) changes.deliver(message.payload);
    });
    client.on('error', (error) => lost(client, error));
    client.on('end', () => lost(client));
    const since = healthyAt;
    try {
      await client.query(`LISTEN ${CHANNEL}`);
      await checkNow(client);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    current = client;
    return since;
  };

  const lost = (client: pg.Client, error?: Error) => {
    if (closed || client !== current) return;
    current = undefined;
    lostAt = Date.now();
    log.warn({ err: error }, 'LISTEN connection lost; reconnecting');
    void client.end().catch(() => {});
    reconnect(0);
  };

  const reconnect = (attempt: number) => {
    retry = setTimeout(() => {
      open().then(
        (since) => {
          // Closed while this attempt was under way: the new connection is not wanted.
          if (closed) return void current?.end().catch(() => {});
          log.info({ downMs: Date.now() - (lostAt ?? Date.now()) }, 'LISTEN re-established');
          lostAt = undefined;
          if (since) changes.resync(since);
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
    if (client) checkNow(client).catch((error: Error) => lost(client, error));
  }, LISTEN_CHECK_MS);
  check.unref();
  return {
    /** Whether a connection LISTENs now (one cut off without closing counts until its next check). */
    get listening() {
      return current !== undefined;
    },
    async close() {
      closed = true;
      clearInterval(check);
      clearTimeout(retry);
      await current?.end().catch(() => {});
    },
  };
}

export interface DatabaseConfig {
  databaseUrl?: string | undefined;
  databasePoolSize?: number | undefined;
  /** Where the embedded database lives when no URL is given. */
  dataDir: string;
}

/**
 * The database a server runs on: PostgreSQL when a URL is given, else the embedded
 * one under dataDir, which this process then owns (starts, and stops on close).
 */
export async function openDatabase(config: DatabaseConfig, log: Logger = silentLogger, purpose = 'serve'): Promise<Database> {
  const pool = { size: config.databasePoolSize };
  if (config.databaseUrl) return openPostgresDatabase(config.databaseUrl, log, pool);
  const embedded = await EmbeddedPostgres.start(config.dataDir, { purpose, log: log.child({ component: 'embedded-postgres' }) });
  return withRelease(() => openPostgresDatabase(embedded.url, log, pool, embedded.description), () => embedded.stop());
}

/**
 * The database a short command works on: as openDatabase, except that an embedded
 * database another process runs is used through its socket rather than refused.
 */
export async function openDatabaseForCommand(config: DatabaseConfig, purpose: string): Promise<Database> {
  if (config.databaseUrl) return openPostgresDatabase(config.databaseUrl);
  const embedded = await EmbeddedPostgres.use(config.dataDir, { purpose });
  return withRelease(() => openPostgresDatabase(embedded.url, silentLogger, {}, embedded.description), embedded.release);
}

/** A database that also releases what it runs on when closed (or when it fails to open). */
async function withRelease(open: () => Promise<Database>, release: () => Promise<void>): Promise<Database> {
  let db: Database;
  try {
    db = await open();
  } catch (error) {
    await release();
    throw error;
  }
  return {
    ...db,
    async close() {
      await db.close();
      await release();
    },
  };
}
