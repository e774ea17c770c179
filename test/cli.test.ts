// The `peertrust` command as people run it: real processes, real data directories.
import { chmod, readFile, stat } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, test, onTestFinished, vi } from 'vitest';
import { createPeertrustClient, ThisServerDocument, ViewerDocument } from '../client/index.js';
import { formatFingerprint } from '../src/identity/fingerprint-text.js';
import { freshDatabaseUrl, request, run, tempDir } from './helpers.js';
import { freePort } from './private-postgres.js';
import { peertrust, startProcess as start, stopProcess as stop } from './processes.js';

describe('usage', () => {
  test.each([[[]], [['serve']], [['cluster']], [['fingerprint']], [['token', 'create']]])('--help for %j', async (args) => {
    const result = await peertrust([...args, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: peertrust');
  });

  test.each([
    [['serve', '--name', 'a', '--port', 'eighty'], '--port "eighty" must be a number'],
    [['serve', '--name', 'not a name'], '--name "not a name" must be 1 to 63 letters'],
    [['serve', '--name', 'a', '--address', 'example.com'], '--address "example.com" must be an IP address'],
    [['cluster', '--servers', '11'], '--servers "11" must be from 1 to 10'],
    [['serve'], "required option '--name <name>' not specified"],
    [['token', 'create', '--name', 'ops', '--role', 'root'], 'must be ADMINISTRATOR or READ_ONLY'],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['fingerprint', '--data-dir', '/nonexistent/peertrust'], 'has no root key'],
  ])('%j exits non-zero with one clear line', async (args, message) => {
    const result = await peertrust(args);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  test.each([
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL "mysql://x" must be a postgresql:// URL'],
    [{ DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE "0" must be from 1 to 1000'],
    [{ DATABASE_POOL_SIZE: 'many' }, 'DATABASE_POOL_SIZE "many" must be a number'],
    [{ PEERTRUST_HEARTBEAT_SECONDS: '0.0001' }, 'PEERTRUST_HEARTBEAT_SECONDS "0.0001" must be from 0.1 to 86400'],
  ])('a bad %j is one clear line', async (env, message) => {
    const result = await peertrust(['serve', '--name', 'a'], env);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`peertrust: ${message}`);
  });
});

test('serve, token create and fingerprint on one embedded data directory; a restart is the same server', async () => {
  const dataDir = await tempDir();
  // A token is signed by a server's key: none before the server has started once.
  const early = await peertrust(['token', 'create', '--name', 'ops', '--role', 'administrator', '--data-dir', dataDir]);
  expect(early.code).toBe(2);
  expect(early.stderr).toContain('holds no root key of a registered server');

  const server = await start(['serve', '--name', 'solo', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--address', '198.51.100.7'], /GraphiQL\s+(\S+)[\s\S]*addresses/);
  const url = /GraphiQL\s+(\S+)/.exec(server.output)![1]!;
  const created = await peertrust(['token', 'create', '--name', 'ops', '--role', 'administrator', '--data-dir', dataDir]);
  expect(created.code, created.stderr).toBe(0);
  const token = created.stdout.trim().split('\n').at(-1)!;
  expect(token).toMatch(/^ptk_[A-Za-z0-9_-]{43}$/);
  expect(created.stderr).toContain('ops (ADMINISTRATOR)');
  const client = createPeertrustClient({ url, token });
  onTestFinished(() => client.close());
  expect((await run(client, ViewerDocument, {})).viewer).toMatchObject({ name: 'ops', role: 'ADMINISTRATOR' });
  const me = (await run(client, ThisServerDocument, {})).thisServer;
  expect(me).toMatchObject({ name: 'solo', addresses: ['198.51.100.7'] });

  const fingerprint = await peertrust(['fingerprint', '--data-dir', dataDir]);
  expect(fingerprint.stdout.trim()).toBe(formatFingerprint(me.fingerprint));
  expect((await stat(path.join(dataDir, 'root-key.pem'))).mode & 0o777).toBe(0o600);

  // Restarting on the same directory is the same server, with everything kept.
  await stop(server.child);
  const again = await start(['serve', '--name', 'solo', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], /GraphiQL\s+(\S+)[\s\S]*addresses/);
  const client2 = createPeertrustClient({ url: /GraphiQL\s+(\S+)/.exec(again.output)![1]!, token });
  onTestFinished(() => client2.close());
  expect((await run(client2, ThisServerDocument, {})).thisServer.id).toBe(me.id);
  await stop(again.child);
});

test('serve on a port another process listens on exits with one line that says what to do, and nothing it started left running', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => void taken.close());
  const { port } = taken.address() as AddressInfo;
  const result = await peertrust(['serve', '--name', 'solo', '--port', String(port), '--host', '127.0.0.1', '--data-dir', await tempDir()], {
    DATABASE_URL: await freshDatabaseUrl(),
  });
  expect(result.code).toBe(2);
  // Its heartbeat and tampering check stopped before the database closed: no warnings after the error.
  expect(result.stderr).toBe(`peertrust: listen EADDRINUSE: address already in use 127.0.0.1:${port}: another process listens there; choose another port with --port\n`);
});

test('token create, list and revoke', async () => {
  const dataDir = await tempDir();
  await stop((await start(['serve', '--name', 'solo', '--port', '0', '--data-dir', dataDir], /GraphiQL/)).child);
  expect((await peertrust(['token', 'create', '--name', 'ops', '--role', 'ADMINISTRATOR', '--data-dir', dataDir])).code).toBe(0);
  const reader = await peertrust(['token', 'create', '--name', 'auditor', '--role', 'read-only', '--data-dir', dataDir]);
  expect(reader.stderr).toContain('auditor (READ_ONLY)');
  const listed = await peertrust(['token', 'list', '--data-dir', dataDir]);
  expect(listed.stdout).toMatch(/ auditor {2}READ_ONLY {2}created \S+ {2}active\n/);
  expect(listed.stdout).toMatch(/ ops {2}ADMINISTRATOR {2}created \S+ {2}active\n/);
  expect(listed.stdout).not.toContain('ptk_');
  expect((await peertrust(['token', 'revoke', '--name', 'ops', '--data-dir', dataDir])).stdout).toBe('revoked 1 token of ops\n');
  expect((await peertrust(['token', 'list', '--data-dir', dataDir])).stdout).toMatch(/ ops {2}ADMINISTRATOR {2}created \S+ {2}revoked \S+\n/);
});

test('cluster starts a server process that dies again, and keeps trying while it cannot start', async () => {
  const dataDir = await tempDir();
  // A port of its own: a restarted server listens where it did.
  const port = await freePort();
  const cluster = await start(['cluster', '--servers', '1', '--port', String(port), '--data-dir', dataDir], /ptk_\S+\n/, { DATABASE_URL: await freshDatabaseUrl() });
  const serving = async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200;
  const servePids = async () => {
    const children = (await readFile(`/proc/${cluster.child.pid}/task/${cluster.child.pid}/children`, 'utf8')).trim().split(/\s+/);
    const commands = await Promise.all(children.map(async (pid) => [pid, await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')] as const));
    return commands.filter(([, command]) => command.includes('\0serve\0')).map(([pid]) => Number(pid));
  };
  const [first] = await servePids();
  // Its data directory open to other users: it refuses to start until that is put right.
  const serverDir = path.join(dataDir, 'alpha');
  await chmod(serverDir, 0o755);
  process.kill(first!, 'SIGKILL');
  await vi.waitFor(() => expect(cluster.logs).toContain('can be read by other users'), { timeout: 60_000, interval: 100 });
  expect(await serving()).toBe(false);
  await chmod(serverDir, 0o700);
  await vi.waitFor(async () => expect(await serving()).toBe(true), { timeout: 60_000, interval: 200 });
  expect(await servePids()).not.toContain(first);
});

test('cluster runs each server as its own process on one embedded database, with a console link and a token kept across restarts, also when a server is added', async () => {
  const dataDir = await tempDir();
  const two = await start(['cluster', '--servers', '2', '--port', '0', '--data-dir', dataDir], /ptk_\S+\n/);
  const firstToken = two.output.trim().split('\n').at(-1)!;
  await stop(two.child);

  const cluster = await start(['cluster', '--servers', '3', '--port', '0', '--data-dir', dataDir], /ptk_\S+\n/);
  const urls = [...cluster.output.matchAll(/GraphiQL\s+(http\S+)/g)].map((m) => m[1]!);
  expect(urls).toHaveLength(3);
  expect(cluster.output).toMatch(/^alpha$/m);
  expect(cluster.output).toMatch(/^charlie$/m);
  // charlie signed the kept token: open consoles keep working, on every server.
  const token = cluster.output.trim().split('\n').at(-1)!;
  expect(token).toBe(firstToken);
  for (const url of urls) {
    const kept = createPeertrustClient({ url, token });
    onTestFinished(() => kept.close());
    expect((await run(kept, ThisServerDocument, {})).thisServer.name).toMatch(/^(alpha|bravo|charlie)$/);
  }
  expect(cluster.output).toContain(`console      ${urls[0]!.replace(/\/graphql$/, '')}/#token=${token}`);
  // A second one on the same directory is refused, saying how to have more servers.
  const second = await peertrust(['cluster', '--port', '0', '--data-dir', dataDir]);
  expect(second.code).toBe(2);
  expect(second.stderr).toContain('is in use by peertrust cluster');
  expect(second.stderr).toContain('or stop it and start it again with more servers (`npm start -- --servers N`)');
  // So is a server on it; it leaves no key of its own behind (the fingerprints below).
  const serveBeside = await peertrust(['serve', '--name', 'delta', '--port', '0', '--data-dir', dataDir]);
  expect([serveBeside.code, serveBeside.stderr]).toEqual([2, expect.stringContaining('is in use by peertrust cluster')]);
  // Three server processes under the supervisor, each its own.
  const children = (await readFile(`/proc/${cluster.child.pid}/task/${cluster.child.pid}/children`, 'utf8')).trim().split(/\s+/);
  const serveCommands = await Promise.all(children.map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')));
  expect(serveCommands.filter((command) => command.includes('\0serve\0'))).toHaveLength(3);
  const client = createPeertrustClient({ url: urls[2]!, token });
  onTestFinished(() => client.close());
  const me = (await run(client, ThisServerDocument, {})).thisServer;
  expect(me.name).toBe('charlie');
  // The cluster's data directory: each server's fingerprint, by name.
  const fingerprints = await peertrust(['fingerprint', '--data-dir', dataDir]);
  const grouped = '[0-9a-f]{4}(:[0-9a-f]{4}){15}';
  expect(fingerprints.stdout).toMatch(new RegExp(`^alpha {4}${grouped}\\nbravo {4}${grouped}\\ncharlie  ${formatFingerprint(me.fingerprint)}\\n$`));
  // Added while alpha and bravo were stopped, with this host's addresses, as theirs: it
  // registered once they ran again, so nothing marks it as a replacement of either.
  expect(me.possibleReplacementOf).toBeNull();
  expect(cluster.output).toContain(formatFingerprint(me.fingerprint));
  // Tokens can be made while it runs.
  const created = await peertrust(['token', 'create', '--name', 'reader', '--role', 'read-only', '--data-dir', dataDir]);
  expect(created.code, created.stderr).toBe(0);
  // A server whose key rotates still takes the token its old key signed.
  const rotated = await peertrust(['key', 'rotate', '--url', urls[2]!], { PEERTRUST_TOKEN: token });
  expect(rotated.code, rotated.stderr).toBe(0);
  await stop(cluster.child);

  // A restart keeps the servers (all three, unasked) and the token, so open consoles keep working.
  const again = await start(['cluster', '--port', '0', '--data-dir', dataDir], /ptk_\S+\n/);
  expect([...again.output.matchAll(/GraphiQL\s+(http\S+)/g)]).toHaveLength(3);
  expect(again.output.trim().split('\n').at(-1)).toBe(token);
  const url = [...again.output.matchAll(/GraphiQL\s+(http\S+)/g)].map((m) => m[1]!)[2]!;
  const same = createPeertrustClient({ url, token });
  onTestFinished(() => same.close());
  expect((await run(same, ThisServerDocument, {})).thisServer.id).toBe(me.id);
  await stop(again.child);

  // Once revoked, the next start makes a new one.
  expect((await peertrust(['token', 'revoke', '--name', 'cluster-admin', '--data-dir', dataDir])).stdout).toBe('revoked 1 token of cluster-admin\n');
  const third = await start(['cluster', '--servers', '1', '--port', '0', '--data-dir', dataDir], /ptk_\S+\n/);
  const fresh = third.output.trim().split('\n').at(-1)!;
  expect(fresh).not.toBe(token);
  const stale = createPeertrustClient({ url: /GraphiQL\s+(http\S+)/.exec(third.output)![1]!, token });
  onTestFinished(() => stale.close());
  expect((await request(stale, ThisServerDocument, {})).error?.graphQLErrors[0]?.extensions['code']).toBe('UNAUTHENTICATED');
  await stop(third.child);
});
