// Rule 5 on the embedded database: decisions sent at the same moment end in one
// consistent state with one history event per real change.
import { expect, test } from 'vitest';
import { ApproveTrustDocument, DenyTrustDocument, PeerTrustDocument, RevokeTrustDocument, TrustHistoryDocument } from '../client/index.js';
import { run, startCluster, type TestServer } from './helpers.js';

const approve = (on: TestServer, peer: TestServer) =>
  run(on.admin, ApproveTrustDocument, { input: { peerId: peer.id, fingerprint: peer.fingerprint } }).then((d) => d.approveTrust.__typename);
const deny = (on: TestServer, peer: TestServer) =>
  run(on.admin, DenyTrustDocument, { input: { peerId: peer.id, fingerprint: peer.fingerprint } }).then((d) => d.denyTrust.__typename);
const revoke = (on: TestServer, peer: TestServer) =>
  run(on.admin, RevokeTrustDocument, { input: { peerId: peer.id } }).then((d) => d.revokeTrust.__typename);
const kinds = async (on: TestServer, peer: TestServer) =>
  (await run(on.reader, TrustHistoryDocument, { peerId: peer.id, first: 200 })).trustHistory.edges.map((e) => e.node.kind);
const status = async (on: TestServer, peer: TestServer) =>
  (await run(on.reader, PeerTrustDocument, { peerId: peer.id })).peerTrust?.status;

test('both sides approving many times at once: TRUSTED, with exactly one event per change', async () => {
  const { servers: [alpha, bravo] } = await startCluster();
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? approve(alpha!, bravo!) : approve(bravo!, alpha!))),
  );
  expect(new Set(results)).toEqual(new Set(['ApproveTrustSuccess']));
  expect(await status(alpha!, bravo!)).toBe('TRUSTED');
  expect(await kinds(alpha!, bravo!)).toEqual(['TRUST_APPROVED', 'TRUST_APPROVED', 'TRUST_ENABLED']);
});

test('approve racing deny: DENIED, never left; each deny after the first changes nothing', async () => {
  const { servers: [alpha, bravo] } = await startCluster();
  const results = await Promise.all(
    Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? deny(bravo!, alpha!) : approve(alpha!, bravo!))),
  );
  expect(results.every((r) => r === 'ApproveTrustSuccess' || r === 'DenyTrustSuccess' || r === 'TrustDeniedError')).toBe(true);
  expect(await status(alpha!, bravo!)).toBe('DENIED');
  const history = await kinds(alpha!, bravo!);
  expect(history.filter((k) => k === 'TRUST_DENIED')).toHaveLength(1);
  expect(history.at(-1)).toBe('TRUST_DENIED');
  expect(history.filter((k) => k === 'TRUST_APPROVED').length).toBeLessThanOrEqual(1);
  expect(history).not.toContain('TRUST_ENABLED');
});

test('revoke racing approve: the history replays to the final state', async () => {
  const { servers: [alpha, bravo] } = await startCluster();
  await approve(alpha!, bravo!);
  await approve(bravo!, alpha!);
  await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? revoke(alpha!, bravo!) : approve(bravo!, alpha!))));
  const history = await kinds(alpha!, bravo!);
  // Replaying the history gives the state the pair is in.
  let replayed = 'PENDING';
  for (const kind of history) {
    if (kind === 'TRUST_ENABLED') replayed = 'TRUSTED';
    if (kind === 'TRUST_REVOKED') replayed = 'REVOKED';
    if (kind === 'TRUST_APPROVED' && replayed === 'REVOKED') replayed = 'PENDING';
  }
  expect(await status(alpha!, bravo!)).toBe(replayed);
  // No two revokes without a change between them.
  expect(history.join(' ')).not.toMatch(/TRUST_REVOKED TRUST_REVOKED/);
});
