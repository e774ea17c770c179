// The trust commands as operators and scripts run them: the real `peertrust` process
// against real servers (serve processes, or servers in this process), the token in
// PEERTRUST_TOKEN.
import net from 'node:net';
import { expect, onTestFinished, test } from 'vitest';
import { ApproveTrustDocument, DecommissionServerDocument, RotateRootKeyDocument } from '../client/index.js';
import { formatFingerprint } from '../src/identity/fingerprint-text.js';
import { adminToken } from './ha-helpers.js';
import { revokeApiTokens } from '../src/auth/tokens.js';
import { freshDatabaseUrl, run, signerIn, startCluster, tempDir, type TestServer } from './helpers.js';
import { startServerWith } from './limited-server.js';
import { peertrust, serve, startProcess, stopProcess, type Running } from './processes.js';
import { scrape, valueOf } from './prometheus.js';

/** A trust command against `url` with `token`. */
const cli = (args: string[], url: string, token: string) => peertrust(args, { PEERTRUST_URL: url, PEERTRUST_TOKEN: token });
const on = (server: TestServer, token: string) => (args: string[]) => cli(args, server.app.url, token);

/** What every peer is in --json, key for key: scripts rely on exactly these. */
const PEER_KEYS = ['addresses', 'approvalRequired', 'approvedByPeer', 'approvedByThisServer', 'fingerprint', 'id', 'name', 'serverStatus', 'trustStatus', 'updatedAt'];
const EVENT_KEYS = ['actor', 'at', 'fingerprints', 'kind', 'peer', 'sequence', 'server'];

