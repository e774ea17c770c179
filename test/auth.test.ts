// Rule 7: only administrators change trust, any authenticated user reads, anonymous
// requests get nothing but a clear error. Tokens are stored hashed.
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { CombinedError, TypedDocumentNode } from '@urql/core';
import {
  ApproveTrustDocument,
  DecommissionServerDocument,
  DenyTrustDocument,
  PeerTrustChangedDocument,
  PeerTrustDocument,
  PeerTrustsDocument,
  RevokeTrustDocument,
  ServersDocument,
  ThisServerDocument,
  TrustHistoryDocument,
  ViewerDocument,
} from '../client/index.js';
import { createPeertrustClient } from '../client/index.js';
import { authenticate, createApiToken } from '../src/auth/tokens.js';
import { postGraphQL, request, run, signerIn, startCluster, subscribe, type TestServer } from './helpers.js';
import { openSocket } from './raw-client.js';

const codeOf = (error: CombinedError | undefined) => error?.graphQLErrors[0]?.extensions['code'];

function mutations(bravo: TestServer) {
  const fingerprinted = { input: { peerId: bravo.id, fingerprint: bravo.fingerprint } };
  return {
    approveTrust: (client: TestServer['admin']) => request(client, ApproveTrustDocument, fingerprinted),
    denyTrust: (client: TestServer['admin']) => request(client, DenyTrustDocument, fingerprinted),
    revokeTrust: (client: TestServer['admin']) => request(client, RevokeTrustDocument, { input: { peerId: bravo.id } }),
    decommissionServer: (client: TestServer['admin']) =>
      request(client, DecommissionServerDocument, { input: { serverId: bravo.id } }),
  };
}

describe('mutations', () => {
  test.each(['approveTrust', 'denyTrust', 'revokeTrust', 'decommissionServer'] as const)(
    '%s: anonymous is UNAUTHENTICATED, READ_ONLY is FORBIDDEN, and nothing changes',
    async (name) => {
      const { servers: [alpha, bravo] } = await startCluster();
      const mutation = mutations(bravo!)[name];

      const anonymous = await mutation(alpha!.anonymous);
      expect(anonymous.data).toBeFalsy();
      expect(codeOf(anonymous.error)).toBe('UNAUTHENTICATED');
      expect(anonymous.error?.graphQLErrors[0]?.message).toContain('Authorization: Bearer');

      const reader = await mutation(alpha!.reader);
      expect(reader.data).toBeFalsy();
      expect(codeOf(reader.error)).toBe('FORBIDDEN');
      expect(reader.error?.graphQLErrors[0]?.message).toContain('only an ADMINISTRATOR');

      const state = await run(alpha!.admin, PeerTrustDocument, { peerId: bravo!.id });
      expect(state.peerTrust).toMatchObject({ status: 'PENDING', approvedByThisServer: false, peer: { status: 'ONLINE' } });
      expect((await run(alpha!.admin, TrustHistoryDocument, {})).trustHistory.edges).toEqual([]);

      const admin = await mutation(alpha!.admin);
      expect(admin.error).toBeUndefined();
    },
  );
});

