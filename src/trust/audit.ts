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

/** A server's verification running, and the one queued after it that every later request shares. */
interface Turns {
  running?: Promise<HistoryReport>;
  queued?: Promise<HistoryReport>;
}
const turns = new WeakMap<ServerScope, Turns>();

/**
 * Verifies the whole history, one verification at a time on a server: it reads and
 * checks every entry, seconds of CPU for a long history, so requests at once must not
 * each start one. A request while one runs shares the next, which begins after it was
 * made: what it reports is never older than the request.
 */
export function verifyHistory(scope: ServerScope): Promise<HistoryReport> {
  let state = turns.get(scope);
  if (!state) turns.set(scope, (state = {}));
  const mine = state;
  if (mine.queued) return mine.queued;
  const begin = () => {
    const run: Promise<HistoryReport> = verifyNow(scope).finally(() => {
      if (mine.running === run) mine.running = undefined;
    });
    return (mine.running = run);
  };
  if (!mine.running) return begin();
  return (mine.queued = mine.running
    .catch(() => undefined)
    .then(() => {
      mine.queued = undefined;
      return begin();
    }));
}

async function verifyNow(scope: ServerScope): Promise<HistoryReport> {
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
