// Model-based test of the trust rules (DESIGN.md): random sequences of approve, deny,
// revoke and decommission through three real servers, some of them sent at once, each
// checked against a model written from DESIGN.md's table (not from src/trust). After
// every step the pairs as each server reports them, the servers' status and the whole
// Trust History must be the model's. Decisions sent at once must be explainable by some
// order of them: the one the history records.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import {
  ApproveTrustDocument,
  DecommissionServerDocument,
  DenyTrustDocument,
  PeerTrustsDocument,
  RevokeTrustDocument,
} from '../client/index.js';
import { request, run, startCluster, type TestCluster, type TestServer } from './helpers.js';

type Status = 'PENDING' | 'TRUSTED' | 'REVOKED' | 'DENIED';
type Kind = 'approve' | 'deny' | 'revoke' | 'decommission';
interface Action {
  kind: Kind;
  by: number;
  about: number;
  /** For approve and deny: whether the administrator gives the peer's true fingerprint. */
  rightFingerprint: boolean;
}
interface ModelEvent {
  kind: string;
  pair: string;
  by: number;
}
interface Model {
  /** Keyed "i-j", i < j. `accepted`: the servers that accepted in the current round. */
  pairs: Map<string, { status: Status; accepted: Set<number> }>;
  decommissioned: Set<number>;
  events: ModelEvent[];
}

const SERVERS = 3;
const pairKey = (x: number, y: number) => (x < y ? `${x}-${y}` : `${y}-${x}`);

function clone(model: Model): Model {
  return {
    pairs: new Map([...model.pairs].map(([key, pair]) => [key, { status: pair.status, accepted: new Set(pair.accepted) }])),
    decommissioned: new Set(model.decommissioned),
    events: [...model.events],
  };
}

/**
 * DESIGN.md's rules, applied to the model: the result type the API must answer with.
 * `pairOrder` lists pair keys in the order the database stores their rows (a
 * decommission records its revokes in that order).
 */
function apply(model: Model, action: Action, pairOrder: string[]): string {
  const { kind, by, about } = action;
  const success = { approve: 'ApproveTrustSuccess', deny: 'DenyTrustSuccess', revoke: 'RevokeTrustSuccess', decommission: 'DecommissionServerSuccess' }[kind];
  if (by === about) return 'SelfTrustError';
  if (model.decommissioned.has(by)) return 'ServerDecommissionedError';
  const key = pairKey(by, about);
  const pair = model.pairs.get(key)!;
  const record = (event: string, on = key) => model.events.push({ kind: event, pair: on, by });
  switch (kind) {
    case 'approve':
      if (!action.rightFingerprint) return 'FingerprintMismatchError';
      if (model.decommissioned.has(about)) return 'ServerDecommissionedError';
      if (pair.status === 'DENIED') return 'TrustDeniedError';
      if (pair.status === 'TRUSTED' || (pair.status === 'PENDING' && pair.accepted.has(by))) return success;
      if (pair.status === 'REVOKED') pair.accepted.clear();
      pair.accepted.add(by);
      record('TRUST_APPROVED');
      pair.status = pair.accepted.size === 2 ? 'TRUSTED' : 'PENDING';
      if (pair.status === 'TRUSTED') record('TRUST_ENABLED');
      return success;
    case 'deny':
      if (!action.rightFingerprint) return 'FingerprintMismatchError';
      if (pair.status !== 'DENIED') {
        pair.status = 'DENIED';
        record('TRUST_DENIED');
      }
      return success;
    case 'revoke':
      if (pair.status === 'DENIED') return 'TrustDeniedError';
      if (pair.status !== 'REVOKED') {
        pair.status = 'REVOKED';
        pair.accepted.clear();
        record('TRUST_REVOKED');
      }
      return success;
    case 'decommission':
      if (model.decommissioned.has(about)) return success;
      // Every other server that trusts it must trust the decider, whose word it takes.
      for (let other = 0; other < SERVERS; other++) {
        if (other === by || other === about) continue;
        if (model.pairs.get(pairKey(other, about))!.status === 'TRUSTED' && model.pairs.get(pairKey(other, by))!.status !== 'TRUSTED') return 'UntrustedDecommissionError';
      }
      model.decommissioned.add(about);
      for (const other of pairOrder.filter((k) => k.split('-').includes(String(about)))) {
        const affected = model.pairs.get(other)!;
        if (affected.status === 'PENDING' || affected.status === 'TRUSTED') {
          affected.status = 'REVOKED';
          affected.accepted.clear();
          record('TRUST_REVOKED', other);
        }
        if (other === key) record('SERVER_DECOMMISSIONED', other);
      }
      return success;
  }
}

