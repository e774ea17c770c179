// What a database writer holding a key of their own can append or insert: decisions and
// registrations signed and hashed like any, key rows listed as a server's.
import type { RootKeyPair } from '../src/identity/root-key.js';
import { signedDecision } from '../src/trust/decisions.js';
import { appendClauses, AUTOMATIC_ACTOR, reserve } from '../src/trust/history.js';
import { registrationEvent } from '../src/trust/servers.js';
import { inTransaction } from '../src/trust/transaction.js';
import { keyPairInMemory, type TestCluster } from './helpers.js';

/** A server as a forgery names it. */
type Named = { id: string; fingerprint: string };

/**
 * Appends a decision on the pair of `decider` and `about` as someone with the database and `key`
 * would: signed and hashed like any, the pair's row changed to match.
 */
export async function forgeDecision(
  cluster: TestCluster,
  forged: { decider: Named; key: RootKeyPair; kind: 'REVOKE' | 'DENY'; about: Named; verified: string | undefined; event: 'TRUST_REVOKED' | 'TRUST_DENIED' },
): Promise<void> {
  const [serverAId, serverBId] = [forged.decider.id, forged.about.id].sort() as [string, string];
  const row = await cluster.db.prisma.peerTrust.findUniqueOrThrow({ where: { serverAId_serverBId: { serverAId, serverBId } } });
  const status = forged.kind === 'REVOKE' ? 'REVOKED' : 'DENIED';
  await inTransaction(cluster.db, async (tx, afterCommit) => {
    const reservation = await reserve(tx, 1);
    const { events } = signedDecision({
      decider: { serverId: forged.decider.id, key: forged.key },
      kind: forged.kind,
      pair: row,
      peer: { id: forged.about.id, fingerprint: forged.about.fingerprint },
      verified: forged.verified,
      actor: { id: AUTOMATIC_ACTOR, name: '(peertrust)' },
      reservation,
      events: [forged.event],
    });
    const appended = await appendClauses(cluster.db, tx, afterCommit, reservation, events, { serverId: forged.decider.id, key: forged.key });
    await tx.$executeRaw`WITH ${appended} UPDATE "PeerTrust" SET "status" = ${status}::"TrustStatus", "acceptedByA" = false, "acceptedByB" = false, "lastSequence" = ${reservation.first} WHERE "id" = ${row.id}::uuid`;
  });
}

/**
 * A key of an attacker's own, added by SQL as `server`'s: listed as its newest key, or
 * as one it retired long ago (its current key unchanged).
 */
export async function keyRowFor(cluster: TestCluster, server: Named, listed: 'current' | 'retired'): Promise<RootKeyPair> {
  const rogue = keyPairInMemory();
  const year = 365 * 24 * 3600_000;
  const createdAt = new Date(Date.now() + (listed === 'current' ? 60_000 : -year));
  await cluster.db.prisma.$executeRaw`
    INSERT INTO "RootKey" ("id", "serverId", "publicKey", "fingerprint", "createdAt", "retiredAt")
    VALUES (gen_random_uuid(), ${server.id}::uuid, ${rogue.publicKeyPem}, ${rogue.fingerprint}, ${createdAt}, ${listed === 'retired' ? createdAt : null})`;
  return rogue;
}

/**
 * Registrations of `serverId` with `key`, appended as a database writer would: `copies`
 * entries of one statement, the checkpoint signed by `checkpointBy` (a server of the
 * writer's own, say; by default the key registered, in `serverId`'s name).
 */
export async function forgeRegistration(
  cluster: TestCluster,
  serverId: string,
  key: RootKeyPair,
  { copies = 1, checkpointBy = { serverId, key } }: { copies?: number; checkpointBy?: { serverId: string; key: RootKeyPair } } = {},
): Promise<void> {
  await inTransaction(cluster.db, async (tx, afterCommit) => {
    const reservation = await reserve(tx, copies);
    const event = registrationEvent(serverId, key, reservation);
    const appended = await appendClauses(cluster.db, tx, afterCommit, reservation, Array.from({ length: copies }, () => event), checkpointBy);
    await tx.$executeRaw`WITH ${appended} SELECT 1`;
  });
}
