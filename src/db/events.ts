// Cross-instance change notices. A service announces a change inside the transaction
// that makes it, so PostgreSQL delivers the notice only if that
// transaction commits. Every process LISTENs and re-emits notices on its ChangeFeed.
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import type { TransactionClient } from './client.js';
import { Prisma } from './generated/prisma/client.js';

export const CHANNEL = 'peertrust_changes';

const PeerTrustChangedSchema = z.object({
  peerTrustId: z.string(),
  serverIds: z.tuple([z.string(), z.string()]),
  /** The history entry that records the change, when it appended one: a server that verified that far has nothing new to read. */
  sequence: z.number().int().positive().optional(),
});
export type PeerTrustChanged = z.infer<typeof PeerTrustChangedSchema>;

/**
 * A user's token was revoked or the user's role changed: sent by triggers on "ApiToken"
 * and "User" (migration 20261129120000_announce_credential_changes), whatever made the change.
 */
const CredentialsChangedSchema = z.object({ kind: z.literal('credentialsChanged'), userId: z.string() });

/**
 * Entries that change no pair were appended to the Trust History (a token issued, say):
 * servers read them, and witnesses cosign the new checkpoint.
 */
const HistoryAppendedSchema = z.object({ kind: z.literal('historyAppended'), sequence: z.number().int().positive() });

/**
 * What the feed says: a committed change, or that LISTEN was re-established after a
 * lost connection, so notices of changes committed since `since` may have been missed.
 */
export type FeedNotice =
  | ({ kind: 'peerTrustChanged' } & PeerTrustChanged)
  | z.infer<typeof CredentialsChangedSchema>
  | z.infer<typeof HistoryAppendedSchema>
  | { kind: 'resync'; since: Date };

type PairIds = { id: string; serverAId: string; serverBId: string; sequence?: bigint };

/**
 * An SQL expression that announces that these pairs changed (its value is how many),
 * for the statement that makes the change.
 */
export function peerTrustChangedNotices(pairs: PairIds[]): Prisma.Sql {
  const payloads = pairs.map((pair) =>
    JSON.stringify({
      peerTrustId: pair.id,
      serverIds: [pair.serverAId, pair.serverBId],
      ...(pair.sequence === undefined ? {} : { sequence: Number(pair.sequence) }),
    } satisfies PeerTrustChanged),
  );
  return Prisma.sql`(SELECT count(*) FROM (SELECT pg_notify(${CHANNEL}, n) FROM unnest(${payloads}::text[]) AS n) AS sent)`;
}

/** Announces that these pairs changed, once the transaction `tx` commits. */
export async function notifyPeerTrustChanged(tx: TransactionClient, pairs: PairIds[]): Promise<void> {
  if (pairs.length) await tx.$executeRaw`SELECT ${peerTrustChangedNotices(pairs)}`;
}

/** Announces, once `tx` commits, that the history grew to `sequence` by entries about no pair. */
export async function notifyHistoryAppended(tx: TransactionClient, sequence: bigint): Promise<void> {
  await tx.$executeRaw`SELECT pg_notify(${CHANNEL}, ${JSON.stringify({ kind: 'historyAppended', sequence: Number(sequence) })})`;
}

/** The process-local side of LISTEN: emits 'notice' for every committed change and every resync. */
export class ChangeFeed extends EventEmitter<{ notice: [FeedNotice] }> {
  constructor() {
    super();
    // Every subscription of every server in this process listens here.
    this.setMaxListeners(0);
  }

  /** Feeds one raw notification payload; malformed payloads are ignored, not fatal. */
  deliver(payload: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      return;
    }
    const change = PeerTrustChangedSchema.safeParse(parsed);
    if (change.success) return void this.emit('notice', { kind: 'peerTrustChanged', ...change.data });
    const credentials = CredentialsChangedSchema.safeParse(parsed);
    if (credentials.success) return void this.emit('notice', credentials.data);
    const appended = HistoryAppendedSchema.safeParse(parsed);
    if (appended.success) this.emit('notice', appended.data);
  }

  /** LISTEN is back after it was lost at `since`: listeners re-read what they may have missed. */
  resync(since: Date): void {
    this.emit('notice', { kind: 'resync', since });
  }
}
