// A WebSocket connection is authenticated once, and a server-sent event stream once:
// both would outlive their token. This watch ends them within moments of the token's
// revoke or its user's role change, from whichever process or SQL session made it.
import type { Database, Role } from '../db/client.js';
import type { FeedNotice } from '../db/events.js';
import type { Logger } from '../logger.js';
import type { UserAuthentication } from './tokens.js';

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

  constructor(db: Database, log: Logger) {
    this.#db = db;
    this.#log = log;
  }

  start(): void {
    this.#db.changes.on('notice', this.#onNotice);
    this.#timer = setInterval(() => void this.#recheck([...this.#holds.keys()]), RECHECK_MS);
    this.#timer.unref();
  }

  stop(): void {
    this.#db.changes.off('notice', this.#onNotice);
    clearInterval(this.#timer);
  }

  /**
   * Calls `end` once the token of `auth` is revoked or its user's role is no longer the
   * one it had. Returns the release, for when what it holds open ends by itself.
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
    if (notice.kind === 'resync') void this.#recheck([...this.#holds.keys()]);
    if (notice.kind !== 'credentialsChanged') return;
    const tokens = [...this.#holds].filter(([, holds]) => [...holds].some((hold) => hold.userId === notice.userId));
    void this.#recheck(tokens.map(([tokenHash]) => tokenHash));
  };

  async #recheck(tokenHashes: string[]): Promise<void> {
    if (tokenHashes.length === 0) return;
    let valid: Map<string, Role>;
    try {
      const rows = await this.#db.prisma.apiToken.findMany({
        where: { tokenHash: { in: tokenHashes }, revokedAt: null },
        select: { tokenHash: true, user: { select: { role: true } } },
      });
      valid = new Map(rows.map((row) => [row.tokenHash, row.user.role]));
    } catch (error) {
      this.#log.warn({ err: error }, 'could not check tokens for revokes; trying again shortly');
      return;
    }
    for (const tokenHash of tokenHashes) {
      for (const hold of this.#holds.get(tokenHash) ?? []) {
        if (valid.get(tokenHash) !== hold.role) hold.end();
      }
    }
  }
}
