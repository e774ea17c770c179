// A closed-loop load generator for the bench: `clients` loops each run `operation` back
// to back for a fixed time; the rate and the latency percentiles are of what completed.
// The systems under test run in processes of their own (serve, or a bare server beside
// it), so the generator never shares their event loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';

/** BENCH_PROFILE=dir: each process under test (serve, a ceiling's server) writes its CPU profile there when it stops (open it in Chrome's DevTools). */
export const profiling = process.env['BENCH_PROFILE'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROFILE']}`] : [];

export interface Rate {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  completed: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `operation(client, i)` in `clients` concurrent loops for `durationMs` (after a short warm-up). */
export async function closedLoop(clients: number, durationMs: number, operation: (client: number, i: number) => Promise<void>, warmupMs = 1_000): Promise<Rate> {
  const latencies: number[] = [];
  let measuring = false;
  let stop = false;
  const loop = async (client: number) => {
    for (let i = 0; !stop; i++) {
      const started = performance.now();
      await operation(client, i);
      if (measuring && !stop) latencies.push(performance.now() - started);
    }
  };
  const loops = Array.from({ length: clients }, (_, client) => loop(client));
  await new Promise((resolve) => setTimeout(resolve, warmupMs));
  measuring = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  stop = true;
  const elapsed = performance.now() - started;
  await Promise.all(loops);
  latencies.sort((a, b) => a - b);
  return { perSecond: (latencies.length * 1000) / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), completed: latencies.length };
}

/**
 * A child process, ready once its stdout matches `ready` (by default a JSON line, which
 * becomes `ready`); killed with `stop()`.
 */
export async function startChild<Ready>(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  readyPattern: RegExp = /^(\{.*\})$/m,
): Promise<{ child: ChildProcess; ready: Ready; match: RegExpExecArray; stop(): Promise<void> }> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = readyPattern.exec(output);
      if (found) resolve(found);
    });
    child.once('exit', (code) => reject(new Error(`${command} ${args.join(' ')} exited with ${code} before it was ready`)));
  });
  return {
    child,
    ready: (match[1]?.startsWith('{') ? JSON.parse(match[1]) : undefined) as Ready,
    match,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        // A profiled process writes its profile only when it exits of itself.
        child.kill(process.env['BENCH_PROFILE'] ? 'SIGTERM' : 'SIGKILL');
      }),
  };
}

/** POSTs JSON over `connections` keep-alive connections (node:http: the same client for every server measured). */
export function jsonClient(origin: string, connections: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const url = new URL(origin);
  return {
    post(pathname: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
      const payload = JSON.stringify(body);
      return new Promise((resolve, reject) => {
        const request = http.request(
          { agent, host: url.hostname, port: url.port, path: pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers } },
          (response) => {
            let text = '';
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => (text += chunk));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown }));
          },
        );
        request.on('error', reject);
        request.end(payload);
      });
    },
    close: () => agent.destroy(),
  };
}

/** The median of `values` (sorts them). */
export function median(values: number[]): number {
  return percentile(values.sort((a, b) => a - b), 50);
}

/** Longest wait for a broadcast to reach every client, for every subscription to start, or for memory to settle. */
export const PATIENCE_MS = 30_000;

/** Reads `count()` every 100 ms until it reaches `wanted`; fails after PATIENCE_MS, saying how many of `what` there were. */
export async function untilCount(what: string, wanted: number, count: () => Promise<number>): Promise<void> {
  for (const deadline = performance.now() + PATIENCE_MS; ; await sleep(100)) {
    const counted = await count();
    if (counted >= wanted) return;
    if (performance.now() > deadline) throw new Error(`${counted} of ${wanted} ${what} after ${PATIENCE_MS / 1000} s`);
  }
}

/**
 * A broadcast measured in rounds, each the delays of its arrivals in order: the time to
 * the last arrival and the p99 over arrivals, each the median over the rounds.
 */
export function broadcastFigures(rounds: number[][]): { lastMs: number; p99Ms: number } {
  return { lastMs: median(rounds.map((delays) => delays.at(-1)!)), p99Ms: median(rounds.map((delays) => percentile(delays, 99))) };
}

/** Resident set size of a process, in bytes, from /proc (Linux). */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  return kb * 1024;
}

/** The RSS of process `pid` once three samples 500 ms apart are within 1% of each other. */
export async function stableRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (const deadline = performance.now() + PATIENCE_MS; ; await sleep(500)) {
    samples.push(await rssOf(pid));
    const last = samples.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) <= 0.01 * Math.max(...last)) return last[2]!;
    if (performance.now() > deadline) throw new Error(`the RSS of process ${pid} did not settle in ${PATIENCE_MS / 1000} s: ${samples.join(', ')} bytes`);
  }
}

/** Sockets opened at once: well under the servers' accept backlog (511). */
const BATCH = 200;

/** Each client is an open file here and one in the server: fail now rather than with EMFILE halfway. */
export async function assertSocketsFit(clients: number) {
  const limit = Number(/^Max open files\s+(\d+)/m.exec(await readFile('/proc/self/limits', 'utf8'))?.[1]);
  if (clients + 100 > limit) throw new Error(`${clients} WebSocket clients need more than ${clients} open files; ulimit -n is ${limit}`);
}

/** Opens `count` WebSockets into `sockets` (so that the caller closes them even on error), BATCH at a time, each made ready by `prepare`. */
export async function openSockets(sockets: WebSocket[], count: number, open: () => WebSocket, prepare: (socket: WebSocket) => Promise<unknown>) {
  for (let opened = 0; opened < count; opened += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, count - opened) }, open);
    // ws throws an 'error' event nobody listens to; a client lost later shows as one that never receives.
    for (const socket of batch) socket.on('error', () => {});
    sockets.push(...batch);
    await Promise.all(batch.map(prepare));
  }
}

export function closeSockets(sockets: WebSocket[]) {
  for (const socket of sockets) socket.terminate();
}

/**
 * Opens one graphql-ws subscription on `socket` (the graphql-transport-ws protocol, spoken
 * directly to keep the load generator light). graphql-ws answers a subscribe with nothing
 * until its first event: the caller asks the server when they are all live.
 */
export async function graphqlWsSubscribe(socket: WebSocket, query: string, authorization?: string) {
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'connection_init', ...(authorization ? { payload: { authorization } } : {}) }));
  const [ack] = await once(socket, 'message');
  if ((JSON.parse(String(ack)) as { type: string }).type !== 'connection_ack') throw new Error(`graphql-ws answered connection_init with ${String(ack)}`);
  socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
}