test('approve by name on one serve process and by id on the other: TRUSTED; peers and history as tables and as JSON', async () => {
  const databaseUrl = await freshDatabaseUrl({ migrated: true });
  const [alpha, bravo] = await Promise.all([serve('alpha', databaseUrl), serve('bravo', databaseUrl)]);
  const token = await adminToken(databaseUrl, [alpha, bravo]);
  // serve prints fingerprints grouped; the API's canonical form has no separators.
  const [alphaFingerprint, bravoFingerprint] = [alpha, bravo].map((server) => server.fingerprint.replaceAll(':', ''));

  const listed = await cli(['peers'], alpha.url, token);
  expect(listed.code, listed.stderr).toBe(0);
  const [title, header, row] = listed.stdout.split('\n');
  expect(title).toBe(`peers of alpha (${alpha.url})`);
  expect(header).toMatch(/^NAME +STATUS +APPROVALS +ONLINE +FINGERPRINT +ADDRESSES$/);
  expect(row).toMatch(new RegExp(`^bravo +PENDING \\(approval required\\) +none +ONLINE +${bravo.fingerprint} +192\\.0\\.2\\.1$`));
  // Columns line up: each starts where its header does.
  expect(row!.indexOf('PENDING')).toBe(header!.indexOf('STATUS'));
  expect(row!.indexOf(bravo.fingerprint)).toBe(header!.indexOf('FINGERPRINT'));
  expect(listed.stdout).toContain(`1 awaiting approval on alpha: check the fingerprint on the peer itself (\`peertrust fingerprint\` there), then an administrator runs \`peertrust approve NAME --fingerprint FP --url ${alpha.url}\``);

  // As an operator reads it aloud: upper case, grouped.
  const byName = await cli(['approve', 'bravo', '--fingerprint', bravo.fingerprint.toUpperCase()], alpha.url, token);
  expect(byName.code, byName.stderr).toBe(0);
  expect(byName.stdout).toBe("approved bravo on alpha. PENDING: alpha approved bravo; waiting for bravo to approve alpha (on bravo: peertrust approve alpha --fingerprint <alpha's fingerprint, as alpha shows it>)\n");

  const again = await cli(['approve', 'bravo', '--fingerprint', bravo.fingerprint], alpha.url, token);
  expect(again).toMatchObject({ code: 0, stdout: expect.stringMatching(/^bravo was already approved on alpha: nothing was recorded\. PENDING: alpha approved bravo;/) });

  const byId = await cli(['approve', alpha.id, '--fingerprint', alpha.fingerprint, '--json'], bravo.url, token);
  expect(byId.code, byId.stderr).toBe(0);
  const decided = JSON.parse(byId.stdout);
  expect(decided).toEqual({ result: 'ApproveTrustSuccess', recorded: true, server: { id: bravo.id, name: 'bravo' }, peer: expect.any(Object) });
  expect(Object.keys(decided.peer).sort()).toEqual(PEER_KEYS);
  expect(decided.peer).toMatchObject({ id: alpha.id, name: 'alpha', trustStatus: 'TRUSTED', approvedByThisServer: true, approvedByPeer: true });

  const peers = JSON.parse((await cli(['peers', '--json'], alpha.url, token)).stdout);
  expect(peers.server).toEqual({ id: alpha.id, name: 'alpha', serverStatus: 'ONLINE' });
  expect(peers.peers).toEqual([
    {
      id: bravo.id,
      name: 'bravo',
      trustStatus: 'TRUSTED',
      approvedByThisServer: true,
      approvedByPeer: true,
      approvalRequired: false,
      serverStatus: 'ONLINE',
      fingerprint: bravoFingerprint,
      addresses: ['192.0.2.1'],
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
    },
  ]);

  const history = await cli(['history'], alpha.url, token);
  expect(history.code, history.stderr).toBe(0);
  // The token's issue came first: numbers missing here are said to be the cluster's other events.
  expect(history.stderr).toContain("# is each event's place in the cluster's one Trust History");
  const lines = history.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^# +AT +EVENT +ON +PEER +BY +FINGERPRINTS$/);
  expect(lines.slice(1).map((line) => line.split(/ {2,}/).slice(2, 6))).toEqual([
    // ON made the change, about PEER: the other server of the pair.
    ['TRUST_APPROVED', 'alpha', 'bravo', 'ops'],
    ['TRUST_APPROVED', 'bravo', 'alpha', 'ops'],
    ['TRUST_ENABLED', 'bravo', 'alpha', 'ops'],
  ]);
  // Each fingerprint says whose key it is.
  expect(lines.at(-1)!.split(/ {2,}/)[6]).toBe(`bravo: ${bravo.fingerprint}, alpha: ${alpha.fingerprint}`);
  const lastTwo = (await cli(['history', '--limit', '2'], alpha.url, token)).stdout.trimEnd().split('\n');
  expect(lastTwo.slice(1, -1).map((line) => line.split(/ {2,}/)[2])).toEqual(['TRUST_APPROVED', 'TRUST_ENABLED']);
  expect(lastTwo.at(-1)).toBe('(the 2 newest; more with a larger --limit)');
  const newest = JSON.parse((await cli(['history', '--json', '--limit', '2', '--peer', 'bravo'], alpha.url, token)).stdout);
  expect(newest.events.map((event: { kind: string }) => event.kind)).toEqual(['TRUST_APPROVED', 'TRUST_ENABLED']);
  expect(Object.keys(newest.events[0]).sort()).toEqual(EVENT_KEYS);
  expect(newest.events[0]).toMatchObject({ server: { id: bravo.id, name: 'bravo' }, peer: { id: alpha.id, name: 'alpha' }, actor: { name: 'ops', role: 'ADMINISTRATOR' }, fingerprints: [alphaFingerprint] });
  expect(newest.events[1].sequence).toBe(newest.events[0].sequence + 1);
});

