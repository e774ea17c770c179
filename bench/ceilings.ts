// The ceilings of `npm run bench`: the stack's own limits (PostgreSQL through pg, bare
// graphql-yoga, bare ws, bare graphql-ws), measured in the same run as peertrust's figures
// so that peertrust is reported as a ratio to them. Each bare server runs in a process of
// its own (bench/ceiling-servers/); the load comes from this one.
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import ts from 'typescript';
import { WebSocket } from 'ws';
import {
  assertSocketsFit,
  broadcastFigures,
  closedLoop,
  closeSockets,
  graphqlWsSubscribe,
  jsonClient,
  openSockets,
  PATIENCE_MS,
  stableRss,
  profiling,
  startChild,
  untilCount,
  type Rate,
} from './load.js';

/**
 * Starts bench/ceiling-servers/<name>.ts in a process of its own, run by plain node from
 * its transpiled text: `--import tsx` would add tsx's loader thread (about 27 MB) to the
 * RSS a ceiling reports, which peertrust, run from dist/, does not have. --eval resolves
 * the script's imports from the working directory: npm run bench runs in the project's root.
 */
async function startServer(name: string) {
  const source = await readFile(path.join(import.meta.dirname, 'ceiling-servers', `${name}.ts`), 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  // Exiting of itself on SIGTERM, it writes its profile (BENCH_PROFILE).
  const script = `process.once('SIGTERM', () => process.exit());\n${outputText}`;
  return startChild<{ url: string }>(process.execPath, [...profiling, '--input-type=module', '--eval', script]);
}

/** Runs `use` on the ceiling server `name` with room for `subscribers` client sockets, opened into `sockets`; all closed after. */
async function withSockets<T>(name: string, subscribers: number, use: (server: Awaited<ReturnType<typeof startServer>>, sockets: WebSocket[]) => Promise<T>): Promise<T> {
  await assertSocketsFit(subscribers);
  const sockets: WebSocket[] = [];
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    server = await startServer(name);
    return await use(server, sockets);
  } finally {
    closeSockets(sockets);
    await server?.stop();
  }
}

/** Raw INSERT transactions through `pg` (BEGIN; INSERT one row into a bench table; COMMIT), `clients` connections in closed loops for durationMs. Creates its own table in the given database and drops it after. */
export async function rawInsertTransactions(databaseUrl: string, clients: number, durationMs: number): Promise<Rate> {
  // Per process, so that two benches on one database do not share a table.
  const table = `bench_ceiling_insert_${process.pid}`;
  const payload = 'x'.repeat(100);
  const connections = Array.from({ length: clients }, () => new pg.Client({ connectionString: databaseUrl }));
  // A connection the database ends emits 'error' (thrown if unheard); its next query fails too, and that reports it.
  for (const connection of connections) connection.on('error', () => {});
  let created = false;
  try {
    await Promise.all(connections.map((connection) => connection.connect()));
    await connections[0]!.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, payload text NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
    created = true;
    return await closedLoop(clients, durationMs, async (client) => {
      const connection = connections[client]!;
      await connection.query('BEGIN');
      await connection.query(`INSERT INTO ${table} (payload) VALUES ($1)`, [payload]);
      await connection.query('COMMIT');
    });
  } finally {
    try {
      if (created) await connections[0]!.query(`DROP TABLE ${table}`);
    } finally {
      await Promise.all(connections.map((connection) => connection.end()));
    }
  }
}

