// Server instances: how they register and discover each other through the shared
// database, stay visibly alive, and are decommissioned.
import { Prisma, type Database, type TransactionClient } from '../db/client.js';
import { notifyPeerTrustChanged, peerTrustChangedNotices } from '../db/events.js';
import type { PeerTrust, Server } from '../db/generated/prisma/client.js';
import type { ServerStatus, TrustEventKind } from '../db/generated/prisma/enums.js';
import type { RootKeyPair } from '../identity/root-key.js';
import { canonical, DecisionStatement, encodePublicKey, RegistrationStatement, signStatement } from '../identity/statements.js';
import { NotFoundError, ServerDecommissionedError, UntrustedDecommissionError } from './errors.js';
import { appendClauses, AUTOMATIC_ACTOR, reserve, type NewEvent, type Reservation } from './history.js';
import { withOwnKey } from './keys.js';
import { decide } from './state-machine.js';
import { orderedPair, peerIdFor, type Actor, type ServerScope } from './scope.js';
import { inTransaction, type AfterCommit } from './transaction.js';

/** Serialises registrations so that two servers starting together still see each other. */
const REGISTRATION_LOCK = 0x70747275; // "ptru"

export interface Registration {
  name: string;
  addresses: string[];
  /** The instance's root key: a new instance's registration is signed with it. */
  key: RootKeyPair;
  /** How often it will heartbeat (see liveness.ts). */
  heartbeatIntervalMs: number;
}

/** What registration found: the instance's id, and an active server it may replace. */
export interface Registered {
  serverId: string;
  /** A peer decommissioned this instance: it takes no more decisions. */
  decommissioned: boolean;
  possibleReplacementOf?: { id: string; name: string } | undefined;
}

/**
 * Registers the server that owns this root key, or updates it when it restarts (same
 * data directory, same key, same instance), and creates its pair with every other
 * server that takes decisions: a pair with a decommissioned server could only ever be
 * revoked (a new instance would list its own predecessor as a peer), and a
 * decommissioned server takes no new peers. A new key is a new instance: when an active server has its name or one of
 * its addresses, the new one is marked as its possible replacement, for operators to
 * see (it may be an impostor: only a rotation, endorsed by the old key, keeps trust).
 */
