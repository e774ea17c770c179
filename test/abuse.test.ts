// The abuse suite (issue 8): a real `peertrust serve` process attacked as a client
// would attack it. Its memory returns to its idle level after 10,000 cancelled
// subscriptions; a legitimate client stays fast during each flood (its median latency
// as a ratio to idle, measured in the same test); and no attack changes the database.
// Memory is the server process's RSS (/proc/PID/status) after a full garbage collection
// asked for through its inspector. The server runs on a database of its own on the run's
// embedded PostgreSQL, which is another process: the figure is peertrust's alone.
import { readFile } from 'node:fs/promises';
import WebSocket from 'ws';
import { Agent } from 'node:http';
import { getIntrospectionQuery } from 'graphql';
import { describe, expect, onTestFinished, test } from 'vitest';
import { createPeertrustClient, PeerTrustsDocument } from '../client/index.js';
import { createApiToken } from '../src/auth/tokens.js';
import { openPostgresDatabase, type Database } from '../src/db/client.js';
import { bearer, freshDatabaseUrl, run, signerIn } from './helpers.js';
import { serve, type ServeProcess } from './processes.js';
import { openSocket, rawPost, type RawSocket } from './raw-client.js';

/** Replays the pending approval at once: a subscription that answered is live. */
const APPROVALS = 'subscription { trustApprovalRequired { peerTrust { id } } }';

/**
 * How much slower a legitimate request may be during a flood than idle. Generous: the
 * attackers share the machine (and this test's process) with the server, and floods a
 * server must carry (a READ_ONLY token within its rate) reached 5x on a machine loaded
 * by other work; unprotected floods of costly queries and of subscribes made it 12 to
 * 95 times slower.
 */
const LATENCY_RATIO_BOUND = 8;

/**
 * Attackers at once per HTTP flood, each sending as fast as it is answered (the issue's
 * floods were four loops). A READ_ONLY token within its rate is load a server must carry.
 */
const ATTACKERS = 8;

interface Target {
  alpha: ServeProcess;
  db: Database;
  adminToken: string;
  readerToken: string;
}

