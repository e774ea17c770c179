// Bounded resources per client (issue 8, items 3 and 9): subscriptions per connection
// and per user, connections per user, request rates per address and per token, each
// with a clear error; and one bad operation on a WebSocket ends only itself.
import { expect, test } from 'vitest';
import { ApproveTrustDocument } from '../client/index.js';
import { createApiToken } from '../src/auth/tokens.js';
import { postGraphQL, bearer, run, signerIn, startCluster } from './helpers.js';
import { startServerWith } from './limited-server.js';
import { openSocket, rawPost, type RawSocket } from './raw-client.js';
import { MAX_QUEUED } from '../src/trust/stoppable.js';

/** Replays alpha's pending approval at once: proof that the subscription is live. */
const APPROVALS = 'subscription { trustApprovalRequired { peerTrust { id approvedByPeer } } }';

const isNext = (id: string) => (m: { id?: string; type: string }) => m.id === id && m.type === 'next';
const isDone = (id: string) => (m: { id?: string; type: string }) => m.id === id && (m.type === 'error' || m.type === 'complete');

async function signedIn(url: string, token: string): Promise<RawSocket> {
  const socket = await openSocket(url);
  expect(await socket.init({ authorization: `Bearer ${token}` })).toBe('ack');
  return socket;
}

async function liveSubscriptions(socket: RawSocket, ids: string[]) {
  for (const id of ids) {
    socket.subscribe(id, APPROVALS);
    await socket.next(isNext(id));
  }
}

test('subscriptions per connection: one too many gets TOO_MANY_SUBSCRIPTIONS, the others go on', async () => {
  const { db, readerToken } = await startCluster(['alpha']);
  const app = await startServerWith(db, { limits: { subscriptionsPerConnection: 3 } });
  const socket = await signedIn(app.url, readerToken);
  await liveSubscriptions(socket, ['1', '2', '3']);
  socket.subscribe('4', APPROVALS);
  expect(await socket.next(isDone('4'))).toMatchObject({
    type: 'error',
    payload: [{ message: expect.stringContaining('at most 3 operations run at once on one connection'), extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } }],
  });
  socket.send({ id: '1', type: 'complete' });
  await liveSubscriptions(socket, ['5']);
});

test('subscriptions per user count every connection and every server-sent event stream', async () => {
  const { db, readerToken } = await startCluster(['alpha']);
  const app = await startServerWith(db, { limits: { subscriptionsPerConnection: 3, subscriptionsPerUser: 4 } });
  const first = await signedIn(app.url, readerToken);
  await liveSubscriptions(first, ['1', '2', '3']);
  const second = await signedIn(app.url, readerToken);
  await liveSubscriptions(second, ['1']);
  second.subscribe('2', APPROVALS);
  expect(await second.next(isDone('2'))).toMatchObject({
    type: 'error',
    payload: [{ message: expect.stringContaining('at most 4 subscriptions run at once for one user'), extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } }],
  });
  const stream = await postGraphQL(app.url, { query: APPROVALS }, { accept: 'text/event-stream', ...bearer(readerToken) });
  expect(await stream.text()).toContain('TOO_MANY_SUBSCRIPTIONS');

  first.ws.close();
  await first.closed;
  await expect
    .poll(async () => {
      const controller = new AbortController();
      const response = await postGraphQL(app.url, { query: APPROVALS }, { accept: 'text/event-stream', ...bearer(readerToken) }, controller.signal);
      // The first event, whatever comes before it (Yoga may send a keep-alive comment first).
      const reader = response.body!.getReader();
      let text = '';
      while (!text.includes('data:')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      controller.abort();
      return text;
    })
    .toContain('"approvedByPeer"');
});

test('connections per user: one too many is closed with 4429; other users are not affected', async () => {
  const { db, readerToken, adminToken } = await startCluster(['alpha']);
  const app = await startServerWith(db, { limits: { connectionsPerUser: 2 } });
  const first = await signedIn(app.url, readerToken);
  await signedIn(app.url, readerToken);
  const third = await openSocket(app.url);
  expect(await third.init({ authorization: `Bearer ${readerToken}` })).toEqual({ code: 4429, reason: 'too many connections: at most 2 per user' });
  await signedIn(app.url, adminToken);

  first.ws.close();
  await first.closed;
  await expect.poll(async () => (await openSocket(app.url)).init({ authorization: `Bearer ${readerToken}` })).toBe('ack');
});

test('a bad operation on a WebSocket gets an error for itself; the connection and its other subscriptions go on', async () => {
  const { db, readerToken, servers: [alpha] } = await startCluster(['alpha']);
  const app = await startServerWith(db);
  const socket = await signedIn(app.url, readerToken);
  await liveSubscriptions(socket, ['live']);

  let nested = 'id';
  for (let i = 0; i < 10; i++) nested = `peerTrust { peer { ${nested} } }`;
  const costly = Array.from({ length: 15 }, (_, i) => `a${i}: trustHistory(first: $n) { edges { node { id kind at } } }`).join(' ');
  const bad: [string, string, Record<string, unknown>?][] = [
    ['syntax', 'subscription {'],
    ['unknown field', 'subscription { noSuchField }'],
    ['too deep', `query { trustHistory { edges { node { ${nested} } } } }`],
    ['too many tokens', `query { thisServer { ${'id '.repeat(3000)} } }`],
    ['too costly', `query($n: Int) { ${costly} }`, { n: 200 }],
  ];
  for (const [id, query, variables] of bad) {
    socket.subscribe(id, query, variables);
    const answer = await socket.next((m) => m.id === id);
    const errors = (answer.type === 'error' ? answer.payload : (answer.payload as { errors: unknown }).errors) as { message: string }[];
    expect(errors?.[0]?.message, id).toBeTruthy();
  }

  await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: app.serverId, fingerprint: app.fingerprint } });
  expect(await socket.next(isNext('live'))).toMatchObject({ payload: { data: { trustApprovalRequired: { peerTrust: { approvedByPeer: true } } } } });
  expect(socket.ws.readyState).toBe(socket.ws.OPEN);
});

