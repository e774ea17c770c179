// What signed trust costs (issue 10): a history of many entries built through the same
// code a decision runs (signedDecision, appendClauses: statements signed, Merkle tree
// stored, checkpoints signed), then verified from its first entry as a server does at
// its first start, and from the state it kept as it does at a restart, exported as a bundle and verified offline; and the signing and verifying a
// single decision does, timed alone.
import { createPublicKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp } from '../src/app.js';
import { createApiToken } from '../src/auth/tokens.js';
import type { Database } from '../src/db/client.js';
import type { TrustEventKind } from '../src/db/generated/prisma/enums.js';
import { loadOrCreateRootKey, type RootKeyPair } from '../src/identity/root-key.js';
import { verifyStatement } from '../src/identity/statements.js';
import { silentLogger } from '../src/logger.js';
import { formatCheckpoint, openCheckpoint } from '../src/tlog/checkpoint.js';
import { ed25519NoteSigner, ed25519NoteVerifier, signNote } from '../src/tlog/note.js';
import { exportBundle, verifyBundle } from '../src/trust/bundle.js';
import { signedDecision } from '../src/trust/decisions.js';
import { appendClauses, checkpointKeyName, reserve } from '../src/trust/history.js';
import { Ledger } from '../src/trust/ledger.js';
import { decide, type PairState, type Side } from '../src/trust/state-machine.js';
import { inTransaction } from '../src/trust/transaction.js';

/** Entries appended per transaction while building the history. */
const BATCH = 1_000;

export interface HistoryFigures {
  entries: number;
  buildMs: number;
  /** A server's first start: every entry verified. */
  verifyMs: number;
  /** Its restart: the entries up to the state it kept checked by hash. */
  resumeMs: number;
  bundleBytes: number;
  bundleExportMs: number;
  bundleVerifyMs: number;
  entryBundleMs: number;
}

/**
 * Two servers on `db` take turns: A approves, B approves (TRUSTED), A revokes, four
 * entries a round, until the history has `entries`; then it is verified and bundled.
 */
