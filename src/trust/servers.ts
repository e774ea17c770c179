// Server instances: how they register and discover each other through the shared
// database, stay visibly alive, and are decommissioned.
import type { Database, Prisma } from '../db/client.js';
import { notifyPeerTrustChanged } from '../db/events.js';
import { NotFoundError } from './errors.js';
import { decide } from './state-machine.js';
import { orderedPair, peerIdFor, type Actor, type ServerScope } from './scope.js';
import { inTransaction } from './transaction.js';

/** Serialises registrations so that two servers starting together still see each other. */
const REGISTRATION_LOCK = 0x70747275; // "ptru"

export interface Registration {
  name: string;
  addresses: string[];
  publicKeyPem: string;
  fingerprint: string;
  /** How often it will heartbeat (see liveness.ts). */
  heartbeatIntervalMs: number;
}

/**
 * Registers the server that owns this root key, or updates it when it restarts (same
 * data directory, same key, same instance), and creates its pair with every other
 * server. Returns the server's id.
 */
export async function registerServer(db: Database, registration: Registration): Promise<string> {
  return inTransaction(db, async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REGISTRATION_LOCK}::bigint)`;
    const key = await tx.rootKey.findUnique({ where: { fingerprint: registration.fingerprint } });
    // What a server may change about itself between starts.
    const profile = {
      name: registration.name,
      addresses: registration.addresses,
      heartbeatIntervalMs: registration.heartbeatIntervalMs,
    };
    const server = key
      ? await tx.server.update({ where: { id: key.serverId }, data: profile })
      : await tx.server.create({
          data: {
            ...profile,
            rootKeys: { create: { publicKey: registration.publicKeyPem, fingerprint: registration.fingerprint } },
          },
        });
    const created = await tx.$queryRaw<{ id: string; serverAId: string; serverBId: string }[]>`
      INSERT INTO "PeerTrust" ("id", "serverAId", "serverBId")
      SELECT gen_random_uuid(), LEAST(s."id", ${server.id}::uuid), GREATEST(s."id", ${server.id}::uuid)
      FROM "Server" s WHERE s."id" <> ${server.id}::uuid
      ON CONFLICT ("serverAId", "serverBId") DO NOTHING
      RETURNING "id", "serverAId", "serverBId"`;
    for (const pair of created) {
      await notifyPeerTrustChanged(tx, pair);
    }
    return server.id;
  });
}

/** Query arguments for every server of the cluster, oldest first. */
export function allServers(): Prisma.ServerFindManyArgs {
  return { orderBy: [{ registeredAt: 'asc' }, { id: 'asc' }] };
}

/** The current root key is the newest one. */
export const currentRootKey = { orderBy: { createdAt: 'desc' }, take: 1 } satisfies Prisma.Server$rootKeysArgs;

/**
 * Marks a peer DECOMMISSIONED and revokes its PENDING and TRUSTED pairs. A
 * decommissioned server can no longer be approved, but it can be denied.
 */
export async function decommissionServer(scope: ServerScope, actor: Actor, input: { serverId: string }) {
  const peerId = peerIdFor(scope, input.serverId);
  return inTransaction(scope.db, async (tx) => {
    await tx.$executeRaw`SELECT 1 FROM "Server" WHERE "id" = ${peerId}::uuid FOR UPDATE`;
    const peer = await tx.server.findUnique({ where: { id: peerId }, include: { rootKeys: currentRootKey } });
    if (!peer) throw new NotFoundError('server', input.serverId);
    if (peer.status === 'DECOMMISSIONED') return peer;
    const now = new Date();
    const decommissioned = await tx.server.update({
      where: { id: peerId },
      data: { status: 'DECOMMISSIONED', decommissionedAt: now },
    });
    const fingerprints = peer.rootKeys.map((k) => k.fingerprint);
    // Lock in id order, as every other transaction does, so that two cannot deadlock.
    await tx.$executeRaw`SELECT 1 FROM "PeerTrust" WHERE "serverAId" = ${peerId}::uuid OR "serverBId" = ${peerId}::uuid ORDER BY "id" FOR UPDATE`;
    const pairs = await tx.peerTrust.findMany({
      where: { OR: [{ serverAId: peerId }, { serverBId: peerId }] },
      orderBy: { id: 'asc' },
    });
    const ownPair = orderedPair(scope.serverId, peerId);
    for (const pair of pairs) {
      const revoke = decide(pair, 'A', 'REVOKE');
      const isOwnPair = pair.serverAId === ownPair.serverAId && pair.serverBId === ownPair.serverBId;
      const event = { at: now, peerTrustId: pair.id, serverId: scope.serverId, actorId: actor.id, fingerprints };
      if (revoke.outcome === 'changed') {
        await tx.peerTrust.update({ where: { id: pair.id }, data: { ...revoke.next, updatedAt: now } });
        await tx.trustEvent.create({ data: { kind: 'TRUST_REVOKED', ...event } });
      }
      if (isOwnPair) await tx.trustEvent.create({ data: { kind: 'SERVER_DECOMMISSIONED', ...event } });
      // Every pair of the peer changes meaning (its approval is no longer asked for).
      await notifyPeerTrustChanged(tx, pair);
    }
    return decommissioned;
  });
}
