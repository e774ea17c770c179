// What was changed in the database behind this server's back. Every interval (and at
// start) the server compares its stored pairs with its verified history; a pair that
// differs is logged once and recorded in the Trust History as TAMPERING_DETECTED,
// signed by this server, which also announces the pair to every subscriber (each then
// reads it as UNVERIFIED, with the reason). A read of a pair checks it too, and reports
// it UNVERIFIED at once; the record and the push wait for the next comparison.
import { peerTrustChangedNotices } from '../db/events.js';
import type { PeerTrust } from '../db/generated/prisma/client.js';
import { canonical, signStatement, TamperingStatement } from '../identity/statements.js';
import type { Logger } from '../logger.js';
import { appendClauses, AUTOMATIC_ACTOR, reserve } from './history.js';
import { withOwnKey } from './keys.js';
import { serversWithFingerprints } from './servers.js';
import type { ServerScope } from './scope.js';
import { inTransaction } from './transaction.js';

export class TamperingWatch {
  readonly #scope: ServerScope;
  readonly #intervalMs: number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> = Promise.resolve();

  constructor(scope: ServerScope, intervalMs: number, log: Logger) {
    this.#scope = scope;
    this.#intervalMs = intervalMs;
    this.#log = log;
  }

  start(): void {
    const run = () => {
      this.#checking = this.check().catch((error: unknown) => this.#log.warn({ err: error }, 'could not compare the pairs with the Trust History'));
    };
    run();
    this.#timer = setInterval(run, this.#intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#checking;
  }

  /**
   * Compares every pair of this server with the verified history; records what differs,
   * once. One that cannot be recorded now is tried again at the next check, and the
   * others are checked all the same.
   */
  async check(): Promise<void> {
    const scope = this.#scope;
    const pairs = await scope.db.prisma.peerTrust.findMany({ where: { OR: [{ serverAId: scope.serverId }, { serverBId: scope.serverId }] } });
    const peers = await this.#peers(pairs);
    let failure: unknown;
    for (const pair of pairs) {
      const peer = peers.get(this.#peerId(pair));
      if (!peer) continue;
      try {
        // The verdict reads the row and the peer again where the history has moved past them.
        const verdict = await scope.ledger.verdict(pair, peer);
        if (verdict.verified || !scope.ledger.isUnreported(pair.id, verdict.reason)) continue;
        await recordTampering(scope, pair, verdict.reason);
        scope.ledger.reported(pair.id, verdict.reason);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure) throw failure;
  }

  #peerId(pair: PeerTrust): string {
    return pair.serverAId === this.#scope.serverId ? pair.serverBId : pair.serverAId;
  }

  async #peers(pairs: PeerTrust[]) {
    const servers = await serversWithFingerprints(this.#scope.db.prisma, pairs.map((pair) => this.#peerId(pair)));
    return new Map(servers.map((server) => [server.id, server]));
  }
}

/** Appends TAMPERING_DETECTED about a pair, signed by this server; the pair itself is left as it is. */
async function recordTampering(scope: ServerScope, pair: PeerTrust, reason: string): Promise<void> {
  await withOwnKey(scope, (key) => inTransaction(scope.db, async (tx, afterCommit) => {
    const reservation = await reserve(tx, 1);
    const statement = canonical(TamperingStatement, {
      type: 'peertrust/tampering/v1',
      pair: pair.id,
      detector: { server: scope.serverId, fingerprint: key.fingerprint },
      reason,
      time: reservation.at.toISOString(),
      sequence: Number(reservation.first),
    });
    const appended = await appendClauses(scope.db, tx, afterCommit, reservation, [{
      kind: 'TAMPERING_DETECTED',
      pair,
      serverId: scope.serverId,
      actorId: AUTOMATIC_ACTOR,
      fingerprints: [],
      statement,
      signatures: [{ fingerprint: key.fingerprint, signature: signStatement(statement, key.privateKey) }],
    }], { serverId: scope.serverId, key });
    await tx.$executeRaw`WITH ${appended} SELECT ${peerTrustChangedNotices([pair])}`;
  }));
}
