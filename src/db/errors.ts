// What a database error means for the caller: the database cannot be reached, this
// process is overloaded, or the database's storage is full. Anything else is a bug or
// a bad request, for the caller to handle.
import { OperatorError } from '../operator-error.js';

/** A problem with where the data is that the person starting peertrust must fix. */
export class DatabaseUnavailableError extends OperatorError {}

/** This process has more work for the database than it can start within a request's wait. */
export class ServerBusyError extends Error {
  override name = 'ServerBusyError';
}

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
  /** GraphQL's wrapping of what a resolver threw. */
  originalError?: unknown;
  meta?: { driverAdapterError?: { cause?: unknown } };
}

/** Whether `test` holds for an error or one of its causes (Prisma wraps the driver's, GraphQL what a resolver threw). */
function anyCause(error: unknown, test: (e: ErrorShape) => boolean): boolean {
  for (let cause = error, depth = 0; cause && typeof cause === 'object' && depth < 5; depth++) {
    const e = cause as ErrorShape;
    if (test(e)) return true;
    cause = e.meta?.driverAdapterError?.cause ?? e.cause ?? e.originalError;
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

/** PostgreSQL: disk_full. The same in words from the operating system, where PostgreSQL passes it on. */
const STORAGE_FULL_SQLSTATE = /^53100$/;
const STORAGE_FULL_MESSAGE = /No space left on device|could not extend file/i;

/** Whether an error means the database's storage is full: nothing can be written until space is freed. */
export function isStorageFull(error: unknown): boolean {
  return anyCause(
    error,
    (e) =>
      (typeof e.code === 'string' && STORAGE_FULL_SQLSTATE.test(e.code)) ||
      (typeof e.originalCode === 'string' && STORAGE_FULL_SQLSTATE.test(e.originalCode)) ||
      (typeof e.message === 'string' && STORAGE_FULL_MESSAGE.test(e.message)),
  );
}

/**
 * Whether an error means this process is overloaded: the database answers, but every
 * connection of the pool was busy, or the work queued, for longer than a request may wait.
 */
export function isServerBusy(error: unknown): boolean {
  return anyCause(
    error,
    (e) =>
      e instanceof ServerBusyError ||
      (typeof e.code === 'string' && BUSY_PRISMA_CODES.has(e.code)) ||
      (typeof e.message === 'string' && BUSY_MESSAGE.test(e.message)),
  );
}

/** PostgreSQL: data exceptions (22) and integrity constraint violations (23): what a statement's values caused. */
const BAD_DATA_SQLSTATE = /^2[23]...$/;

/** Whether an error is about the values a statement wrote (a broken foreign key, say), not about the database or the load. */
export function isBadData(error: unknown): boolean {
  return anyCause(
    error,
    (e) => (typeof e.code === 'string' && BAD_DATA_SQLSTATE.test(e.code)) || (typeof e.originalCode === 'string' && BAD_DATA_SQLSTATE.test(e.originalCode)),
  );
}
