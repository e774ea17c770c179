// Root key rotation: a server replaces its key with a new one that the current key
// endorses (and that confirms the current one), so that peers which trusted the old key
// go on trusting the server. The history records KEY_ROTATED with both fingerprints on
// each of the server's pairs; the old key is kept, retired, and listed.
import type { Database } from '../db/client.js';
import { peerTrustChangedNotices } from '../db/events.js';
import type { Server } from '../db/generated/prisma/client.js';
import { interruptedRotation, prepareRotation, type RootKeyPair } from '../identity/root-key.js';
import { canonical, encodePublicKey, KeyRotationStatement, signStatement } from '../identity/statements.js';
import { NotFoundError, ServerDecommissionedError } from './errors.js';
import { appendClauses, reserve, type NewEvent } from './history.js';
import type { Actor, ServerScope } from './scope.js';
import { inTransaction } from './transaction.js';

/**
 * A rotation a crash interrupted after writing the next key: kept if the database
 * recorded it (then it is the key to hold), forgotten if not. Returns the key to hold.
 */
export async function finishInterruptedRotation(db: Database, serverId: string, current: RootKeyPair): Promise<RootKeyPair> {
  const pending = await interruptedRotation(current.dataDir);
  if (!pending) return current;
  const recorded = await db.prisma.rootKey.findFirst({ where: { serverId, fingerprint: pending.next.fingerprint } });
  if (!recorded) {
    await pending.abandon();
    return current;
  }
  await pending.commit();
  return pending.next;
}

/** The last of the work signing with each server's key in this process: the next waits for it. */
const keyTurns = new WeakMap<ServerScope, Promise<unknown>>();

/**
 * Runs work that signs with this server's key, one at a time in this process, with the
 * key to sign with. A rotation is such work: it never replaces the key between another
 * one's reservation in the history and the signature that names that place (a decision
 * signed by a key its rotation retired before it would never verify).
 */
export function withOwnKey<T>(scope: ServerScope, work: (key: RootKeyPair) => Promise<T>): Promise<T> {
  const turn = (keyTurns.get(scope) ?? Promise.resolve()).then(() => work(scope.identity.key));
  keyTurns.set(scope, turn.catch(() => {}));
  return turn;
}

/** Replaces this server's root key with a new one; peers keep trusting it. Returns the server. */
export function rotateRootKey(scope: ServerScope, actor: Actor): Promise<Server> {
  return withOwnKey(scope, (current) => rotate(scope, actor, current));
}

async function rotate(scope: ServerScope, actor: Actor, current: RootKeyPair): Promise<Server> {
  const pending = await prepareRotation(current.dataDir);
  const { next } = pending;
  let server: Server;
  try {
    server = await inTransaction(scope.db, async (tx, afterCommit) => {
      const [self] = await tx.$queryRaw<Server[]>`SELECT * FROM "Server" WHERE "id" = ${scope.serverId}::uuid FOR NO KEY UPDATE`;
      if (!self) throw new NotFoundError('server', scope.serverId);
      if (self.status === 'DECOMMISSIONED') throw new ServerDecommissionedError(self.name, true);
      const pairs = await tx.peerTrust.findMany({
        where: { OR: [{ serverAId: scope.serverId }, { serverBId: scope.serverId }] },
        orderBy: { id: 'asc' },
        select: { id: true, serverAId: true, serverBId: true },
      });
      const reservation = await reserve(tx, Math.max(1, pairs.length));
      const statement = canonical(KeyRotationStatement, {
        type: 'peertrust/key-rotation/v1',
        server: scope.serverId,
        from: current.fingerprint,
        to: next.fingerprint,
        publicKey: encodePublicKey(next.publicKeyPem),
        administrator: { user: actor.id, name: actor.name },
        time: reservation.at.toISOString(),
        sequence: Number(reservation.first),
      });
      // Signed by both: the old key endorses the new, the new one confirms the old.
      const signatures = [
        { fingerprint: current.fingerprint, signature: signStatement(statement, current.privateKey) },
        { fingerprint: next.fingerprint, signature: signStatement(statement, next.privateKey) },
      ];
      const event = (pair: NewEvent['pair']): NewEvent => ({
        kind: 'KEY_ROTATED',
        pair,
        serverId: scope.serverId,
        actorId: actor.id,
        fingerprints: [current.fingerprint, next.fingerprint],
        statement,
        signatures,
      });
      const events = pairs.length ? pairs.map(event) : [event(null)];
      const appended = await appendClauses(scope.db, tx, afterCommit, reservation, events, { serverId: scope.serverId, key: next });
      const [updated] = await tx.$queryRaw<Server[]>`
        WITH ${appended}, "retired" AS (
          UPDATE "RootKey" SET "retiredAt" = ${reservation.at}::timestamptz
          WHERE "serverId" = ${scope.serverId}::uuid AND "retiredAt" IS NULL
        ), "added" AS (
          INSERT INTO "RootKey" ("id", "serverId", "publicKey", "fingerprint", "createdAt", "rotationStatement", "rotationSignatures")
          VALUES (gen_random_uuid(), ${scope.serverId}::uuid, ${next.publicKeyPem}, ${next.fingerprint}, ${reservation.at}::timestamptz,
                  ${statement}, ${JSON.stringify({ from: signatures[0]!.signature, to: signatures[1]!.signature })}::jsonb)
        )
        SELECT s.*, ${peerTrustChangedNotices(pairs)} AS "notified" FROM "Server" s WHERE s."id" = ${scope.serverId}::uuid`;
      return updated!;
    });
  } catch (error) {
    await pending.abandon();
    throw error;
  }
  // The database holds the new key from its commit on: so does this process, even if
  // moving the key files fails (the next start finishes that, finishInterruptedRotation).
  scope.identity.key = next;
  scope.ledger.holdsKey(next.fingerprint);
  await pending.commit();
  return server;
}
