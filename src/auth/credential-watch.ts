// A WebSocket connection is authenticated once, and a server-sent event stream once:
// both would outlive their token. This watch ends them within moments of the token's
// revoke or its user's role change, from whichever process or SQL session made it, and
// of a change of trust that makes this server refuse the token (its issuer no longer
// trusted): whatever a request with the token would now be refused, ends.
import type { Database, Role } from '../db/client.js';
import type { FeedNotice } from '../db/events.js';
import type { Logger } from '../logger.js';
import { authenticateAgain, type Authentication, type TokenTrust, type UserAuthentication } from './tokens.js';

/** What the watch asks of the ledger: whom it believes, after reading the history as far as a change. */
type IssuerTrust = TokenTrust & { catchUpTo(sequence: number | undefined): Promise<void> };

/** Why a hold ended, in words for the client (a WebSocket close reason: at most 123 bytes). */
export const HOLD_ENDED = 'the token is no longer accepted (revoked, its role changed, or its issuer not trusted): authenticate again';

/**
 * Every token that holds something open is checked again this often: the change
 * notice is the quick way, and this the fallback when a notice was lost.
 */
const RECHECK_MS = 5_000;

interface Hold {
  readonly userId: string;
  readonly role: Role;
  readonly end: () => void;
}

export class CredentialWatch {
  readonly #db: Database;
  readonly #log: Logger;
  /** By token hash. */
  readonly #holds = new Map<string, Set<Hold>>();
  #timer: NodeJS.Timeout | undefined;
  #trust: IssuerTrust | undefined;
  #serverId: string | undefined;
  /** The check of every held token running now, and whether another must follow it. */
  #checkingAll: Promise<void> | undefined;
  #checkAllAgain = false;

  constructor(db: Database, log: Logger) {
    this.#db = db;
    this.#log = log;
  }

  /** `trust`: what server `serverId` believes of issuers, read again after each change of its trust. */
  start(trust: IssuerTrust, serverId: string): void {
    this.#trust = trust;
    this.#serverId = serverId;
    this.#db.changes.on('notice', this.#onNotice);
    this.#timer = setInterval(() => this.#recheckAll(), RECHECK_MS);
    this.#timer.unref();
  }

  stop(): void {
    this.#db.changes.off('notice', this.#onNotice);
    clearInterval(this.#timer);
  }

  /**
   * Calls `end` once the token of `auth` is revoked, its user's role is no longer the one
   * it had, or this server no longer believes its issuer. Returns the release, for when
   * what it holds open ends by itself.
   */
  hold(auth: UserAuthentication, end: () => void): () => void {
    const hold: Hold = { userId: auth.user.id, role: auth.user.role, end };
    const holds = this.#holds.get(auth.tokenHash) ?? new Set();
    holds.add(hold);
    this.#holds.set(auth.tokenHash, holds);
    return () => {
      holds.delete(hold);
      if (holds.size === 0 && this.#holds.get(auth.tokenHash) === holds) this.#holds.delete(auth.tokenHash);
    };
  }

  readonly #onNotice = (notice: FeedNotice) => {
    // A change of this server's pairs may be the distrust of a token's issuer (another
    // pair's cannot be); a resync may hide one.
    if (notice.kind === 'resync') return this.#recheckAll();
    if (notice.kind === 'peerTrustChanged') {
      if (!notice.serverIds.includes(this.#serverId!)) return;
      // Checked against what the history says as far as this change.
      void this.#trust!.catchUpTo(notice.sequence).then(
        () => this.#recheckAll(),
        (error: unknown) => this.#log.warn({ err: error }, 'could not read the Trust History to check tokens; trying again shortly'),
      );
      return;
    }
    if (notice.kind !== 'credentialsChanged') return;
    const tokens = [...this.#holds].filter(([, holds]) => [...holds].some((hold) => hold.userId === notice.userId));
    void this.#recheck(tokens.map(([tokenHash]) => tokenHash));
  };

  /** Checks every held token; checks asked for while one runs make one more after it. */
  #recheckAll(): void {
    if (this.#checkingAll) {
      this.#checkAllAgain = true;
      return;
    }
    this.#checkingAll = (async () => {
      do {
        this.#checkAllAgain = false;
        await this.#recheck([...this.#holds.keys()]);
      } while (this.#checkAllAgain);
    })().finally(() => (this.#checkingAll = undefined));
  }

  async #recheck(tokenHashes: string[]): Promise<void> {
    if (tokenHashes.length === 0 || !this.#trust) return;
    let now: Map<string, Authentication>;
    try {
      now = await authenticateAgain(this.#db.prisma, tokenHashes, this.#trust);
    } catch (error) {
      this.#log.warn({ err: error }, 'could not check tokens for revokes; trying again shortly');
      return;
    }
    for (const tokenHash of tokenHashes) {
      const auth = now.get(tokenHash);
      for (const hold of this.#holds.get(tokenHash) ?? []) {
        if (auth?.kind !== 'user' || auth.user.role !== hold.role) hold.end();
      }
    }
  }
}