test("the API's typed errors print its message and exit 1; names that match no server or several say so", async () => {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha, bravo] = cluster.servers;
  const admin = on(alpha!, cluster.adminToken);

  // An https:// URL to a server without TLS says what to change.
  const plain = await cli(['peers'], alpha!.app.url.replace('http:', 'https:'), cluster.adminToken);
  expect(plain).toMatchObject({ code: 4, stdout: '' });
  expect(plain.stderr).toContain('it does not speak TLS there: use an http:// URL');

  // The message is the API's own, word for word.
  const { approveTrust: refused } = await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: alpha!.fingerprint } });
  expect(refused.__typename).toBe('FingerprintMismatchError');
  const wrong = await admin(['approve', 'bravo', '--fingerprint', alpha!.fingerprint]);
  expect(wrong).toMatchObject({ code: 1, stdout: '' });
  expect(wrong.stderr).toBe(`peertrust: ${(refused as { message: string }).message}\n`);
  const wrongJson = await admin(['approve', 'bravo', '--fingerprint', alpha!.fingerprint, '--json']);
  expect(wrongJson.code).toBe(1);
  expect(JSON.parse(wrongJson.stdout)).toEqual({
    error: { type: 'FingerprintMismatchError', message: (refused as { message: string }).message, expected: bravo!.fingerprint, given: alpha!.fingerprint },
  });
  expect(await admin(['deny', 'bravo', '--fingerprint', 'not-a-fingerprint'])).toMatchObject({ code: 1, stderr: expect.stringContaining('peertrust: ') });
  expect(JSON.parse((await admin(['approve', 'alpha', '--fingerprint', alpha!.fingerprint, '--json'])).stdout).error.type).toBe('SelfTrustError');

  const unknown = await admin(['revoke', 'zulu']);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toBe('peertrust: no server has the name or id "zulu"; the servers are: alpha (this server), bravo\n');

  // bravo reinstalled: a new instance with the same name.
  const bravo2 = await cluster.addServer('bravo');
  // peers says what the console warns of.
  expect((await admin(['peers'])).stdout).toContain(`\nbravo (${bravo2.id}) may replace bravo (${bravo!.id}), whose name it has, with another root key: check its fingerprint on the server itself`);
  const ambiguous = await admin(['revoke', 'bravo']);
  expect(ambiguous.code).toBe(1);
  expect(ambiguous.stderr).toContain('"bravo" names 2 servers');
  expect(ambiguous.stderr).toContain(bravo!.id);
  expect(ambiguous.stderr).toContain(bravo2.id);
  const ambiguousJson = JSON.parse((await admin(['revoke', 'bravo', '--json'])).stdout);
  expect(ambiguousJson.error.type).toBe('AmbiguousNameError');
  expect(ambiguousJson.error.matches.map((server: { id: string }) => server.id).sort()).toEqual([bravo!.id, bravo2.id].sort());
  // Its id names it.
  expect((await admin(['revoke', bravo2.id])).code).toBe(0);
});

test('a READ_ONLY token reads but gets exit 3 for changes; a bad token 3, no token 2, no server or over its rate 4', async () => {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha, bravo] = cluster.servers;
  const reader = on(alpha!, cluster.readerToken);
  expect((await reader(['peers'])).code).toBe(0);
  expect((await reader(['history'])).code).toBe(0);
  const forbidden = await reader(['approve', 'bravo', '--fingerprint', bravo!.fingerprint]);
  expect(forbidden).toMatchObject({ code: 3, stderr: 'peertrust: reader is READ_ONLY; only an ADMINISTRATOR may change trust\n' });
  expect(JSON.parse((await reader(['decommission', 'bravo', '--json'])).stdout).error.type).toBe('FORBIDDEN');

  const stranger = await cli(['peers'], alpha!.app.url, 'ptk_not-a-token');
  expect(stranger.code).toBe(3);
  expect(stranger.stderr).toBe('peertrust: the server refused PEERTRUST_TOKEN: the token is not valid\n');
  expect(await cli(['watch'], alpha!.app.url, 'ptk_not-a-token')).toMatchObject({ code: 3, stderr: 'peertrust: the server refused PEERTRUST_TOKEN: the token is not valid\n' });

  // Pasted with its "Bearer " prefix: said before asking the server, about PEERTRUST_TOKEN.
  expect(await peertrust(['peers'], { PEERTRUST_URL: alpha!.app.url, PEERTRUST_TOKEN: `Bearer ${cluster.adminToken}` })).toMatchObject({
    code: 2,
    stderr: 'peertrust: PEERTRUST_TOKEN must be the token alone (ptk_...), without "Bearer " or spaces\n',
  });
  const missing = await peertrust(['peers'], { PEERTRUST_URL: alpha!.app.url });
  expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining('PEERTRUST_TOKEN is not set') });
  expect((await cli(['peers', '--url', 'http://ops:secret@127.0.0.1:4000/graphql'], alpha!.app.url, cluster.adminToken)).code).toBe(2);
  expect((await cli(['history', '--limit', 'all'], alpha!.app.url, cluster.adminToken)).code).toBe(2);
  // An address without its scheme is a usage error in one line, not a stack trace.
  expect(await peertrust(['peers'], { PEERTRUST_URL: '127.0.0.1:4001', PEERTRUST_TOKEN: cluster.adminToken })).toMatchObject({
    code: 2,
    stderr: 'peertrust: PEERTRUST_URL "127.0.0.1:4001" must be an http:// or https:// URL, e.g. http://127.0.0.1:4000/graphql\n',
  });

  // Over its rate with a server: exit 4, as for a server that cannot serve now, and when to try again.
  const limited = await startServerWith(cluster.db, { limits: { requestsPerMinutePerToken: 1 } });
  expect(await cli(['peers'], limited.url, cluster.adminToken)).toMatchObject({ code: 4, stderr: expect.stringMatching(/^peertrust: too many requests.*retry in \d+ s/) });

  const closed = new URL(alpha!.app.url);
  await cluster.stopServer(alpha!);
  const unreachable = await cli(['peers'], closed.toString(), cluster.adminToken);
  expect(unreachable.code).toBe(4);
  expect(unreachable.stderr).toMatch(/^peertrust: cannot reach http:\/\/127\.0\.0\.1:\d+\/graphql: .*ECONNREFUSED/);
  // The server's origin is enough.
  expect((await cli(['peers', '--url', closed.origin], closed.toString(), cluster.adminToken)).stderr).toContain(`${closed.origin}/graphql`);
  // The token is never printed.
  for (const result of [stranger, forbidden, unreachable]) expect(result.stdout + result.stderr).not.toContain(cluster.adminToken);
});

