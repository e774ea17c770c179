// A token's revoke, or its user's role change, ends what it keeps open: WebSocket
// connections (and so their subscriptions) and server-sent event streams (issue 8, item 4).
import { expect, test } from 'vitest';
import { createApiToken, revokeApiTokens } from '../src/auth/tokens.js';
import type { Database } from '../src/db/client.js';
import { ApproveTrustDocument, RevokeTrustDocument } from '../client/index.js';
import { bearer, freshPostgresUrl, postGraphQL, run, signerIn, startCluster, testDatabaseUrl, type TestServer } from './helpers.js';
import { peertrust, serve } from './processes.js';
import { openSocket, type RawSocket } from './raw-client.js';

const APPROVALS = 'subscription { trustApprovalRequired { peerTrust { id } } }';

/** A live WebSocket subscription and a live SSE stream of `token` on the server at `url`. */
async function liveSubscriptions(url: string, token: string) {
  const socket = await openSocket(url);
  expect(await socket.init({ authorization: `Bearer ${token}` })).toBe('ack');
  socket.subscribe('1', APPROVALS);
  await socket.next((m) => m.id === '1' && m.type === 'next');
  const response = await postGraphQL(url, { query: APPROVALS }, { accept: 'text/event-stream', ...bearer(token) });
  const stream = response.body!.getReader();
  // Yoga may send a keep-alive comment (":") before the first event.
  let text = '';
  while (!text.includes('"trustApprovalRequired"')) {
    const { value, done } = await stream.read();
    if (done) throw new Error(`the stream ended before its first event: ${text}`);
    text += new TextDecoder().decode(value);
  }
  return { socket, stream };
}

/** Resolves once the server has ended both (an SSE stream ends or breaks off). */
async function bothEnd({ socket, stream }: { socket: RawSocket; stream: ReadableStreamDefaultReader<Uint8Array> }) {
  const streamEnded = (async () => {
    try {
      while (!(await stream.read()).done);
    } catch {
      // Closed by the server mid-stream: ended too.
    }
  })();
  const [closed] = await Promise.all([socket.closed, streamEnded]);
  return closed;
}

async function cluster() {
  const { db, servers: [alpha] } = await startCluster(['alpha', 'bravo']);
  const signer = await signerIn(db, alpha!.identityDir);
  const { token } = await createApiToken(db, { userName: 'operator', role: 'ADMINISTRATOR' }, [signer]);
  return { db, url: alpha!.app.url, token, signer };
}

test('revoking a token ends its WebSocket connections (4403) and SSE streams', async () => {
  const { db, url, token, signer } = await cluster();
  const live = await liveSubscriptions(url, token);
  await revokeApiTokens(db, 'operator', signer);
  expect(await bothEnd(live)).toEqual({ code: 4403, reason: 'the token is no longer accepted (revoked, its role changed, or its issuer not trusted): authenticate again' });
  // Sent again, it is refused as revoked, not as a token never seen.
  const again = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"query":"{ viewer { name } }"}' });
  expect(((await again.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/^the token was revoked: use a current one/);
});

test("changing the user's role ends them too", async () => {
  const { db, url, token } = await cluster();
  const live = await liveSubscriptions(url, token);
  await db.prisma.user.update({ where: { name: 'operator' }, data: { role: 'READ_ONLY' } });
  expect((await bothEnd(live)).code).toBe(4403);
});

test('a revoke whose notice is lost still ends them, at the next check', async () => {
  const { db, url, token, signer } = await cluster();
  const live = await liveSubscriptions(url, token);
  await withoutNotices(db, () => revokeApiTokens(db, 'operator', signer));
  expect((await bothEnd(live)).code).toBe(4403);
});

test("no longer trusting a token's only issuer ends them", async () => {
  // charlie awaits approval: something for the subscriptions to send.
  const { db, servers } = await startCluster(['alpha', 'bravo', 'charlie']);
  const [alpha, bravo] = servers as [TestServer, TestServer];
  for (const [on, peer] of [[alpha, bravo], [bravo, alpha]] as const) {
    await run(on.admin, ApproveTrustDocument, { input: { peerId: peer.id, fingerprint: peer.fingerprint } });
  }
  // Signed by bravo alone: alpha takes it while it trusts bravo.
  const { token } = await createApiToken(db, { userName: 'operator', role: 'ADMINISTRATOR' }, [await signerIn(db, bravo.identityDir)]);
  const live = await liveSubscriptions(alpha.app.url, token);
  await run(alpha.admin, RevokeTrustDocument, { input: { peerId: bravo.id } });
  expect(await bothEnd(live)).toEqual({ code: 4403, reason: 'the token is no longer accepted (revoked, its role changed, or its issuer not trusted): authenticate again' });
});

async function withoutNotices(db: Database, work: () => Promise<unknown>) {
  await db.prisma.$executeRawUnsafe('ALTER TABLE "ApiToken" DISABLE TRIGGER "ApiToken_revoked"');
  try {
    await work();
  } finally {
    await db.prisma.$executeRawUnsafe('ALTER TABLE "ApiToken" ENABLE TRIGGER "ApiToken_revoked"');
  }
}

test.skipIf(!testDatabaseUrl)('`peertrust token revoke` in another process ends them on a server process (PostgreSQL)', async () => {
  const databaseUrl = await freshPostgresUrl();
  const server = await serve('alpha', databaseUrl);
  await serve('bravo', databaseUrl);
  const created = await peertrust(['token', 'create', '--name', 'operator', '--role', 'READ_ONLY', '--signer', server.dataDir], { DATABASE_URL: databaseUrl });
  const token = created.stdout.trim().split('\n').at(-1)!;
  const live = await liveSubscriptions(server.url, token);
  const revoked = await peertrust(['token', 'revoke', '--name', 'operator', '--signer', server.dataDir], { DATABASE_URL: databaseUrl });
  expect(revoked.stdout).toBe('revoked 1 token of operator\n');
  expect((await bothEnd(live)).code).toBe(4403);
});
