// Live notices: "trust approval required" replays what is pending, then pushes each new
// one; peerTrustChanged pushes every change. Over graphql-ws and over SSE.
import { expect, test } from 'vitest';
import {
  ApproveTrustDocument,
  PeerTrustChangedDocument,
  RevokeTrustDocument,
  TrustApprovalRequiredDocument,
} from '../client/index.js';
import { bearer, postGraphQL, run, startCluster, subscribe, type TestServer } from './helpers.js';
import { scrape, valueOf } from './prometheus.js';
import { openSocket } from './raw-client.js';

/** Once `server` serves `count` live subscriptions of `field` (graphql-ws has no "subscribed" acknowledgement). */
async function untilLive(server: TestServer, field: string, count: number) {
  await expect.poll(async () => valueOf(await scrape(server.app.url), 'peertrust_subscriptions', { field }) ?? 0, { timeout: 10_000 }).toBe(count);
}

test('trustApprovalRequired sends the pending peers first, then each new one as it appears', async () => {
  const cluster = await startCluster();
  const [alpha, bravo] = cluster.servers;
  const notices = subscribe(alpha!.reader, TrustApprovalRequiredDocument, {});
  const onBravo = subscribe(bravo!.reader, TrustApprovalRequiredDocument, {});
  const replayed = await notices.next();
  expect(replayed.data?.trustApprovalRequired.peerTrust).toMatchObject({
    approvalRequired: true,
    peer: { id: bravo!.id, name: 'bravo', fingerprint: bravo!.fingerprint },
  });
  expect((await onBravo.next()).data?.trustApprovalRequired.peerTrust.peer.id).toBe(alpha!.id);

  // A new server registers: a new notice, on every server.
  const charlie = await cluster.addServer('charlie');
  const appeared = await notices.next();
  expect(appeared.data?.trustApprovalRequired.peerTrust.peer).toMatchObject({ id: charlie.id, name: 'charlie' });
  expect((await onBravo.next()).data?.trustApprovalRequired.peerTrust.peer.id).toBe(charlie.id);

  // The peer approves this server first: the notice comes again, now saying so.
  await run(bravo!.admin, ApproveTrustDocument, { input: { peerId: alpha!.id, fingerprint: alpha!.fingerprint } });
  const asked = await notices.next();
  expect(asked.data?.trustApprovalRequired.peerTrust).toMatchObject({ peer: { name: 'bravo' }, approvedByPeer: true });

  // Approving here answers it: no further notice.
  await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } });
  await notices.expectSilence(500);

  // A revoked pair does not ask; the peer asking again (a new round) does.
  await run(bravo!.admin, RevokeTrustDocument, { input: { peerId: alpha!.id } });
  await notices.expectSilence(500);
  await run(bravo!.admin, ApproveTrustDocument, { input: { peerId: alpha!.id, fingerprint: alpha!.fingerprint } });
  const again = await notices.next();
  expect(again.data?.trustApprovalRequired.peerTrust).toMatchObject({ peer: { name: 'bravo' }, status: 'PENDING', approvedByPeer: true });
});

test('a server with nothing pending gets its first notice when a peer appears', async () => {
  const cluster = await startCluster(['alpha']);
  const [alpha] = cluster.servers;
  const notices = subscribe(alpha!.admin, TrustApprovalRequiredDocument, {});
  // Nothing to replay; the subscription must still be live before the peer registers.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const bravo = await cluster.addServer('bravo');
  const first = await notices.next();
  expect(first.data?.trustApprovalRequired.peerTrust.peer.id).toBe(bravo.id);
});

test('peerTrustChanged pushes each change with the state after it, on both servers', async () => {
  const { servers: [alpha, bravo] } = await startCluster();
  const onAlpha = subscribe(alpha!.reader, PeerTrustChangedDocument, {});
  const onBravo = subscribe(bravo!.reader, PeerTrustChangedDocument, {});
  await untilLive(alpha!, 'peerTrustChanged', 1);
  await untilLive(bravo!, 'peerTrustChanged', 1);
  await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } });
  expect((await onAlpha.next()).data?.peerTrustChanged).toMatchObject({ status: 'PENDING', approvedByThisServer: true, approvedByPeer: false });
  expect((await onBravo.next()).data?.peerTrustChanged).toMatchObject({ status: 'PENDING', approvedByThisServer: false, approvedByPeer: true, peer: { name: 'alpha' } });
  await run(bravo!.admin, ApproveTrustDocument, { input: { peerId: alpha!.id, fingerprint: alpha!.fingerprint } });
  expect((await onAlpha.next()).data?.peerTrustChanged.status).toBe('TRUSTED');
  expect((await onBravo.next()).data?.peerTrustChanged.status).toBe('TRUSTED');
  // A refused decision changes nothing and pushes nothing.
  await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: alpha!.fingerprint } });
  await onAlpha.expectSilence(500);
});

test('peerTrustChanged over one graphql-ws connection: each operation gets its own next messages, none once it completed, and each is counted', async () => {
  const { servers: [alpha, bravo], readerToken } = await startCluster();
  const socket = await openSocket(alpha!.app.url);
  expect(await socket.init({ authorization: `Bearer ${readerToken}` })).toBe('ack');
  const query = 'subscription { peerTrustChanged { status approvedByThisServer approvedByPeer peer { name } } }';
  socket.subscribe('first', query);
  socket.subscribe('second', query);
  await untilLive(alpha!, 'peerTrustChanged', 2);
  await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } });
  const pending = { data: { peerTrustChanged: { status: 'PENDING', approvedByThisServer: true, approvedByPeer: false, peer: { name: 'bravo' } } } };
  for (const id of ['first', 'second']) expect(await socket.next((m) => m.id === id)).toEqual({ id, type: 'next', payload: pending });

  socket.send({ id: 'first', type: 'complete' });
  await untilLive(alpha!, 'peerTrustChanged', 1);
  await run(bravo!.admin, ApproveTrustDocument, { input: { peerId: alpha!.id, fingerprint: alpha!.fingerprint } });
  expect(await socket.next((m) => m.id === 'second')).toMatchObject({ type: 'next', payload: { data: { peerTrustChanged: { status: 'TRUSTED' } } } });
  // Both would have been sent in one turn, in the order they subscribed.
  await expect(socket.next((m) => m.id === 'first', 200)).rejects.toThrow('no matching message');
  expect(valueOf(await scrape(alpha!.app.url), 'peertrust_notices_sent_total', { field: 'peerTrustChanged' })).toBe(3);
});

test('subscriptions also work over server-sent events on /graphql', async () => {
  const { adminToken, servers: [alpha, bravo] } = await startCluster();
  const controller = new AbortController();
  const response = await postGraphQL(
    alpha!.app.url,
    { query: 'subscription { trustApprovalRequired { peerTrust { peer { id } } } }' },
    { accept: 'text/event-stream', ...bearer(adminToken) },
    controller.signal,
  );
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes(bravo!.id)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  controller.abort();
  expect(text).toContain(`"id":"${bravo!.id}"`);
});
