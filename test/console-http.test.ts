// How the console and GraphiQL are served, seen over HTTP: what a browser receives,
// compressed as it asks; and GraphiQL's way of sending a subscription, which gets its
// notices through CSRF prevention.
import { get, type IncomingHttpHeaders } from 'node:http';
import { describe, expect, onTestFinished, test } from 'vitest';
import { ApproveTrustDocument, ConsoleTrustHistoryDocument, RevokeTrustDocument } from '../client/index.js';
import { graphiqlOptions } from '../src/http/graphiql.js';
import { bearer, run, startCluster } from './helpers.js';

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as sent, not decompressed. */
  body: Buffer;
}

/** A GET as a browser sends it, answered byte for byte (fetch would decompress). */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const html = { accept: 'text/html' };

/** The peer names a trustApprovalRequired stream of server-sent events announces, one at a time. */
async function* announcedPeers(response: Response): AsyncGenerator<string> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    buffered += chunk.value;
    for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = event.split('\n').find((line) => line.startsWith('data:'))?.slice(5).trim();
      if (data) yield JSON.parse(data).data.trustApprovalRequired.peerTrust.peer.name;
    }
  }
}

/** The src and href of the page's scripts and stylesheets. */
const assetsOf = (page: string) => [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);

describe('the console over HTTP', () => {
  test('/ and each console page are the console document, with its security policy, revalidated each time', async () => {
    const { servers: [alpha, bravo] } = await startCluster(['alpha', 'bravo']);
    const origin = new URL(alpha!.app.url).origin;
    const home = await rawGet(`${origin}/`, html);
    expect(home.status).toBe(200);
    expect(home.headers['content-type']).toMatch(/^text\/html/);
    expect(home.headers['cache-control']).toBe('no-cache');
    const policy = home.headers['content-security-policy'] ?? '';
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toContain('unsafe-inline');
    expect(policy).toContain("frame-ancestors 'none'");
    // Vite's build needs no inline script, so the policy holds.
    expect(home.body.toString()).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(assetsOf(home.body.toString()).some((asset) => asset.endsWith('.js'))).toBe(true);

    for (const page of ['/history', '/keys', `/servers/${bravo!.id}`]) {
      const answer = await rawGet(`${origin}${page}`, html);
      expect([page, answer.status, answer.body.toString()]).toEqual([page, 200, home.body.toString()]);
    }
  });

  test('assets are sent precompressed as the browser accepts, and cached for good', async () => {
    const { servers: [alpha] } = await startCluster(['alpha']);
    const origin = new URL(alpha!.app.url).origin;
    const script = assetsOf((await rawGet(`${origin}/`)).body.toString()).find((asset) => /\/console-[^/]+\.js$/.test(asset))!;
    const plain = await rawGet(`${origin}${script}`);
    const brotli = await rawGet(`${origin}${script}`, { 'accept-encoding': 'gzip, deflate, br' });
    const gzip = await rawGet(`${origin}${script}`, { 'accept-encoding': 'gzip' });
    expect([plain.status, plain.headers['content-encoding']]).toEqual([200, undefined]);
    expect(brotli.headers['content-encoding']).toBe('br');
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(brotli.body.length).toBeLessThan(gzip.body.length);
    expect(gzip.body.length).toBeLessThan(plain.body.length);
    for (const answer of [plain, brotli, gzip]) {
      expect(answer.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(answer.headers['content-type']).toMatch(/javascript/);
      expect(answer.headers['vary']).toBe('Accept-Encoding');
    }
    expect((await rawGet(`${origin}/assets/console-missing.js`)).status).toBe(404);
  });

  test('everything else is left to the API', async () => {
    const { servers: [alpha] } = await startCluster(['alpha']);
    const origin = new URL(alpha!.app.url).origin;
    for (const path of ['/index.html', '/graphiql.html', '/nothing-here', '/servers/a/b']) {
      const answer = await rawGet(`${origin}${path}`, html);
      expect([path, answer.status]).toEqual([path, 404]);
    }
    const api = await fetch(alpha!.app.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(await api.json()).toEqual({ data: { __typename: 'Query' } });
  });
});

describe('GraphiQL', () => {
  test('its page is small and loads GraphiQL from assets that are compressed and cached for good', async () => {
    const { servers: [alpha] } = await startCluster(['alpha']);
    const origin = new URL(alpha!.app.url).origin;
    const page = await rawGet(alpha!.app.url, html);
    expect(page.status).toBe(200);
    expect(page.body.length).toBeLessThan(8 * 1024);
    const text = page.body.toString();
    expect(text).toContain('<title>peertrust: alpha</title>');
    expect(text).toContain('Content-Security-Policy');
    const assets = assetsOf(text);
    expect(assets.filter((asset) => /yoga-graphiql-\w+\.(js|css)$/.test(asset))).toHaveLength(2);
    for (const asset of assets) {
      const answer = await rawGet(`${origin}${asset}`, { 'accept-encoding': 'br' });
      expect([asset, answer.status, answer.headers['cache-control']]).toEqual([asset, 200, 'public, max-age=31536000, immutable']);
      if (answer.body.length > 1024) expect([asset, answer.headers['content-encoding']]).toEqual([asset, 'br']);
    }
  });

  test("a subscription sent GraphiQL's way, GET with server-sent events and its headers, receives each notice", async () => {
    const cluster = await startCluster(['alpha', 'bravo']);
    const [alpha] = cluster.servers;
    const query = 'subscription { trustApprovalRequired { peerTrust { peer { name } } } }';
    const url = `${alpha!.app.url}?${new URLSearchParams({ query })}`;
    // What GraphiQL sends with every request, and the token from its Headers tab.
    const { additionalHeaders } = graphiqlOptions('alpha');
    const asGraphiQL = { accept: 'text/event-stream', ...additionalHeaders, ...bearer(cluster.adminToken) };

    // Without GraphiQL's headers, CSRF prevention refuses the same GET: it is still on.
    const refused = await fetch(url, { headers: { accept: 'text/event-stream', ...bearer(cluster.adminToken) } });
    expect(refused.status).toBe(403);
    await refused.body?.cancel();

    const stream = new AbortController();
    onTestFinished(() => stream.abort());
    const response = await fetch(url, { headers: asGraphiQL, signal: stream.signal });
    expect([response.status, response.headers.get('content-type')]).toEqual([200, expect.stringMatching(/^text\/event-stream/)]);
    const notices = announcedPeers(response);
    // First the peer that awaits approval now, then one that registers later.
    expect(await notices.next()).toEqual({ done: false, value: 'bravo' });
    await cluster.addServer('charlie');
    expect(await notices.next()).toEqual({ done: false, value: 'charlie' });
  });
});

describe('Trust History paging for the console', () => {
  test('last/before pages backwards from the newest event', async () => {
    const { servers: [alpha, bravo] } = await startCluster(['alpha', 'bravo']);
    // Five events: each revoke after an approve is a new round.
    const approve = () => run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } });
    for (let i = 0; i < 2; i++) {
      await approve();
      await run(alpha!.admin, RevokeTrustDocument, { input: { peerId: bravo!.id } });
    }
    await approve();
    const page = (before: string | null) => run(alpha!.reader, ConsoleTrustHistoryDocument, { peerId: null, last: 2, before });
    const newest = await page(null);
    const kinds = (p: typeof newest) => p.trustHistory.edges.map((e) => e.node.kind);
    expect(kinds(newest)).toEqual(['TRUST_REVOKED', 'TRUST_APPROVED']);
    expect(newest.trustHistory.pageInfo.hasPreviousPage).toBe(true);
    const older = await page(newest.trustHistory.pageInfo.startCursor!);
    expect(kinds(older)).toEqual(['TRUST_REVOKED', 'TRUST_APPROVED']);
    const oldest = await page(older.trustHistory.pageInfo.startCursor!);
    expect(kinds(oldest)).toEqual(['TRUST_APPROVED']);
    expect(oldest.trustHistory.pageInfo.hasPreviousPage).toBe(false);
  });
});