test('request rates: anonymous and refused tokens per address, then per token and per address, with 429 and Retry-After', async () => {
  const { db, readerToken, adminToken } = await startCluster(['alpha']);
  const app = await startServerWith(db, {
    limits: { anonymousRequestsPerMinutePerAddress: 3, requestsPerMinutePerToken: 5, requestsPerMinutePerAddress: 8 },
  });
  const viewer = { query: '{ viewer { name } }' };
  const from = (localAddress: string, token?: string) =>
    rawPost(app.url, viewer, { localAddress, ...(token ? { headers: bearer(token) } : {}) });
  const expectRateLimited = (response: Awaited<ReturnType<typeof rawPost>>) => {
    expect(response.status).toBe(429);
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(response.text)).toMatchObject({ errors: [{ message: expect.stringMatching(/^too many requests: retry in \d+ s$/), extensions: { code: 'RATE_LIMITED' } }] });
  };

  // Anonymous: 3 a minute from one address; tokens are not held back by them.
  for (let i = 0; i < 3; i++) expect((await from('127.0.0.2')).status).toBe(401);
  expectRateLimited(await from('127.0.0.2'));
  // Per token, from any address: 5 a minute.
  for (let i = 0; i < 3; i++) expect((await from('127.0.0.2', readerToken)).status).toBe(200);
  for (let i = 0; i < 2; i++) expect((await from('127.0.0.4', readerToken)).status).toBe(200);
  expectRateLimited(await from('127.0.0.4', readerToken));
  // Per address, whoever asks: 8 a minute; a WebSocket upgrade is a request too.
  expect((await from('127.0.0.2', adminToken)).status).toBe(200);
  await expect(openSocket(app.url, { localAddress: '127.0.0.2' })).rejects.toThrow('upgrade refused: 429');

  // Made-up tokens count as anonymous.
  for (let i = 0; i < 3; i++) expect((await from('127.0.0.3', `ptk_made-up-${i}`)).status).toBe(401);
  const refused = await from('127.0.0.3', 'ptk_made-up-3');
  expectRateLimited(refused);

  // Other addresses and tokens are not affected.
  expect((await from('127.0.0.1', adminToken)).status).toBe(200);
});

test('request rates over WebSocket: connection_init and each subscribe count for the token; one over the rate is refused alone', async () => {
  const { db, servers: [alpha] } = await startCluster(['alpha']);
  const { token } = await createApiToken(db, { userName: 'watcher', role: 'READ_ONLY' }, [await signerIn(db, alpha!.identityDir)]);
  const app = await startServerWith(db, { limits: { requestsPerMinutePerToken: 4 } });
  const socket = await signedIn(app.url, token);
  await liveSubscriptions(socket, ['1', '2', '3']);
  socket.subscribe('4', APPROVALS);
  expect(await socket.next(isDone('4'))).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) } }] });
  expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  const another = await openSocket(app.url);
  expect(await another.init({ authorization: `Bearer ${token}` })).toEqual({ code: 4429, reason: expect.stringMatching(/^too many requests: retry in \d+ s$/) });
});

test.each([
  ['peerTrustChanged', 'subscription { peerTrustChanged { id status } }'],
  ['trustApprovalRequired', APPROVALS],
])(`%s: a subscriber whose client stopped reading is ended after ${MAX_QUEUED} queued notices, with FELL_BEHIND; its connection goes on`, async (_field, query) => {
  const { db, servers: [alpha], readerToken } = await startCluster(['alpha', 'bravo']);
  const socket = await signedIn(alpha!.app.url, readerToken);
  const idle = db.changes.listenerCount('notice');
  socket.subscribe('changes', query);
  await expect.poll(() => db.changes.listenerCount('notice')).toBe(idle + 1);
  // More notices at once than it may fall behind by (the first may go straight to a waiting reader).
  const [pair] = await db.prisma.peerTrust.findMany({ select: { id: true, serverAId: true, serverBId: true } });
  for (let i = 0; i < MAX_QUEUED + 2; i++) db.changes.emit('notice', { kind: 'peerTrustChanged', peerTrustId: pair!.id, serverIds: [pair!.serverAId, pair!.serverBId] });
  expect(await socket.next(isDone('changes'))).toMatchObject({
    type: 'error',
    payload: [{ message: expect.stringContaining(`fell ${MAX_QUEUED} notices behind`), extensions: { code: 'FELL_BEHIND' } }],
  });
  await expect.poll(() => db.changes.listenerCount('notice')).toBe(idle);
  await liveSubscriptions(socket, ['after']);
});