/** A bare graphql-yoga server (no plugins beyond Yoga's defaults, schema `type Query { hello: String }`) in its own process; `connections` concurrent keep-alive HTTP clients POST `{ hello }` in closed loops, through the client that loads peertrust. */
export async function yogaHelloWorld(connections: number, durationMs: number): Promise<Rate> {
  const server = await startServer('yoga');
  const url = new URL(server.ready.url);
  const http = jsonClient(url.origin, connections);
  try {
    return await closedLoop(connections, durationMs, async () => {
      const answer = await http.post(url.pathname, { query: '{ hello }' });
      if (JSON.stringify(answer.body) !== '{"data":{"hello":"world"}}') throw new Error(`Yoga answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    });
  } finally {
    http.close();
    await server.stop();
  }
}

/**
 * Times broadcasts to `subscribers` clients: `rounds` times, the time from `trigger` to
 * the last client's receipt (each client calls `arrived` on a message), and the p99 over
 * clients, both taken here so that the clocks agree; the medians over the rounds.
 */
function broadcastClock(what: string, subscribers: number) {
  let arrivals: number[] = [];
  let everyoneReceived = () => {};
  return {
    arrived() {
      arrivals.push(performance.now());
      if (arrivals.length === subscribers) everyoneReceived();
    },
    async time(rounds: number, trigger: () => void): Promise<{ lastMs: number; p99Ms: number }> {
      const measured: number[][] = [];
      for (let round = 0; round < rounds; round++) {
        arrivals = [];
        const received = new Promise<void>((resolve) => (everyoneReceived = resolve));
        const triggered = performance.now();
        trigger();
        const late = sleep(PATIENCE_MS, 'late' as const, { ref: false });
        if ((await Promise.race([received, late])) === 'late') throw new Error(`${what}: ${arrivals.length} of ${subscribers} clients received within ${PATIENCE_MS / 1000} s`);
        // In order of arrival, so already sorted.
        measured.push(arrivals.map((at) => at - triggered));
      }
      return broadcastFigures(measured);
    },
  };
}

/** The control connection of a ceiling's server at `url` (its path replaced by /control): what is sent on it is broadcast. */
async function controlOf(url: string, sockets: WebSocket[]): Promise<WebSocket> {
  await openSockets(sockets, 1, () => new WebSocket(new URL('/control', url)), (socket) => once(socket, 'open'));
  return sockets[0]!;
}

/** A bare `ws` WebSocketServer in its own process with `subscribers` idle clients connected (from this process); the server sends `payload` to every client once, on a message from a control connection. Repeated `rounds` times (default 5): the medians over the rounds of the time to the LAST client's receipt, and of the p99 over clients. */
export function wsBroadcast(subscribers: number, payload: string, rounds = 5): Promise<{ lastMs: number; p99Ms: number }> {
  return withSockets('ws-broadcast', subscribers, async (server, sockets) => {
    const { url } = server.ready;
    const control = await controlOf(url, sockets);
    const clock = broadcastClock('ws broadcast', subscribers);
    await openSockets(sockets, subscribers, () => new WebSocket(url).on('message', clock.arrived), (socket) => once(socket, 'open'));
    return clock.time(rounds, () => control.send(payload));
  });
}

/**
 * The same through a bare graphql-ws server: `subscribers` idle `tick` subscriptions, each
 * on a connection of its own, and a tick whose message has the bytes of `message` (a
 * message of the fan-out it is a ceiling for). What graphql-ws's own delivery costs.
 */
export function graphqlWsBroadcast(subscribers: number, message: string, rounds = 5): Promise<{ lastMs: number; p99Ms: number }> {
  return withSockets('graphql-ws', subscribers, async (server, sockets) => {
    const { url } = server.ready;
    const control = await controlOf(url, sockets);
    const clock = broadcastClock('graphql-ws broadcast', subscribers);
    const open = () =>
      new WebSocket(url, 'graphql-transport-ws').on('message', (data: Buffer) => {
        if ((JSON.parse(data.toString()) as { type: string }).type === 'next') clock.arrived();
      });
    await openSockets(sockets, subscribers, open, (socket) => graphqlWsSubscribe(socket, 'subscription { tick }'));
    await untilStarted(url, subscribers);
    const envelope = JSON.stringify({ id: '1', type: 'next', payload: { data: { tick: '' } } });
    const tick = 'x'.repeat(Math.max(0, message.length - envelope.length));
    return clock.time(rounds, () => control.send(tick));
  });
}

/** Until the graphql-ws server has started `count` subscriptions: graphql-ws answers a subscribe with nothing until its first event. */
function untilStarted(url: string, count: number) {
  const counter = new URL('/subscriptions', url.replace(/^ws/, 'http'));
  return untilCount('graphql-ws subscriptions started', count, async () => ((await (await fetch(counter)).json()) as { started: number }).started);
}

/** A bare graphql-ws server (graphql-ws `useServer` on `ws`, schema with one subscription `tick: String`, each a listener on an EventEmitter and a queue) in its own process: its RSS idle, and with `subscribers` idle subscriptions (one per WebSocket connection, from this process) the RSS they add divided by `subscribers`, in bytes; each RSS read once stable. V8 grows its heap in steps, so compare figures taken with the same `subscribers`. */
export function graphqlWsMemory(subscribers: number): Promise<{ idleRssBytes: number; perSubscriptionBytes: number }> {
  return withSockets('graphql-ws', subscribers, async (server, sockets) => {
    const { url } = server.ready;
    const idleRssBytes = await stableRss(server.child.pid!);
    await openSockets(sockets, subscribers, () => new WebSocket(url, 'graphql-transport-ws'), (socket) => graphqlWsSubscribe(socket, 'subscription { tick }'));
    await untilStarted(url, subscribers);
    const subscribedRssBytes = await stableRss(server.child.pid!);
    return { idleRssBytes, perSubscriptionBytes: (subscribedRssBytes - idleRssBytes) / subscribers };
  });
}

// Self-check with small sizes: npx tsx bench/ceilings.ts (TEST_DATABASE_URL for the inserts).
if (import.meta.url === `file://${process.argv[1]}`) {
  const databaseUrl = process.env['TEST_DATABASE_URL'];
  if (databaseUrl) console.log('raw INSERT transactions, 4 clients, 2 s:', await rawInsertTransactions(databaseUrl, 4, 2_000));
  else console.log('raw INSERT transactions skipped: set TEST_DATABASE_URL');
  console.log('Yoga hello world, 8 connections, 2 s:', await yogaHelloWorld(8, 2_000));
  const event = JSON.stringify({ id: '1', type: 'next', payload: { data: { tick: 'x'.repeat(200) } } });
  console.log(`ws broadcast of ${event.length} bytes to 1,000 clients:`, await wsBroadcast(1_000, event));
  console.log('graphql-ws memory, 1,000 subscriptions:', await graphqlWsMemory(1_000));
  console.log(`graphql-ws broadcast of ${event.length} bytes to 1,000 subscribers:`, await graphqlWsBroadcast(1_000, event));
}
