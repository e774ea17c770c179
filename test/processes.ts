// The `peertrust` command run as people run it: real processes, real data directories.
// Every process started here is killed when its test ends, passed or failed or timed
// out, with whatever it started (its own process group). A worker that dies kills its
// processes on exit, and the run's teardown kills any left with this run's tag.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { inject, onTestFinished } from 'vitest';
import { tempDir } from './helpers.js';

const bin = path.resolve(import.meta.dirname, '../bin/peertrust.js');
/** Embedded database unless a test says otherwise; warnings only; tagged for the teardown. */
const baseEnv = () => ({ ...process.env, DATABASE_URL: '', LOG_LEVEL: 'warn', PEERTRUST_TEST_RUN: inject('testRunId') });

const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of started) killGroup(child);
});

/** SIGKILL to the process and everything it started in its group. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL') {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // Already gone.
  }
}

function launch(args: string[], env: Record<string, string>): ChildProcess {
  // Its own process group, so that it and its children can be killed together.
  const child = spawn(process.execPath, [bin, ...args], { env: { ...baseEnv(), ...env }, detached: true });
  started.add(child);
  child.once('exit', () => started.delete(child));
  onTestFinished(() => killGroup(child));
  return child;
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * How long a command may take to finish, or a long-running one to get ready. Generous: a
 * start takes seconds, and tens of seconds on a machine loaded by other work.
 */
const READY_WITHIN_MS = 90_000;

/** Runs a command to its end. */
export function peertrust(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return new Promise((resolve) => {
    const child = launch(args, env);
    let stdout = '';
    let stderr = '';
    // A command that hangs fails its test saying so, not by the test's own time limit.
    const deadline = setTimeout(() => {
      stderr += `\n(killed: still running after ${READY_WITHIN_MS / 1000} s: ${args.join(' ')})`;
      killGroup(child);
    }, READY_WITHIN_MS);
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Running {
  child: ChildProcess;
  /** stdout up to the ready line. */
  output: string;
  /** Everything it logged (stderr) so far. */
  readonly logs: string;
}

/** Starts a long-running command and resolves once it printed a line matching `ready`; killed when the test ends. */
export async function startProcess(args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<Running> {
  const child = launch(args, env);
  let output = '';
  // Logs, to say why a process that never got ready failed.
  let logs = '';
  child.stderr!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
  return new Promise((resolve, reject) => {
    // A process that neither gets ready nor exits fails its test with what it said, rather
    // than running it into the test's own time limit, which says nothing.
    const deadline = setTimeout(() => reject(new Error(`not ready after ${READY_WITHIN_MS / 1000} s: ${args.join(' ')}\n${output}\n${logs}`)), READY_WITHIN_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(deadline);
        resolve({
          child,
          output,
          get logs() {
            return logs;
          },
        });
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(deadline);
      reject(new Error(`exited with ${signal ?? code} before it was ready:\n${output}\n${logs}`));
    });
  });
}

/** Stops a process the way an operator does (or with `SIGKILL`, as a crash), and waits for it to exit. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  return exited;
}

/** A `peertrust serve` process and what it printed about its server. */
export interface ServeProcess extends Running {
  url: string;
  id: string;
  fingerprint: string;
  dataDir: string;
  /** kill -9: no chance to clean up. */
  kill(): Promise<void>;
}

/** The summary `serve` prints once it is ready. */
const SERVE_READY = /GraphiQL\s+(\S+)\n\s+id\s+(\S+)\n\s+fingerprint\s+(\S+)\n\s+addresses.*\n/;

/**
 * Runs `peertrust serve`: on a database URL (or the embedded default with `databaseUrl: ''`),
 * with a new data directory (a new server instance) unless one is given.
 */
export async function serve(
  name: string,
  databaseUrl: string,
  options: { heartbeatSeconds?: number; env?: Record<string, string>; dataDir?: string } = {},
): Promise<ServeProcess> {
  const dataDir = options.dataDir ?? (await tempDir());
  const running = await startProcess(
    ['serve', '--name', name, '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--address', '192.0.2.1'],
    SERVE_READY,
    { DATABASE_URL: databaseUrl, PEERTRUST_HEARTBEAT_SECONDS: String(options.heartbeatSeconds ?? 10), ...options.env },
  );
  const [, url, id, fingerprint] = SERVE_READY.exec(running.output)!;
  return Object.assign(running, {
    url: url!,
    id: id!,
    fingerprint: fingerprint!,
    dataDir,
    kill: async () => {
      await stopProcess(running.child, 'SIGKILL');
    },
  });
}
