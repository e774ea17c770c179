// Bad input gets a clear error, changes nothing and never takes a server down.
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { pino } from 'pino';
import { expect, test } from 'vitest';
import { ApproveTrustDocument, DenyTrustDocument, PeerTrustDocument, RevokeTrustDocument, ThisServerDocument, TrustHistoryDocument } from '../client/index.js';
import { bearer, postGraphQL, request, run, startCluster } from './helpers.js';
import { startServerWith } from './limited-server.js';

async function post(url: string, token: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await postGraphQL(url, body, { ...bearer(token), ...headers });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) as { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] } };
}

test('unknown and malformed ids are NotFoundError; a malformed fingerprint is InvalidFingerprintError', async () => {
  const { servers: [alpha, bravo] } = await startCluster();
  const unknownId = randomUUID();
  for (const peerId of [unknownId, 'not-an-id', '', "'; DROP TABLE \"Server\"; --"]) {
    const approved = await run(alpha!.admin, ApproveTrustDocument, { input: { peerId, fingerprint: bravo!.fingerprint } });
    expect(approved.approveTrust).toMatchObject({ __typename: 'NotFoundError' });
    expect(approved.approveTrust.__typename === 'NotFoundError' && approved.approveTrust.message).toContain('no server has the id');
    // What is not an id at all (a server's name, say) is told so.
    expect(approved.approveTrust.__typename === 'NotFoundError' && approved.approveTrust.message.endsWith('a name is not one')).toBe(peerId !== unknownId);
    expect((await run(alpha!.admin, RevokeTrustDocument, { input: { peerId } })).revokeTrust.__typename).toBe('NotFoundError');
    expect((await run(alpha!.reader, PeerTrustDocument, { peerId })).peerTrust).toBeNull();
  }
  for (const fingerprint of ['', 'abc', bravo!.fingerprint.slice(1), `${bravo!.fingerprint}00`, 'z'.repeat(64), 'x'.repeat(100_00)]) {
    const denied = await run(alpha!.admin, DenyTrustDocument, { input: { peerId: bravo!.id, fingerprint } });
    expect(denied.denyTrust).toMatchObject({ __typename: 'InvalidFingerprintError' });
    expect(denied.denyTrust.__typename === 'InvalidFingerprintError' && denied.denyTrust.message).toContain('64 hexadecimal characters');
  }
  expect((await run(alpha!.reader, PeerTrustDocument, { peerId: bravo!.id })).peerTrust?.status).toBe('PENDING');
  expect((await run(alpha!.reader, TrustHistoryDocument, {})).trustHistory.edges).toEqual([]);
});

test('wrong variable types and unknown fields are GraphQL errors, not crashes', async () => {
  const { adminToken, servers: [alpha] } = await startCluster();
  const typed = await post(alpha!.app.url, adminToken, {
    query: 'mutation($input: ApproveTrustInput!) { approveTrust(input: $input) { __typename } }',
    variables: { input: { peerId: 42 } },
  });
  expect(typed.json().errors?.[0]?.message).toMatch(/fingerprint/);
  const unknown = await post(alpha!.app.url, adminToken, { query: '{ thisServer { privateKey } }' });
  expect(unknown.json().errors?.[0]?.message).toContain('Cannot query field "privateKey"');
  // No hints about other field names to someone probing the schema.
  expect(unknown.text).not.toContain('Did you mean');
  const garbage = await post(alpha!.app.url, adminToken, '{"query": ');
  expect(garbage.status).toBe(400);
  expect((await run(alpha!.admin, ThisServerDocument, {})).thisServer.name).toBe('alpha');
});

test('deep, wide, aliased and huge queries are refused before they run', async () => {
  const { adminToken, servers: [alpha] } = await startCluster();
  const deep = `{ peerTrusts { edges { node { peer { rootKeys { id } } } } } trustHistory { edges { node { peerTrust { peer { rootKeys { id } } } } } } }`;
  expect((await post(alpha!.app.url, adminToken, { query: deep })).json().errors).toBeUndefined();

  let nested = 'id';
  for (let i = 0; i < 10; i++) nested = `peerTrust { peer { ${nested} } }`;
  const tooDeep = await post(alpha!.app.url, adminToken, { query: `{ trustHistory { edges { node { ${nested} } } } }` });
  expect(tooDeep.json().errors?.[0]?.message).toMatch(/depth|cost/i);
  expect(tooDeep.json().data).toBeUndefined();

  const aliases = Array.from({ length: 50 }, (_, i) => `a${i}: thisServer { id }`).join(' ');
  expect((await post(alpha!.app.url, adminToken, { query: `{ ${aliases} }` })).json().errors?.[0]?.message).toMatch(/alias/i);

  const tokens = `{ thisServer { ${'id '.repeat(3000)} } }`;
  expect((await post(alpha!.app.url, adminToken, { query: tokens })).json().errors?.[0]?.message).toMatch(/token/i);

  const huge = await post(alpha!.app.url, adminToken, { query: `{ thisServer { id } } # ${'x'.repeat(100_000)}` });
  expect(huge.status).toBe(413);
  expect(huge.text).toContain('Request body too large');
  // Without a Content-Length (chunked), the body is refused once it passes the limit, before it ends.
  const chunked = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const sending = httpRequest(alpha!.app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}`, 'transfer-encoding': 'chunked' },
    });
    sending.on('response', (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => {
        sending.destroy();
        resolve({ status: response.statusCode ?? 0, text });
      });
    });
    sending.on('error', reject);
    // The body is never finished: the answer must not wait for it.
    sending.write(`{ "query": "{ thisServer { id } }", "pad": "${'x'.repeat(70_000)}`);
  });
  expect(chunked.status).toBe(413);
  expect(chunked.text).toContain('Request body too large');

  expect((await run(alpha!.admin, ThisServerDocument, {})).thisServer.name).toBe('alpha');
});