test('deny, revoke and decommission, by name, as tables and as JSON', async () => {
  const cluster = await startCluster(['alpha', 'bravo', 'charlie']);
  const [alpha, bravo, charlie] = cluster.servers;
  const admin = on(alpha!, cluster.adminToken);

  const denied = await admin(['deny', 'bravo', '--fingerprint', bravo!.fingerprint]);
  expect(denied).toMatchObject({ code: 0, stdout: 'denied bravo on alpha. DENIED by alpha: final for this instance of bravo\n' });
  const again = await admin(['approve', 'bravo', '--fingerprint', bravo!.fingerprint]);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/^peertrust: .*denied/i);

  expect((await admin(['approve', 'charlie', '--fingerprint', charlie!.fingerprint])).code).toBe(0);
  const revoked = JSON.parse((await admin(['revoke', 'charlie', '--json'])).stdout);
  expect(revoked).toMatchObject({ result: 'RevokeTrustSuccess', recorded: true, server: { name: 'alpha' }, peer: { name: 'charlie', trustStatus: 'REVOKED' } });
  // Made again, a decision succeeds and says that nothing was recorded.
  const revokedAgain = await admin(['revoke', 'charlie']);
  expect(revokedAgain).toMatchObject({ code: 0, stdout: 'trust with charlie was already revoked on alpha: nothing was recorded. REVOKED: approving again starts a new round on both servers\n' });

  // bravo's pair with charlie, which alpha's decommission of charlie revokes too.
  expect((await on(bravo!, cluster.adminToken)(['approve', 'charlie', '--fingerprint', charlie!.fingerprint])).code).toBe(0);
  const decommissioned = await admin(['decommission', 'charlie', '--json']);
  expect(decommissioned.code, decommissioned.stderr).toBe(0);
  const shape = JSON.parse(decommissioned.stdout);
  expect(shape).toEqual({
    result: 'DecommissionServerSuccess',
    server: { id: alpha!.id, name: 'alpha' },
    decommissioned: {
      id: charlie!.id,
      name: 'charlie',
      serverStatus: 'DECOMMISSIONED',
      fingerprint: charlie!.fingerprint,
      addresses: ['192.0.2.10'],
      registeredAt: expect.any(String),
      lastSeenAt: expect.any(String),
    },
  });
  expect((await admin(['peers'])).stdout).toMatch(/\ncharlie +REVOKED +none +DECOMMISSIONED /);
  const charlieHistory = JSON.parse((await admin(['history', '--peer', 'charlie', '--json'])).stdout);
  expect(charlieHistory.events.map((event: { kind: string }) => event.kind)).toEqual(['TRUST_APPROVED', 'TRUST_REVOKED', 'SERVER_DECOMMISSIONED']);
  // On bravo, that revoke was made through alpha, and is about charlie: neither is bravo.
  const onBravo = await on(bravo!, cluster.adminToken)(['history', '--peer', charlie!.id]);
  expect(onBravo.stdout.trimEnd().split('\n').at(-1)!.split(/ {2,}/).slice(2, 5)).toEqual(['TRUST_REVOKED (decommission)', 'alpha', 'charlie']);
  // On charlie itself, its peers say it is decommissioned.
  const onCharlie = on(charlie!, cluster.adminToken);
  expect((await onCharlie(['peers'])).stdout.split('\n').slice(0, 2)).toEqual([
    `peers of charlie (${charlie!.app.url})`,
    'charlie is decommissioned: it takes no more trust decisions; to replace it, install a new instance and have its peers approve it',
  ]);
  expect(JSON.parse((await onCharlie(['peers', '--json'])).stdout).server).toEqual({ id: charlie!.id, name: 'charlie', serverStatus: 'DECOMMISSIONED' });

  // charlie's new instance: the decommissioned one leaves it the name.
  const newCharlie = await cluster.addServer('charlie');
  const approved = await admin(['approve', 'charlie', '--fingerprint', newCharlie.fingerprint, '--json']);
  expect(approved.code, approved.stderr).toBe(0);
  expect(JSON.parse(approved.stdout).peer).toMatchObject({ id: newCharlie.id, trustStatus: 'PENDING' });
  // Which instance the name meant, and how to name the other.
  expect(approved.stderr).toBe(`charlie: the active instance ${newCharlie.id}; its decommissioned instance ${charlie!.id} shares the name (give its id to mean it)\n`);
  // Where a name is shared, each instance is told apart by its state and its key.
  const unknown = await admin(['revoke', 'zulu']);
  const keyOf = (server: { fingerprint: string }) => formatFingerprint(server.fingerprint).slice(0, 9);
  expect(unknown.stderr).toBe(`peertrust: no server has the name or id "zulu"; the servers are: alpha (this server), bravo, charlie (decommissioned, ${keyOf(charlie!)}), charlie (${keyOf(newCharlie)})\n`);
  // The history names the old instance apart from the new one.
  const rows = (await admin(['history'])).stdout.split('\n');
  expect(rows.filter((row) => row.includes('TRUST_APPROVED')).map((row) => row.split(/ {2,}/)[4])).toEqual([`charlie (decommissioned, ${keyOf(charlie!)})`, `charlie (${keyOf(newCharlie)})`]);
});

