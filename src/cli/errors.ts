// How the trust commands end, for people and for scripts. The codes are documented in
// the README and in --help; keep the three in step.
import { OperatorError } from '../operator-error.js';

export const ExitCode = {
  ok: 0,
  /** The API refused the action (a typed error of its result union), PEER names no single server, or a history does not verify. */
  refused: 1,
  /** Usage or configuration: flags, --url, PEERTRUST_TOKEN. */
  usage: 2,
  /** UNAUTHENTICATED or FORBIDDEN. */
  permission: 3,
  /** The server cannot be reached, or cannot serve now (DATABASE_UNAVAILABLE, SERVER_BUSY, STORAGE_FULL, RATE_LIMITED). */
  unavailable: 4,
} as const;

export const exitCodesHelp = `Exit codes:
  0  done
  1  the API refused the action (FingerprintMismatchError, TrustDeniedError, NotFoundError, ...),
     or PEER names no server or more than one, or the history (or bundle) does not verify
  2  usage or configuration (flags, --url, PEERTRUST_TOKEN)
  3  authentication or permission (UNAUTHENTICATED, FORBIDDEN)
  4  the server is unreachable or cannot serve now (DATABASE_UNAVAILABLE, SERVER_BUSY, STORAGE_FULL),
     or not for this client yet (RATE_LIMITED): try again later`;

/** A command failed in a way its user can act on: one line on stderr, this exit code. */
export class CliError extends OperatorError {
  /**
   * @param type what failed, for --json: the API's error type (FingerprintMismatchError)
   *   or code (FORBIDDEN), or UNREACHABLE, USAGE, AmbiguousNameError
   */
  constructor(
    message: string,
    override readonly exitCode: number,
    readonly type: string,
    /** More for --json: the typed error's own fields, the servers a name matched. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