export async function timeSignedHistory(db: Database, entries: number): Promise<HistoryFigures> {
  const dirs = await Promise.all([0, 1].map(() => mkdtemp(path.join(tmpdir(), 'peertrust-bench-'))));
  try {
    const keys = await Promise.all(dirs.map((dir) => loadOrCreateRootKey(dir)));
    const ids: string[] = [];
    for (const [i, key] of keys.entries()) {
      const app = createApp({ name: `history${i}`, host: '127.0.0.1', port: 0, rootKey: key, addresses: ['127.0.0.1'], database: db, logger: silentLogger, heartbeatSeconds: 60 });
      await app.start();
      ids.push(app.serverId);
      await app.stop();
    }
    const { user } = await createApiToken(db, { userName: 'history-bench', role: 'ADMINISTRATOR' }, [{ serverId: ids[0]!, key: keys[0]! }]);
    const pair = (await db.prisma.peerTrust.findFirstOrThrow({ where: { serverAId: { in: ids }, serverBId: { in: ids } } }));
    const sides: Record<Side, { id: string; key: RootKeyPair }> = {
      A: { id: pair.serverAId, key: keys[ids.indexOf(pair.serverAId)]! },
      B: { id: pair.serverBId, key: keys[ids.indexOf(pair.serverBId)]! },
    };
    const rounds: [Side, 'ACCEPT' | 'REVOKE'][] = [['A', 'ACCEPT'], ['B', 'ACCEPT'], ['A', 'REVOKE']];

    const built = performance.now();
    let state: PairState = { status: 'PENDING', acceptedByA: false, acceptedByB: false };
    let turn = 0;
    const start = (await db.prisma.trustHistory.findUniqueOrThrow({ where: { id: 1 } })).length;
    let last = start;
    while (last - start < BigInt(entries)) {
      const wanted = entries - Number(last - start);
      const stateBefore = state;
      const turnBefore = turn;
      const lastSequence = await inTransaction(db, async (tx, afterCommit) => {
        state = stateBefore;
        turn = turnBefore;
        // The decisions of this batch, in order, and the events each appends.
        const decisions: { side: Side; kind: 'ACCEPT' | 'REVOKE'; events: TrustEventKind[] }[] = [];
        let count = 0;
        while (count < Math.min(BATCH, wanted)) {
          const [side, kind] = rounds[turn++ % rounds.length]!;
          const decision = decide(state, side, kind);
          if (decision.outcome !== 'changed') throw new Error(`the bench's rounds broke the rules: ${kind} in ${state.status}`);
          decisions.push({ side, kind, events: decision.events });
          state = decision.next;
          count += decision.events.length;
        }
        const reservation = await reserve(tx, count);
        let offset = 0n;
        const byServer = decisions.map(({ side, kind, events }) => {
          const decider = sides[side];
          const peer = sides[side === 'A' ? 'B' : 'A'];
          const signed = signedDecision({
            decider: { serverId: decider.id, key: decider.key },
            kind,
            pair,
            peer: { id: peer.id, fingerprint: peer.key.fingerprint },
            verified: kind === 'ACCEPT' ? peer.key.fingerprint : undefined,
            actor: { id: user.id, name: user.name },
            reservation: { ...reservation, first: reservation.first + offset },
            events,
          });
          offset += BigInt(events.length);
          return signed.events;
        });
        // One append for the batch, signed by the server that decided last.
        const signer = sides[decisions.at(-1)!.side];
        const appendedSql = await appendClauses(db, tx, afterCommit, reservation, byServer.flat(), { serverId: signer.id, key: signer.key });
        await tx.$executeRaw`WITH ${appendedSql} SELECT 1`;
        return reservation.first + BigInt(count) - 1n;
      });
      last = lastSequence;
    }
    await db.prisma.peerTrust.update({ where: { id: pair.id }, data: { ...state, lastSequence: last } });
    const buildMs = performance.now() - built;

    // As a server verifies at its first start: every entry, from the first; then at a
    // restart, from the verified state it kept when it stopped.
    const startLedger = async () => {
      const started = performance.now();
      const ledger = new Ledger({ db, serverId: sides.A.id, identity: { key: sides.A.key }, log: silentLogger });
      await ledger.start();
      const ms = performance.now() - started;
      if (ledger.broken || ledger.size !== Number(last)) throw new Error(`the bench's history did not verify: ${JSON.stringify(ledger.broken)} at ${ledger.size}`);
      await ledger.stop();
      return ms;
    };
    const verifyMs = await startLedger();
    const resumeMs = await startLedger();

    const exportStarted = performance.now();
    const text = JSON.stringify(await exportBundle(db));
    const bundleExportMs = performance.now() - exportStarted;
    const bundleStarted = performance.now();
    const whole = verifyBundle(JSON.parse(text), [sides.A.key.fingerprint, sides.B.key.fingerprint]);
    const bundleVerifyMs = performance.now() - bundleStarted;
    if (!whole.ok) throw new Error(`the bench's bundle did not verify: ${whole.reason}`);

    const entryStarted = performance.now();
    const one = verifyBundle(JSON.parse(JSON.stringify(await exportBundle(db, { sequence: Math.ceil(Number(last) / 2) }))));
    const entryBundleMs = performance.now() - entryStarted;
    if (!one.ok) throw new Error(`the bench's entry bundle did not verify: ${one.reason}`);

    return { entries: Number(last), buildMs, verifyMs, resumeMs, bundleBytes: Buffer.byteLength(text), bundleExportMs, bundleVerifyMs, entryBundleMs };
  } finally {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

/**
 * The signing one decision does on its critical path: its statement and the checkpoint
 * of its append; and what each server verifies of it: the statement's signature and
 * the checkpoint. Milliseconds each, averaged over `count`.
 */
export async function timeDecisionCrypto(count: number): Promise<{ signMs: number; verifyMs: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'peertrust-bench-'));
  try {
    const key = await loadOrCreateRootKey(dir);
    const publicKey = createPublicKey(key.privateKey);
    const pair = { id: '00000000-0000-4000-8000-000000000001', serverAId: '00000000-0000-4000-8000-000000000002', serverBId: '00000000-0000-4000-8000-000000000003' };
    const signer = ed25519NoteSigner(checkpointKeyName(pair.serverAId), key.privateKey);
    const verifier = ed25519NoteVerifier(checkpointKeyName(pair.serverAId), publicKey);
    const signed: { statement: string; signature: string; note: string }[] = [];
    const signStarted = performance.now();
    for (let i = 0; i < count; i++) {
      const { statement, signature } = signedDecision({
        decider: { serverId: pair.serverAId, key },
        kind: 'ACCEPT',
        pair,
        peer: { id: pair.serverBId, fingerprint: key.fingerprint },
        verified: key.fingerprint,
        actor: { id: pair.id, name: 'bench' },
        reservation: { first: BigInt(i + 1), at: new Date(), origin: 'bench' },
        events: ['TRUST_APPROVED'],
      });
      const note = signNote(formatCheckpoint({ origin: 'bench', size: i + 1, rootHash: new Uint8Array(32).fill(i % 256) }), [signer]);
      signed.push({ statement, signature, note });
    }
    const signMs = (performance.now() - signStarted) / count;
    const verifyStarted = performance.now();
    for (const { statement, signature, note } of signed) {
      if (!verifyStatement(statement, signature, key.publicKeyPem)) throw new Error('a signature did not verify');
      openCheckpoint(note, 'bench', [verifier]);
    }
    const verifyMs = (performance.now() - verifyStarted) / count;
    return { signMs, verifyMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