/** Sends one action through server `by`'s API, as its administrator; returns the result's type. */
async function send(servers: TestServer[], action: Action): Promise<string> {
  const on = servers[action.by]!.admin;
  const peer = servers[action.about]!;
  const fingerprint = action.rightFingerprint ? peer.fingerprint : 'f'.repeat(64);
  const result =
    action.kind === 'approve'
      ? (await request(on, ApproveTrustDocument, { input: { peerId: peer.id, fingerprint } })).data?.approveTrust
      : action.kind === 'deny'
        ? (await request(on, DenyTrustDocument, { input: { peerId: peer.id, fingerprint } })).data?.denyTrust
        : action.kind === 'revoke'
          ? (await request(on, RevokeTrustDocument, { input: { peerId: peer.id } })).data?.revokeTrust
          : (await request(on, DecommissionServerDocument, { input: { serverId: peer.id } })).data?.decommissionServer;
  return result?.__typename ?? 'no result';
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

const action = fc.record({
  kind: fc.constantFrom<Kind>('approve', 'approve', 'approve', 'deny', 'revoke', 'revoke', 'decommission'),
  by: fc.nat(SERVERS - 1),
  about: fc.nat(SERVERS - 1),
  rightFingerprint: fc.constantFrom(true, true, true, true, false),
});
/** A step: one action, or two or three sent at once. */
const step = fc.oneof({ weight: 3, arbitrary: action.map((a) => [a]) }, { weight: 1, arbitrary: fc.array(action, { minLength: 2, maxLength: 3 }) });

/** What the cluster holds now, in the model's terms. */
async function observe(cluster: TestCluster, ids: string[]) {
  const index = new Map(ids.map((id, i) => [id, i]));
  const pairIds = new Map<string, string>();
  const seen: Record<string, unknown> = {};
  for (const [i, server] of cluster.servers.entries()) {
    for (const { node } of (await run(server.reader, PeerTrustsDocument, { first: 10 })).peerTrusts.edges) {
      const j = index.get(node.peer.id)!;
      pairIds.set(pairKey(i, j), node.id);
      seen[`${i} sees ${j}`] = {
        status: node.status,
        approvedByThisServer: node.approvedByThisServer,
        approvedByPeer: node.approvedByPeer,
        approvalRequired: node.approvalRequired,
        peerStatus: node.peer.status,
      };
    }
  }
  const keyOf = new Map([...pairIds].map(([key, id]) => [id, key]));
  const events = await cluster.db.prisma.trustEvent.findMany({ orderBy: { sequence: 'asc' } });
  expect(events.map((e) => Number(e.sequence))).toEqual(events.map((_, i) => i + 1));
  return {
    pairs: seen,
    pairOrder: [...pairIds].sort(([, a], [, b]) => (a < b ? -1 : 1)).map(([key]) => key),
    // The pairs' events: tokens are recorded too, with no pair.
    events: events.filter((e) => e.peerTrustId !== null).map((e) => ({ kind: e.kind, pair: keyOf.get(e.peerTrustId!)!, by: index.get(e.serverId)! })),
  };
}

/** What each server should report about each peer, from the model. */
function expected(model: Model) {
  const seen: Record<string, unknown> = {};
  for (let i = 0; i < SERVERS; i++) {
    for (let j = 0; j < SERVERS; j++) {
      if (i === j) continue;
      const pair = model.pairs.get(pairKey(i, j))!;
      seen[`${i} sees ${j}`] = {
        status: pair.status,
        approvedByThisServer: pair.accepted.has(i),
        approvedByPeer: pair.accepted.has(j),
        approvalRequired: pair.status === 'PENDING' && !pair.accepted.has(i) && !model.decommissioned.has(j),
        peerStatus: model.decommissioned.has(j) ? 'DECOMMISSIONED' : 'ONLINE',
      };
    }
  }
  return seen;
}

test('random approve, deny, revoke and decommission through three servers, some at once, follow the rules and the history', async () => {
  let runs = 0;
  let actions = 0;
  let concurrent = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 10 }), async (steps) => {
      runs++;
      const cluster = await startCluster(['s0', 's1', 's2']);
      try {
        const ids = cluster.servers.map((s) => s.id);
        let model: Model = { pairs: new Map(), decommissioned: new Set(), events: [] };
        for (let i = 0; i < SERVERS; i++) for (let j = i + 1; j < SERVERS; j++) model.pairs.set(pairKey(i, j), { status: 'PENDING', accepted: new Set() });
        const { pairOrder } = await observe(cluster, ids);
        for (const batch of steps) {
          actions += batch.length;
          if (batch.length > 1) concurrent++;
          const results = await Promise.all(batch.map((a) => send(cluster.servers, a)));
          const real = await observe(cluster, ids);
          // Some order of the batch explains both the answers and the history.
          const explained = permutations(batch.map((a, i) => ({ a, i })))
            .map((order) => {
              const next = clone(model);
              const predicted: string[] = [];
              for (const { a, i } of order) predicted[i] = apply(next, a, pairOrder);
              return { next, predicted };
            })
            .find(({ next, predicted }) => JSON.stringify(predicted) === JSON.stringify(results) && JSON.stringify(next.events) === JSON.stringify(real.events));
          expect(explained, `no order of ${JSON.stringify(batch)} gives the answers ${JSON.stringify(results)} and the history ${JSON.stringify(real.events.slice(model.events.length))}`).toBeDefined();
          model = explained!.next;
          expect(real.pairs).toEqual(expected(model));
        }
      } finally {
        await cluster.close();
      }
    }),
    { numRuns: 25, endOnFailure: true },
  );
  console.info(`model-based: ${runs} runs, ${actions} actions, ${concurrent} steps sent at once, each checked against the model`);
});