export async function registerServer(db: Database, registration: Registration): Promise<Registered> {
  return inTransaction(db, async (tx, afterCommit) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REGISTRATION_LOCK}::bigint)`;
    const key = await tx.rootKey.findUnique({ where: { fingerprint: registration.key.fingerprint } });
    // What a server may change about itself between starts.
    const profile = {
      name: registration.name,
      addresses: registration.addresses,
      heartbeatIntervalMs: registration.heartbeatIntervalMs,
    };
    // The same name, or an address of a server that is not running (stopped, or three
    // heartbeats missed): servers of one host share their addresses while they run.
    const [replaced] = key
      ? []
      : await tx.$queryRaw<{ id: string; name: string }[]>`
          SELECT "id", "name" FROM "Server"
          WHERE "status" = 'ACTIVE' AND ("name" = ${registration.name} OR ("addresses" && ${registration.addresses}::text[]
            AND ("stoppedAt" >= "lastSeenAt" OR "lastSeenAt" < now() - 3 * "heartbeatIntervalMs" * interval '1 millisecond')))
          ORDER BY "registeredAt" DESC LIMIT 1`;
    const server = key
      ? await tx.server.update({ where: { id: key.serverId }, data: profile })
      : await tx.server.create({
          data: {
            ...profile,
            possibleReplacementOfId: replaced?.id ?? null,
            rootKeys: { create: { publicKey: registration.key.publicKeyPem, fingerprint: registration.key.fingerprint } },
          },
        });
    const created = server.status === 'DECOMMISSIONED' ? [] : await tx.$queryRaw<{ id: string; serverAId: string; serverBId: string }[]>`
      INSERT INTO "PeerTrust" ("id", "serverAId", "serverBId")
      SELECT gen_random_uuid(), LEAST(s."id", ${server.id}::uuid), GREATEST(s."id", ${server.id}::uuid)
      FROM "Server" s
      WHERE s."id" <> ${server.id}::uuid AND s."status" <> 'DECOMMISSIONED'
      ON CONFLICT ("serverAId", "serverBId") DO NOTHING
      RETURNING "id", "serverAId", "serverBId"`;
    if (!key) await tx.$executeRaw`WITH ${await registrationClauses(db, tx, afterCommit, server.id, registration.key)} SELECT 1`;
    await notifyPeerTrustChanged(tx, created);
    return { serverId: server.id, decommissioned: server.status === 'DECOMMISSIONED', possibleReplacementOf: replaced ?? undefined };
  });
}

/**
 * Records the registration of a server that registered before registrations were
 * recorded, with the key it holds now (the keys before it are connected to it by their
 * rotations). Until then, any key row of the server's speaks for it to peers that have
 * not approved it.
 */
export function recordRegistration(db: Database, serverId: string, key: RootKeyPair): Promise<void> {
  return inTransaction(db, async (tx, afterCommit) => {
    await tx.$executeRaw`WITH ${await registrationClauses(db, tx, afterCommit, serverId, key)} SELECT 1`;
  });
}

/**
 * A server's registration in the Trust History, signed by its key, as WITH clauses for
 * the statement that writes it: the key its decisions must be signed with (or one it
 * rotated to), whatever key rows the database lists for it later.
 */
async function registrationClauses(db: Database, tx: TransactionClient, afterCommit: AfterCommit, serverId: string, key: RootKeyPair): Promise<Prisma.Sql> {
  const reservation = await reserve(tx, 1);
  return appendClauses(db, tx, afterCommit, reservation, [registrationEvent(serverId, key, reservation)], { serverId, key });
}

/** The SERVER_REGISTERED event of `serverId` with `key`, signed by it, made for the reservation's first entry. */
export function registrationEvent(serverId: string, key: RootKeyPair, reservation: Reservation): NewEvent {
  const statement = canonical(RegistrationStatement, {
    type: 'peertrust/registration/v1',
    server: serverId,
    fingerprint: key.fingerprint,
    publicKey: encodePublicKey(key.publicKeyPem),
    time: reservation.at.toISOString(),
    sequence: Number(reservation.first),
  });
  return {
    kind: 'SERVER_REGISTERED',
    pair: null,
    serverId,
    actorId: AUTOMATIC_ACTOR,
    fingerprints: [key.fingerprint],
    statement,
    signatures: [{ fingerprint: key.fingerprint, signature: signStatement(statement, key.privateKey) }],
  };
}

/** Query arguments for every server of the cluster, oldest first. */
export function allServers(): Prisma.ServerFindManyArgs {
  return { orderBy: [{ registeredAt: 'asc' }, { id: 'asc' }] };
}

/** The current root key is the newest one. */
export const currentRootKey = { orderBy: { createdAt: 'desc' }, take: 1 } satisfies Prisma.Server$rootKeysArgs;

/** A server's name, membership and current root key fingerprint. */
export interface ServerFacts {
  id: string;
  name: string;
  status: ServerStatus;
  fingerprint: string;
}

/** The facts a decision checks, for these servers, in one query. */
export function serversWithFingerprints(tx: TransactionClient, ids: string[]): Promise<ServerFacts[]> {
  return tx.$queryRaw<ServerFacts[]>`
    SELECT s."id", s."name", s."status", k."fingerprint"
    FROM "Server" s
    JOIN LATERAL (SELECT "fingerprint" FROM "RootKey" WHERE "serverId" = s."id" ORDER BY "createdAt" DESC LIMIT 1) k ON true
    WHERE s."id" = ANY(${ids}::uuid[])`;
}

/**
 * Marks a peer DECOMMISSIONED and revokes its PENDING and TRUSTED pairs. A
 * decommissioned server can no longer be approved, but its peers can deny it.
 */
export async function decommissionServer(scope: ServerScope, actor: Actor, input: { serverId: string }): Promise<Server> {
  const peerId = peerIdFor(scope, input.serverId);
  return withOwnKey(scope, (key) => inTransaction(scope.db, async (tx, afterCommit) => {
    // Ordered with registrations, before any row lock (as they take it): one that
    // committed first made its pair with the peer, revoked below; one after sees the peer
    // decommissioned and makes none. Its snapshot alone could miss this decommission.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REGISTRATION_LOCK}::bigint)`;
    // The peer's row, locked to change it, orders decommissions of it. This server's row,
    // locked to read it, orders this decommission against one of this server: two
    // servers decommissioning each other at once end with one decommissioned, as if one
    // had gone first. Both are locked in id order, as every transaction locks servers,
    // and the pairs after them, so that none can deadlock. NO KEY UPDATE, never UPDATE:
    // the foreign keys of rows others insert meanwhile (their events, their decisions)
    // take key-share locks on these rows, which UPDATE would block.
    const lock = async (id: string, strength: 'SHARE' | 'NO KEY UPDATE') =>
      (await tx.$queryRaw<Server[]>`SELECT * FROM "Server" WHERE "id" = ${id}::uuid FOR ${Prisma.raw(strength)}`)[0];
    let self: Server | undefined;
    let peer: Server | undefined;
    if (scope.serverId < peerId) {
      self = await lock(scope.serverId, 'SHARE');
      peer = await lock(peerId, 'NO KEY UPDATE');
    } else {
      peer = await lock(peerId, 'NO KEY UPDATE');
      self = await lock(scope.serverId, 'SHARE');
    }
    if (!peer) throw new NotFoundError('server', input.serverId);
    if (self?.status === 'DECOMMISSIONED') throw new ServerDecommissionedError(self.name, true);
    if (peer.status === 'DECOMMISSIONED') return peer;
    const pairs = await tx.$queryRaw<PeerTrust[]>`
      SELECT * FROM "PeerTrust" WHERE "serverAId" = ${peerId}::uuid OR "serverBId" = ${peerId}::uuid ORDER BY "id" FOR NO KEY UPDATE`;
    const [peerKey] = await serversWithFingerprints(tx, [peerId]);
    const ownPair = pairs.find((pair) => pair.serverAId === orderedPair(scope.serverId, peerId).serverAId && pair.serverBId === orderedPair(scope.serverId, peerId).serverBId);
    if (!ownPair || !peerKey) throw new Error(`no pair of ${scope.serverId} with ${peerId}`);
    const revoked = pairs.filter((pair) => decide(pair, 'A', 'REVOKE').outcome === 'changed');
    const kinds = (pair: PeerTrust): TrustEventKind[] => [
      ...(revoked.includes(pair) ? (['TRUST_REVOKED'] as const) : []),
      ...(pair === ownPair ? (['SERVER_DECOMMISSIONED'] as const) : []),
    ];
    const changes = pairs.flatMap((pair) => kinds(pair).map((kind) => ({ kind, pair })));
    const reservation = await reserve(tx, changes.length);
    // Every server that trusts the peer must trust this one, or its ledger takes the
    // revoke of its trust as an unexplained change (src/trust/ledger.ts). Read once the
    // history's turn is taken: every decision appended before this one is seen (a revoke
    // of this server by one of them, say).
    const distrusting = await tx.$queryRaw<{ name: string }[]>`
      SELECT s."name" FROM "PeerTrust" p
      JOIN "Server" s ON s."id" = CASE WHEN p."serverAId" = ${peerId}::uuid THEN p."serverBId" ELSE p."serverAId" END
      WHERE p."status" = 'TRUSTED' AND (p."serverAId" = ${peerId}::uuid OR p."serverBId" = ${peerId}::uuid) AND s."id" <> ${scope.serverId}::uuid
        AND NOT EXISTS (
          SELECT 1 FROM "PeerTrust" q WHERE q."status" = 'TRUSTED'
            AND ((q."serverAId" = s."id" AND q."serverBId" = ${scope.serverId}::uuid) OR (q."serverBId" = s."id" AND q."serverAId" = ${scope.serverId}::uuid)))
      ORDER BY s."name"`;
    if (distrusting.length) throw new UntrustedDecommissionError(peer.name, distrusting.map((server) => server.name));
    const statement = canonical(DecisionStatement, {
      type: 'peertrust/decision/v1',
      kind: 'DECOMMISSION',
      pair: ownPair.id,
      decider: { server: scope.serverId, fingerprint: key.fingerprint },
      subject: { server: peerId, fingerprint: peerKey.fingerprint },
      administrator: { user: actor.id, name: actor.name },
      time: reservation.at.toISOString(),
      sequence: Number(reservation.first),
    });
    const signature = signStatement(statement, key.privateKey);
    const events: NewEvent[] = changes.map(({ kind, pair }) => ({
      kind,
      pair,
      serverId: scope.serverId,
      actorId: actor.id,
      fingerprints: [peerKey.fingerprint],
      statement,
      signatures: [{ fingerprint: key.fingerprint, signature }],
    }));
    // Each changed pair's last event: what a verifier will have read when it sees the row.
    const lastSequences = new Map(changes.map(({ pair }, index) => [pair.id, String(reservation.first + BigInt(index))]));
    const appended = await appendClauses(scope.db, tx, afterCommit, reservation, events, { serverId: scope.serverId, key });
    // One statement: the decision, the revokes, their events, the tree and its checkpoint,
    // the decommission, and a notice for every pair of the peer (each changes meaning:
    // the peer's approval is no longer asked for).
    const [decommissioned] = await tx.$queryRaw<Server[]>`
      WITH "decision" AS (
        INSERT INTO "TrustDecision" ("id", "peerTrustId", "serverId", "peerId", "kind", "fingerprint", "actorId", "at", "statement", "signature")
        VALUES (gen_random_uuid(), ${ownPair.id}::uuid, ${scope.serverId}::uuid, ${peerId}::uuid, 'DECOMMISSION',
                ${peerKey.fingerprint}, ${actor.id}::uuid, ${reservation.at}::timestamptz, ${statement}, ${signature})
      ), "changed" AS (
        UPDATE "PeerTrust" p
        SET "lastSequence" = s."last",
            "status" = CASE WHEN s."revoked" THEN 'REVOKED' ELSE p."status" END,
            "acceptedByA" = p."acceptedByA" AND NOT s."revoked",
            "acceptedByB" = p."acceptedByB" AND NOT s."revoked",
            "updatedAt" = CASE WHEN s."revoked" THEN ${reservation.at}::timestamptz ELSE p."updatedAt" END
        FROM unnest(${[...lastSequences.keys()]}::uuid[], ${[...lastSequences.values()]}::bigint[],
                    ${[...lastSequences.keys()].map((id) => revoked.some((pair) => pair.id === id))}::boolean[])
          AS s("id", "last", "revoked")
        WHERE p."id" = s."id"
      ), ${appended}, "updated" AS (
        UPDATE "Server" SET "status" = 'DECOMMISSIONED', "decommissionedAt" = ${reservation.at}::timestamptz
        WHERE "id" = ${peerId}::uuid
        RETURNING *
      )
      SELECT "updated".*, ${peerTrustChangedNotices(pairs)} AS "notified" FROM "updated"`;
    return decommissioned!;
  }));
}