test('a GET without the CSRF header is refused; POST with JSON is not', async () => {
  const { adminToken, servers: [alpha] } = await startCluster();
  const url = `${alpha!.app.url}?query=${encodeURIComponent('{ viewer { name } }')}`;
  const refused = await fetch(url, { headers: bearer(adminToken) });
  expect(refused.status).toBe(403);
  const allowed = await fetch(url, { headers: { ...bearer(adminToken), 'x-graphql-yoga-csrf': '1' } });
  expect(await allowed.json()).toEqual({ data: { viewer: { name: 'admin' } } });
});

test('GraphiQL is served on GET /graphql with nothing loaded from another host', async () => {
  const { servers: [alpha] } = await startCluster();
  const response = await fetch(alpha!.app.url, { headers: { accept: 'text/html' } });
  expect(response.status).toBe(200);
  const html = await response.text();
  expect(html).toContain('GraphiQL');
  expect(html).toContain('peertrust: alpha');
  expect(html).not.toMatch(/<(script|link)[^>]+(src|href)="https?:\/\//);
  expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdn\./);
});

test('internal errors are masked for the client and logged for the operator', async () => {
  const logged: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => logged.push(line) });
  const { db, adminToken, servers: [alpha, bravo] } = await startCluster(['alpha', 'bravo'], { logger });
  // Break the database under the server: the client must learn nothing about why.
  await db.prisma.$executeRawUnsafe('ALTER TABLE "TrustDecision" RENAME TO "TrustDecisionGone"');
  const result = await post(alpha!.app.url, adminToken, {
    query: 'mutation($input: ApproveTrustInput!) { approveTrust(input: $input) { __typename } }',
    variables: { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } },
  });
  const error = result.json().errors?.[0];
  expect(error?.message).toBe('Unexpected error.');
  expect(result.text).not.toMatch(/TrustDecision|prisma|stack/i);
  expect(logged).toHaveLength(1);
  expect(JSON.parse(logged[0]!)).toMatchObject({ level: 50, server: 'alpha', err: { stack: expect.stringContaining('TrustDecision') } });
  await db.prisma.$executeRawUnsafe('ALTER TABLE "TrustDecisionGone" RENAME TO "TrustDecision"');
  // The failed transaction left nothing half-written.
  expect((await request(alpha!.reader, PeerTrustDocument, { peerId: bravo!.id })).data?.peerTrust?.approvedByThisServer).toBe(false);
  expect((await run(alpha!.reader, TrustHistoryDocument, {})).trustHistory.edges).toEqual([]);
});

test('a tampered cursor is a client error (BAD_USER_INPUT), not an internal error with a logged stack', async () => {
  const logged: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => logged.push(line) });
  const { adminToken, servers: [alpha] } = await startCluster(['alpha', 'bravo'], { logger });
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  const tampered = ['x', base64('nope'), base64('GPC:S:not-a-key'), base64('GPC:N:1e300'), base64('GPC:N:-1'), base64('GPC:S:12')];
  for (const field of ['servers', 'peerTrusts', 'trustHistory']) {
    for (const after of tampered) {
      const result = await post(alpha!.app.url, adminToken, {
        query: `query($after: String) { ${field}(after: $after) { edges { cursor } } }`,
        variables: { after },
      });
      expect(result.json().errors?.[0], `${field}(after: ${after})`).toMatchObject({
        message: expect.stringMatching(/cursor/i),
        extensions: { code: 'BAD_USER_INPUT' },
      });
    }
  }
  expect(logged).toEqual([]);
  // A cursor the list gave out still pages.
  const page = await post(alpha!.app.url, adminToken, { query: '{ servers(first: 1) { edges { cursor } } }' });
  const cursor = (page.json().data as { servers: { edges: { cursor: string }[] } }).servers.edges[0]!.cursor;
  const next = await post(alpha!.app.url, adminToken, { query: `{ servers(after: "${cursor}") { edges { node { name } } } }` });
  expect(next.json()).toEqual({ data: { servers: { edges: [{ node: { name: 'bravo' } }] } } });
});

test('trustHistory(peerId: "") is the history with no peer: empty, not the whole history', async () => {
  const { servers: [alpha, bravo] } = await startCluster();
  await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } });
  expect((await run(alpha!.reader, TrustHistoryDocument, {})).trustHistory.edges).toHaveLength(1);
  for (const peerId of ['', ' ', 'not-an-id']) {
    expect((await run(alpha!.reader, TrustHistoryDocument, { peerId })).trustHistory.edges).toEqual([]);
  }
});

test('CORS: no other origin is allowed by default; listed origins are, and only they', async () => {
  const { db, adminToken, servers: [alpha] } = await startCluster(['alpha']);
  const preflight = (url: string, origin: string) =>
    fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
  const fromOrigin = (url: string, origin: string) => postGraphQL(url, { query: '{ viewer { name } }' }, { origin, ...bearer(adminToken) });

  for (const response of [await preflight(alpha!.app.url, 'https://evil.example'), await fromOrigin(alpha!.app.url, 'https://evil.example')]) {
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  }

  const listed = await startServerWith(db, { http: { corsOrigins: ['https://console.example', 'https://ops.example'] } });
  const allowed = await preflight(listed.url, 'https://console.example');
  expect(allowed.headers.get('access-control-allow-origin')).toBe('https://console.example');
  expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');
  expect((await fromOrigin(listed.url, 'https://ops.example')).headers.get('access-control-allow-origin')).toBe('https://ops.example');
  const other = (await fromOrigin(listed.url, 'https://evil.example')).headers.get('access-control-allow-origin');
  expect(other === null || other === 'null').toBe(true);
});