describe('queries', () => {
  test('anonymous and bad tokens get a clear UNAUTHENTICATED error and no data', async () => {
    const { servers: [alpha] } = await startCluster();
    const documents = [ThisServerDocument, ServersDocument, PeerTrustsDocument, TrustHistoryDocument, ViewerDocument];
    for (const document of documents as TypedDocumentNode<Record<string, unknown>, Record<string, never>>[]) {
      const result = await request(alpha!.anonymous, document, {});
      expect(result.data ?? null).toBeNull();
      expect(result.error?.graphQLErrors).toHaveLength(1);
      expect(codeOf(result.error)).toBe('UNAUTHENTICATED');
    }
    const forged = createPeertrustClient({ url: alpha!.app.url, token: 'ptk_not-a-real-token' });
    const result = await request(forged, ThisServerDocument, {});
    expect(codeOf(result.error)).toBe('UNAUTHENTICATED');
    expect(result.error?.graphQLErrors[0]?.message).toContain('the token is not valid');
    await forged.close();

    const response = await postGraphQL(alpha!.app.url, { query: '{ viewer { name } }' }, { authorization: 'Basic YWRtaW46YWRtaW4=' });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { data?: unknown; errors: { message: string }[] };
    expect(body.data).toBeUndefined();
    expect(body.errors[0]?.message).toContain('must be "Bearer <token>"');
  });

  test('anonymous introspection is allowed: the schema is public, and GraphiQL loads it before a token is set', async () => {
    const { servers: [alpha] } = await startCluster();
    const response = await postGraphQL(alpha!.app.url, { query: '{ __schema { queryType { name } } }' });
    expect(await response.json()).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
    const mixed = await postGraphQL(alpha!.app.url, { query: '{ __typename thisServer { id } }' });
    expect(mixed.status).toBe(401);
  });

  test('any authenticated user may read; viewer says who and with which role', async () => {
    const { servers: [alpha] } = await startCluster();
    expect((await run(alpha!.reader, ViewerDocument, {})).viewer).toMatchObject({ name: 'reader', role: 'READ_ONLY' });
    expect((await run(alpha!.admin, ViewerDocument, {})).viewer).toMatchObject({ name: 'admin', role: 'ADMINISTRATOR' });
  });

  test('tokens are stored only as their SHA-256', async () => {
    const { db, adminToken } = await startCluster();
    const rows = await db.prisma.apiToken.findMany();
    expect(rows).toHaveLength(2);
    expect(JSON.stringify(rows)).not.toContain(adminToken);
    expect(rows.map((r) => r.tokenHash)).toContain(createHash('sha256').update(adminToken).digest('hex'));
  });

  test('a revoked token no longer works', async () => {
    const { db, adminToken, servers: [alpha] } = await startCluster();
    await db.prisma.apiToken.updateMany({
      where: { tokenHash: createHash('sha256').update(adminToken).digest('hex') },
      data: { revokedAt: new Date() },
    });
    expect(codeOf((await request(alpha!.admin, ViewerDocument, {})).error)).toBe('UNAUTHENTICATED');
  });
});

test('tokens read together (one query for the requests of one turn of the event loop) each sign in as their own token says', async () => {
  const cluster = await startCluster(['alpha']);
  const ledger = cluster.servers[0]!.app.scope.ledger;
  const tokens = [cluster.adminToken, 'ptk_not-a-real-token', cluster.readerToken, cluster.adminToken];
  // Asked for in one turn: one read for all four.
  const answers = await Promise.all(tokens.map((token) => authenticate(cluster.db.prisma, `Bearer ${token}`, ledger)));
  expect(answers).toMatchObject([
    { kind: 'user', user: { name: 'admin', role: 'ADMINISTRATOR' } },
    { kind: 'invalid', reason: 'the token is not valid' },
    { kind: 'user', user: { name: 'reader', role: 'READ_ONLY' } },
    { kind: 'user', user: { name: 'admin', role: 'ADMINISTRATOR' } },
  ]);
});

describe('subscriptions', () => {
  test('over graphql-ws, anonymous and bad tokens are refused at connection_init (4403), before any subscribe', async () => {
    const cluster = await startCluster(['alpha', 'bravo']);
    const [alpha, bravo] = cluster.servers;
    // Signed by bravo alone, which alpha does not trust: a reason longer than a close frame holds.
    const { token: bravos } = await createApiToken(cluster.db, { userName: 'bravos', role: 'READ_ONLY' }, [await signerIn(cluster.db, bravo!.identityDir)]);
    const refusals = [
      [{}, 'authentication required: send connectionParams.authorization "Bearer <token>"'],
      [{ authorization: 'Basic YWRtaW46YWRtaW4=' }, 'the authorization must be "Bearer <token>": send connectionParams.authorization "Bearer <token>"'],
      // A token was sent: what is wrong with it is the answer.
      [{ authorization: 'Bearer ptk_not-a-real-token' }, 'the token is not valid'],
      [{ authorization: `Bearer ${bravos}` }, expect.stringMatching(/^the token was not issued by this server or by a server it trusts .*…$/)],
    ] as const;
    for (const [payload, reason] of refusals) {
      const socket = await openSocket(alpha!.app.url);
      const closed = await socket.init(payload);
      expect(closed).toEqual({ code: 4403, reason });
      expect(Buffer.byteLength(closed === 'ack' ? '' : closed.reason)).toBeLessThanOrEqual(123);
    }
    // The typed client does not ask again with a token that was refused: its subscription fails.
    const refused = await subscribe(alpha!.anonymous, PeerTrustChangedDocument, {}).next();
    expect(refused.data ?? null).toBeNull();
    expect(refused.error?.networkError).toMatchObject({ code: 4403 });
  });

  test('anonymous is UNAUTHENTICATED over server-sent events', async () => {
    const { servers: [alpha] } = await startCluster();
    const response = await postGraphQL(alpha!.app.url, { query: 'subscription { peerTrustChanged { id } }' }, { accept: 'text/event-stream' });
    const text = await response.text();
    expect(text).toContain('UNAUTHENTICATED');
    expect(text).not.toContain('"data":{');
  });
});