test('watch prints the notice when a new server registers and each change of trust, then stops cleanly on SIGINT', async () => {
  const cluster = await startCluster(['alpha']);
  const [alpha] = cluster.servers;
  const env = { PEERTRUST_URL: alpha!.app.url, PEERTRUST_TOKEN: cluster.adminToken };
  const live = async () => {
    const samples = await scrape(alpha!.app.url);
    return ['trustApprovalRequired', 'peerTrustChanged'].map((field) => valueOf(samples, 'peertrust_subscriptions', { field }) ?? 0);
  };

  const watching = startProcess(['watch', '--json'], /"notice":"trustApprovalRequired"/, env);
  // Both of its subscriptions are live on alpha before bravo exists.
  await expect.poll(live, { timeout: 30_000 }).toEqual([1, 1]);
  const bravo = await cluster.addServer('bravo');
  const watch = await watching;
  const json = completeLines(watch);
  const notices = () => json().map((line) => JSON.parse(line) as { notice: string; peer: Record<string, unknown> });
  // The pair's creation is also a change of trust: both notices come, in either order.
  const required = notices().find((n) => n.notice === 'trustApprovalRequired');
  expect(required?.peer).toMatchObject({ id: bravo.id, name: 'bravo', approvalRequired: true });
  expect(Object.keys(required!.peer).sort()).toEqual(PEER_KEYS);

  // For people, one line a notice; alpha has nothing pending now, so it says nothing until a change.
  await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo.id, fingerprint: bravo.fingerprint } });
  await expect.poll(() => notices().some((n) => n.notice === 'peerTrustChanged' && n.peer['approvedByThisServer'] === true)).toBe(true);
  const texts = startProcess(['watch'], /TRUST CHANGED/, env);
  await expect.poll(live, { timeout: 30_000 }).toEqual([2, 2]);
  await run(bravo.admin, ApproveTrustDocument, { input: { peerId: alpha!.id, fingerprint: alpha!.fingerprint } });
  const text = await texts;
  const textLines = completeLines(text);
  await expect.poll(textLines).toContainEqual(expect.stringMatching(/^\S+Z {2}TRUST CHANGED {6}bravo {2}TRUSTED: alpha and bravo trust each other$/));
  // A rotation of bravo's key is said as one, with the new fingerprint: trust stays.
  const rotated = await run(bravo.admin, RotateRootKeyDocument, {});
  expect(rotated.rotateRootKey).toMatchObject({ __typename: 'RotateRootKeySuccess' });
  const newKey = rotated.rotateRootKey.__typename === 'RotateRootKeySuccess' ? rotated.rotateRootKey.server.fingerprint : 'not rotated';
  const line = new RegExp(`^\\S+Z {2}KEY ROTATED {8}bravo {2}new fingerprint ${formatFingerprint(newKey)}; TRUSTED: alpha and bravo trust each other$`);
  await expect.poll(textLines).toContainEqual(expect.stringMatching(line));
  // alpha's own rotation: one line for this server, and no pair's trust said again, unchanged.
  const trustChanged = () => textLines().filter((l) => l.includes('TRUST CHANGED'));
  const changedBefore = trustChanged();
  const own = await run(alpha!.admin, RotateRootKeyDocument, {});
  const ownKey = own.rotateRootKey.__typename === 'RotateRootKeySuccess' ? own.rotateRootKey.server.fingerprint : 'not rotated';
  const ownLine = new RegExp(`^\\S+Z {2}KEY ROTATED {8}alpha \\(this server\\) {2}new fingerprint ${formatFingerprint(ownKey)}; its peers keep trusting it$`);
  await expect.poll(textLines).toContainEqual(expect.stringMatching(ownLine));
  await expect.poll(() => notices().find((n) => n.notice === 'keyRotated')).toMatchObject({ server: { id: alpha!.id, fingerprint: ownKey } });
  expect(trustChanged()).toEqual(changedBefore);
  // bravo decommissions alpha: said as that, not as a revoke to approve again.
  await run(bravo.admin, DecommissionServerDocument, { input: { serverId: alpha!.id } });
  await expect.poll(textLines).toContainEqual(expect.stringMatching(/^\S+Z {2}DECOMMISSIONED {5}alpha \(this server\): it takes no more trust decisions; to replace it, install a new instance and have its peers approve it$/));
  await expect.poll(textLines).toContainEqual(expect.stringMatching(/^\S+Z {2}TRUST CHANGED {6}bravo {2}REVOKED: alpha is decommissioned$/));
  await expect.poll(() => notices().find((n) => n.notice === 'serverDecommissioned')).toMatchObject({ server: { id: alpha!.id, serverStatus: 'DECOMMISSIONED' } });
  expect(await stopProcess(text.child, 'SIGINT')).toBe(0);

  expect(await stopProcess(watch.child, 'SIGINT')).toBe(0);
  expect(watch.logs).toContain('stopped (SIGINT)');
  await expect.poll(live).toEqual([0, 0]);
});

