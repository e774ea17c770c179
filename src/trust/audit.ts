// verifyTrustHistory: this server verifies the whole Trust History again, from its
// first entry, as it does at start (ledger.ts), and says whether it holds: its size and
// root, its newest signed checkpoint with the witnesses that cosigned it, or the first
// entry where a hash, a signature or a rule breaks.
import { silentLogger } from '../logger.js';
import { encodeBase64 } from '../tlog/base64.js';
import { Ledger } from './ledger.js';
import type { ServerScope } from './scope.js';

export interface HistoryReport {
  ok: boolean;
  size: number;
  /** The Merkle root of the verified entries, base64. */
  rootHash: string;
  /** The newest checkpoint, with its cosignatures, as a signed note. */
  checkpoint: string | null;
  /** The servers that cosigned it as witnesses. */
  witnesses: string[];
  brokenAt: number | null;
  reason: string | null;
}

export async function verifyHistory(scope: ServerScope): Promise<HistoryReport> {
  const audit = new Ledger({ db: scope.db, serverId: scope.serverId, identity: scope.identity, log: silentLogger, audit: true });
  await audit.start();
  const checkpoint = audit.broken ? undefined : await audit.checkpoint();
  return {
    ok: !audit.broken,
    size: audit.size,
    rootHash: encodeBase64(audit.root()),
    checkpoint: checkpoint?.note ?? null,
    witnesses: checkpoint?.witnesses ?? [],
    brokenAt: audit.broken?.sequence ?? null,
    reason: audit.broken?.reason ?? null,
  };
}
