// Cross-instance change notices. A service calls notifyPeerTrustChanged inside the
// transaction that changes a pair, so PostgreSQL delivers the notice only if that
// transaction commits. Every process LISTENs and re-emits notices on its ChangeFeed.
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import type { TransactionClient } from './client.js';

export const CHANNEL = 'peertrust_changes';

const PeerTrustChangedSchema = z.object({
  peerTrustId: z.string(),
  serverIds: z.tuple([z.string(), z.string()]),
});
export type PeerTrustChanged = z.infer<typeof PeerTrustChangedSchema>;

/** Announces that this pair changed, once the transaction `tx` commits. */
export async function notifyPeerTrustChanged(
  tx: TransactionClient,
  pair: { id: string; serverAId: string; serverBId: string },
): Promise<void> {
  const change: PeerTrustChanged = { peerTrustId: pair.id, serverIds: [pair.serverAId, pair.serverBId] };
  await tx.$executeRaw`SELECT pg_notify(${CHANNEL}, ${JSON.stringify(change)})`;
}

/** The process-local side of LISTEN: emits 'peerTrustChanged' for every committed change. */
export class ChangeFeed extends EventEmitter<{ peerTrustChanged: [PeerTrustChanged] }> {
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
    if (change.success) this.emit('peerTrustChanged', change.data);
  }
}