test('watch marks an approval the server asks for again, after it lost the connection that brings it notices', async () => {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha, bravo] = cluster.servers;
  const watch = await startProcess(['watch', '--json'], /"notice":"trustApprovalRequired"/, { PEERTRUST_URL: alpha!.app.url, PEERTRUST_TOKEN: cluster.adminToken });
  const lines = completeLines(watch);
  const asked = () => lines().map((line) => JSON.parse(line) as { notice: string; again?: true }).filter((n) => n.notice === 'trustApprovalRequired');
  expect(asked()).toEqual([expect.objectContaining({ peer: expect.objectContaining({ id: bravo!.id }) })]);
  // The database ends the servers' LISTEN connection; once it is back, alpha asks again for what is pending.
  await cluster.db.prisma.$queryRawUnsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'peertrust listen'`);
  await expect.poll(asked, { timeout: 30_000 }).toEqual([
    expect.not.objectContaining({ again: true }),
    { notice: 'trustApprovalRequired', peer: expect.objectContaining({ id: bravo!.id }), again: true },
  ]);
  expect(await stopProcess(watch.child, 'SIGINT')).toBe(0);
});

test("watch does not call an approval 'again' when the peer's key changed while the watch was away", async () => {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha, bravo] = cluster.servers;
  // The watch reaches alpha through a proxy that the test cuts and restores.
  const target = new URL(alpha!.app.url);
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  const cut = () => new Promise<void>((resolve) => {
    proxy.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
  onTestFinished(cut);
  const url = new URL(alpha!.app.url);
  url.host = `127.0.0.1:${port}`;
  const watch = await startProcess(['watch', '--json'], /"notice":"trustApprovalRequired"/, { PEERTRUST_URL: url.toString(), PEERTRUST_TOKEN: cluster.adminToken });
  const lines = completeLines(watch);
  const asked = () =>
    lines().map((line) => JSON.parse(line) as { notice: string; again?: true; peer: { fingerprint: string } }).filter((n) => n.notice === 'trustApprovalRequired');
  expect(asked()).toEqual([expect.objectContaining({ peer: expect.objectContaining({ fingerprint: bravo!.fingerprint }) })]);
  await cut();
  await expect.poll(() => watch.logs, { timeout: 15_000 }).toContain('was lost; reconnecting');
  expect(await run(bravo!.admin, RotateRootKeyDocument, {}).then((d) => d.rotateRootKey.__typename)).toBe('RotateRootKeySuccess');
  await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  await expect.poll(() => asked().length, { timeout: 30_000 }).toBe(2);
  const [, second] = asked();
  expect(second!.peer.fingerprint).not.toBe(bravo!.fingerprint);
  expect(second!.again).toBeUndefined();
  expect(await stopProcess(watch.child, 'SIGINT')).toBe(0);
});

test('watch stops cleanly on SIGINT while it is reconnecting to a server that went away', async () => {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha] = cluster.servers;
  const watch = await startProcess(['watch'], /APPROVAL REQUIRED +bravo/, { PEERTRUST_URL: alpha!.app.url, PEERTRUST_TOKEN: cluster.adminToken });
  await cluster.stopServer(alpha!);
  await expect.poll(() => watch.logs, { timeout: 30_000 }).toContain('reconnecting...');
  expect(await stopProcess(watch.child, 'SIGINT')).toBe(0);
  expect(watch.logs).toContain('stopped (SIGINT)');
});

test('watch ends with exit 3 and the reason when its token is revoked, instead of reconnecting for ever', async () => {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha] = cluster.servers;
  const watch = await startProcess(['watch'], /APPROVAL REQUIRED +bravo/, { PEERTRUST_URL: alpha!.app.url, PEERTRUST_TOKEN: cluster.adminToken });
  const exited = new Promise<number | null>((resolve) => watch.child.once('close', resolve));
  await revokeApiTokens(cluster.db, 'admin', await signerIn(cluster.db, alpha!.identityDir));
  expect(await exited).toBe(3);
  expect(watch.logs).toContain('peertrust: the server refused PEERTRUST_TOKEN: the token is no longer accepted (revoked, its role changed, or its issuer not trusted): authenticate again');
});

test('cluster says each start-up step on stderr; its printed token works for the CLI', async () => {
  const dataDir = await tempDir();
  const cluster = await startProcess(['cluster', '--servers', '2', '--port', '0', '--data-dir', dataDir], /ptk_\S+\n/);
  const steps = cluster.logs.split('\n').filter((line) => line.startsWith('peertrust cluster: '));
  expect(steps[0]).toBe('peertrust cluster: starting the database and alpha, bravo...');
  expect(steps[1]).toMatch(/^peertrust cluster: database ready, migrations applied \(embedded PostgreSQL /);
  expect(steps.slice(2).sort()).toEqual([
    expect.stringMatching(/^peertrust cluster: alpha ready at http:\/\/127\.0\.0\.1:\d+\/graphql$/),
    expect.stringMatching(/^peertrust cluster: bravo ready at http:\/\/127\.0\.0\.1:\d+\/graphql$/),
  ]);
  const [alphaUrl, bravoUrl] = [...cluster.output.matchAll(/GraphiQL\s+(http\S+)/g)].map((m) => m[1]!);
  const token = cluster.output.trim().split('\n').at(-1)!;
  const bravo = JSON.parse((await cli(['peers', '--json'], alphaUrl!, token)).stdout).peers[0];
  expect(bravo).toMatchObject({ name: 'bravo', trustStatus: 'PENDING', approvalRequired: true });
  expect((await cli(['approve', 'bravo', '--fingerprint', bravo.fingerprint], alphaUrl!, token)).code).toBe(0);
  expect((await cli(['approve', 'alpha', '--fingerprint', (await peertrust(['fingerprint', '--data-dir', `${dataDir}/alpha`])).stdout.trim()], bravoUrl!, token)).stdout).toContain('TRUSTED');
  expect(await stopProcess(cluster.child, 'SIGINT')).toBe(0);
});

/** The whole lines a running process has printed so far, and from then on. */
function completeLines(running: Running): () => string[] {
  let output = running.output;
  running.child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return () => output.split('\n').slice(0, -1);
}