/** alpha (attacked and measured) and bravo (its pending peer) on a fresh database. */
async function target(env: Record<string, string> = {}): Promise<Target> {
  const url = await freshDatabaseUrl({ migrated: true });
  const alpha = await serve('alpha', url, { env });
  await serve('bravo', url);
  const db = await openPostgresDatabase(url);
  onTestFinished(() => db.close());
  const signer = await signerIn(db, alpha.dataDir);
  const { token: adminToken } = await createApiToken(db, { userName: 'admin', role: 'ADMINISTRATOR' }, [signer]);
  const { token: readerToken } = await createApiToken(db, { userName: 'reader', role: 'READ_ONLY' }, [signer]);
  return { alpha, db, adminToken, readerToken };
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Started with NODE_OPTIONS=--inspect=127.0.0.1:0, a process says where its inspector listens. */
const INSPECTOR = /Debugger listening on (ws:\/\/\S+)/;

/**
 * The server process's RSS after a full garbage collection, asked for through its
 * inspector: without one, V8 keeps garbage (and the pages it grew into) until it next
 * needs memory, and RSS says little about what is still in use.
 */
async function collectedRssMb(server: ServeProcess): Promise<number> {
  const inspector = new WebSocket(INSPECTOR.exec(server.logs)![1]!);
  await new Promise((resolve, reject) => inspector.once('open', resolve).once('error', reject));
  await new Promise<void>((resolve) => {
    inspector.once('message', () => resolve());
    inspector.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
  });
  inspector.close();
  return rssMb(server.child.pid!);
}

async function signedIn(url: string, token: string, localAddress?: string): Promise<RawSocket> {
  const socket = await openSocket(url, localAddress ? { localAddress } : {});
  expect(await socket.init({ authorization: `Bearer ${token}` })).toBe('ack');
  return socket;
}

/** Subscribes and cancels `count` times, each once it is live, over a few connections at once. */
async function cancelledSubscriptions(url: string, token: string, count: number) {
  const sockets = await Promise.all(Array.from({ length: 4 }, () => signedIn(url, token)));
  let started = 0;
  await Promise.all(
    sockets.flatMap((socket) =>
      Array.from({ length: 20 }, async () => {
        while (started < count) {
          const id = String(started++);
          socket.subscribe(id, APPROVALS);
          await socket.next((m) => m.id === id && m.type === 'next');
          socket.send({ id, type: 'complete' });
        }
      }),
    ),
  );
  for (const socket of sockets) socket.ws.close();
  await Promise.all(sockets.map((socket) => socket.closed));
}

/** Everything an attack could change, to compare before and after it. */
async function snapshot(db: Database) {
  const { prisma } = db;
  return {
    pairs: await prisma.peerTrust.findMany({ orderBy: { id: 'asc' }, select: { id: true, status: true, acceptedByA: true, acceptedByB: true, updatedAt: true } }),
    decisions: await prisma.trustDecision.count(),
    events: await prisma.trustEvent.count(),
    servers: await prisma.server.findMany({ orderBy: { id: 'asc' }, select: { id: true, name: true, status: true, addresses: true, decommissionedAt: true } }),
    rootKeys: await prisma.rootKey.count(),
    users: await prisma.user.findMany({ orderBy: { id: 'asc' }, select: { id: true, name: true, role: true } }),
    tokens: await prisma.apiToken.findMany({ orderBy: { id: 'asc' }, select: { id: true, revokedAt: true } }),
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** An attack: it runs until `signal` aborts, calling `answered` with what the server said to each attempt. */
type Attack = (signal: AbortSignal, answered: (outcome: string) => void) => Promise<void>;

/** `count` attackers doing `attempt` over and over. */
const inLoops =
  (count: number, attempt: () => Promise<string>): Attack =>
  async (signal, answered) => {
    await Promise.all(
      Array.from({ length: count }, async () => {
        while (!signal.aborted) answered(await attempt().catch((error: Error) => `failed: ${error.message}`));
      }),
    );
  };

/** What a GraphQL answer over HTTP says: its status and its first error's code. */
async function outcomeOf(response: Promise<{ status: number; text: string }>): Promise<string> {
  const { status, text } = await response;
  const code = (JSON.parse(text) as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code;
  return `${status}${code ? ` ${code}` : ''}`;
}

describe('abuse (a server process on its own database)', () => {
  test('memory returns to its idle level after 10,000 cancelled subscriptions', async () => {
    const { alpha, readerToken } = await target({
      NODE_OPTIONS: '--inspect=127.0.0.1:0',
      // Rates high enough for the churn: this test is about memory, not rates.
      PEERTRUST_RATE_LIMIT_PER_TOKEN: '1000000',
      PEERTRUST_RATE_LIMIT_PER_ADDRESS: '1000000',
    });
    await expect.poll(() => INSPECTOR.test(alpha.logs)).toBe(true);
    // Warmed up (compiled code, pools, caches), that is idle.
    await cancelledSubscriptions(alpha.url, readerToken, 1_000);
    const idle = await collectedRssMb(alpha);
    const started = performance.now();
    await cancelledSubscriptions(alpha.url, readerToken, 10_000);
    const seconds = (performance.now() - started) / 1000;
    const uncollected = await rssMb(alpha.child.pid!);
    const after = await collectedRssMb(alpha);
    console.info(
      `abuse: server RSS idle ${idle.toFixed(0)} MB; after 10,000 cancelled subscriptions (${seconds.toFixed(0)} s): ` +
        `${uncollected.toFixed(0)} MB before a full GC, ${after.toFixed(0)} MB after it (${((after / idle - 1) * 100).toFixed(1)}%)`,
    );
    expect(after).toBeLessThanOrEqual(idle * 1.1);
  }, 300_000);

  test('a legitimate client stays fast during each flood, and no flood changes the database', async () => {
    const { alpha, db, adminToken, readerToken } = await target();
    const url = alpha.url;
    const users = await Promise.all(
      ['prober', 'subscriber', 'connector'].map(async (userName) => (await createApiToken(db, { userName, role: 'READ_ONLY' }, [await signerIn(db, alpha.dataDir)])).token),
    );
    const [prober, subscriber, connector] = users as [string, string, string];
    // Attackers come from other loopback addresses than the legitimate client (127.0.0.1).
    const agent = (localAddress: string) => {
      const created = new Agent({ keepAlive: true, localAddress });
      onTestFinished(() => created.destroy());
      return created;
    };
    const post = (localAddress: Agent, body: unknown, headers: Record<string, string> = {}) =>
      outcomeOf(rawPost(url, body, { agent: localAddress, headers }));
    const costly = Array.from({ length: 15 }, (_, i) => `a${i}: trustHistory(first: $n) { edges { node { id kind at actor { name } } } }`);
    // Large bodies are made once: the attackers share this process with the legitimate client.
    const introspection = JSON.stringify({ query: getIntrospectionQuery() });
    const oversized = JSON.stringify({ query: `{ viewer { name } } # ${'x'.repeat(200_000)}` });

    const floods: [string, Attack][] = [
      ['made-up tokens', inLoops(ATTACKERS, () => post(agent('127.0.0.2'), { query: '{ viewer { name } }' }, bearer(`ptk_${Math.random()}`)))],
      ['anonymous introspection', inLoops(ATTACKERS, () => post(agent('127.0.0.3'), introspection))],
      [
        'READ_ONLY mutations',
        inLoops(ATTACKERS, () =>
          post(agent('127.0.0.4'), { query: 'mutation($id: ID!) { revokeTrust(input: { peerId: $id }) { __typename } }', variables: { id: alpha.id } }, bearer(readerToken)),
        ),
      ],
      ['15 aliases of trustHistory(first: $n), n = 200', inLoops(ATTACKERS, () => post(agent('127.0.0.5'), { query: `query($n: Int) { ${costly.join(' ')} }`, variables: { n: 200 } }, bearer(prober)))],
      ['oversized bodies', inLoops(ATTACKERS, () => post(agent('127.0.0.6'), oversized, bearer(prober)))],
      [
        '1,000 subscribes on one READ_ONLY WebSocket',
        inLoops(1, async () => {
          const socket = await openSocket(url, { localAddress: '127.0.0.7' });
          const answer = await socket.init({ authorization: `Bearer ${subscriber}` });
          if (answer !== 'ack') return `closed ${answer.code}`;
          for (let id = 0; id < 1_000; id++) socket.subscribe(String(id), APPROVALS);
          const answers = await Promise.all(Array.from({ length: 1_000 }, (_, id) => socket.next((m) => m.id === String(id), 60_000)));
          socket.ws.close();
          await socket.closed;
          const refused = answers.filter((m) => m.type === 'error');
          return `${answers.length - refused.length} live, ${refused.length} ${JSON.stringify((refused[0]?.payload as { extensions: { code: string } }[] | undefined)?.[0]?.extensions.code)}`;
        }),
      ],
      [
        'WebSocket connections of one user, never closed',
        inLoops(ATTACKERS, async () => {
          const socket = await openSocket(url, { localAddress: '127.0.0.8' });
          const answer = await socket.init({ authorization: `Bearer ${connector}` });
          return answer === 'ack' ? 'ack' : `closed ${answer.code}`;
        }),
      ],
    ];

    const legitimate = createPeertrustClient({ url, token: adminToken });
    onTestFinished(() => legitimate.close());
    const latencyMs = async () => {
      const times: number[] = [];
      for (let i = 0; i < 40; i++) {
        const started = performance.now();
        expect((await run(legitimate, PeerTrustsDocument, {})).peerTrusts.edges).toHaveLength(1);
        times.push(performance.now() - started);
      }
      return median(times);
    };

    const before = await snapshot(db);
    await latencyMs();
    const report: string[] = [];
    for (const [name, attack] of floods) {
      // Idle just before each flood: the machine's own load drifts.
      const idle = await latencyMs();
      const outcomes = new Map<string, number>();
      let attempts = 0;
      let underWay!: () => void;
      const started = new Promise<void>((resolve) => (underWay = resolve));
      const stop = new AbortController();
      const attacking = attack(stop.signal, (outcome) => {
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (++attempts === 20) underWay();
      });
      // Measured once the flood is under way: its first answers are in.
      await Promise.race([started, attacking]);
      const during = await latencyMs();
      stop.abort();
      await attacking;
      report.push(`${name}: ${(during / idle).toFixed(2)}x of ${idle.toFixed(1)} ms (${[...outcomes].map(([outcome, count]) => `${count} × ${outcome}`).join(', ')})`);
      expect.soft(during / idle, `${name}: ${during.toFixed(1)} ms against ${idle.toFixed(1)} ms idle`).toBeLessThan(LATENCY_RATIO_BOUND);
    }
    console.info(`abuse: a legitimate query's median latency during each flood, as a ratio to idle:\n  ${report.join('\n  ')}`);
    expect(await snapshot(db)).toEqual(before);
  }, 300_000);
});
