// TLS (issue 8): `serve --tls-cert --tls-key` serves HTTPS and WSS; without TLS a server
// that listens beyond this host says, once, that tokens cross the network in the clear.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { freshDatabaseUrl, tempDir } from './helpers.js';
import { peertrust, startProcess, stopProcess } from './processes.js';
import { openSocket } from './raw-client.js';

const READY = /GraphiQL\s+(\S+)[\s\S]*addresses.*\n/;

/** A self-signed certificate for localhost and 127.0.0.1, made with the machine's openssl: ECDSA P-256, or Ed25519. */
async function selfSigned(dir: string, key: 'p256' | 'ed25519' = 'p256') {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  await promisify(execFile)('openssl', [
    'req', '-x509', '-nodes', '-days', '1',
    ...(key === 'p256' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'ed25519']),
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', keyFile, '-out', certFile,
  ]);
  return { certFile, keyFile, ca: await readFile(certFile) };
}

function httpsPost(url: string, ca: Buffer, token: string, query: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sending = request(url, { method: 'POST', ca, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
    sending.on('response', (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    sending.on('error', reject);
    sending.end(JSON.stringify({ query }));
  });
}

test('serve --tls-cert --tls-key: HTTPS and WSS on every interface by default, and no plain HTTP', async () => {
  const dataDir = await tempDir();
  const { certFile, keyFile, ca } = await selfSigned(dataDir);
  const server = await startProcess(
    ['serve', '--name', 'secure', '--port', '0', '--data-dir', dataDir, '--address', '192.0.2.5', '--tls-cert', certFile, '--tls-key', keyFile],
    READY,
  );
  const created = await peertrust(['token', 'create', '--name', 'ops', '--role', 'READ_ONLY', '--data-dir', dataDir]);
  const token = created.stdout.trim().split('\n').at(-1)!;
  const url = READY.exec(server.output)![1]!;
  expect(url).toMatch(/^https:\/\/localhost:\d+\/graphql$/);
  expect(server.logs).not.toContain('without TLS');
  expect(server.logs).not.toContain('browsers refuse');

  expect(await httpsPost(url, ca, token, '{ viewer { name } }')).toEqual({ status: 200, body: '{"data":{"viewer":{"name":"ops"}}}' });
  const socket = await openSocket(url, { ca });
  expect(await socket.init({ authorization: `Bearer ${token}` })).toBe('ack');
  await expect(fetch(url.replace('https:', 'http:'), { method: 'POST' })).rejects.toThrow();
  // A CLI that trusts the certificate, at an address it does not name, is told what to change.
  const otherName = url.replace('localhost', '127.0.0.2');
  const refused = await peertrust(['peers', '--url', otherName], { PEERTRUST_TOKEN: token, NODE_EXTRA_CA_CERTS: certFile });
  expect(refused.code).toBe(4);
  expect(refused.stderr).toContain(`cannot reach ${otherName}: `);
  expect(refused.stderr).toContain('its TLS certificate is for other names: use a URL with a name or address the certificate has');
});

test('a bad certificate file stops serve with one clear line', async () => {
  const dataDir = await tempDir();
  const missing = path.join(dataDir, 'missing.pem');
  const result = await peertrust(['serve', '--name', 'a', '--port', '0', '--data-dir', dataDir, '--tls-cert', missing, '--tls-key', missing]);
  expect(result.code).toBe(2);
  expect(result.stderr.trim()).toBe(`peertrust: --tls-cert ${missing}: cannot read it (ENOENT)`);
});

test("a key that is not the certificate's stops serve with one clear line, not a server no client can reach", async () => {
  const [one, other] = await Promise.all([selfSigned(await tempDir()), selfSigned(await tempDir())]);
  const result = await peertrust(['serve', '--name', 'a', '--port', '0', '--data-dir', await tempDir(), '--tls-cert', one.certFile, '--tls-key', other.keyFile], {
    DATABASE_URL: await freshDatabaseUrl(),
  });
  expect(result.code).toBe(2);
  expect(result.stderr.trim()).toBe(`peertrust: --tls-key ${other.keyFile} is not the private key of the certificate in --tls-cert ${one.certFile}`);
});

test('an Ed25519 certificate, which browsers refuse, is served with a warning that says so', async () => {
  const dir = await tempDir();
  const { certFile, keyFile } = await selfSigned(dir, 'ed25519');
  const server = await startProcess(
    ['serve', '--name', 'ed', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir, '--address', '192.0.2.7', '--tls-cert', certFile, '--tls-key', keyFile],
    READY,
    { DATABASE_URL: await freshDatabaseUrl({ migrated: true }) },
  );
  await expect.poll(() => server.logs).toContain('which browsers refuse');
  const warning = server.logs.split('\n').find((line) => line.includes('which browsers refuse'))!;
  expect(JSON.parse(warning)).toMatchObject({ level: 40, msg: `--tls-cert ${certFile} has an Ed25519 key, which browsers refuse: the console will not open in them (the CLI and the typed client work); use an ECDSA P-256 or RSA certificate` });
});

test('without TLS, listening beyond this host logs one warning', async () => {
  const dataDir = await tempDir();
  const server = await startProcess(['serve', '--name', 'clear', '--host', '0.0.0.0', '--port', '0', '--data-dir', dataDir, '--address', '192.0.2.6'], READY);
  // stderr may arrive after the summary on stdout.
  await expect.poll(() => server.logs).toContain('without TLS');
  const warnings = server.logs.split('\n').filter((line) => line.includes('without TLS'));
  expect(warnings).toHaveLength(1);
  expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, host: '0.0.0.0', msg: expect.stringContaining('use --tls-cert and --tls-key') });
});

test('watch ends with exit 4 and says so when the server comes back with a certificate this machine does not trust, rather than reconnect for ever', async () => {
  const url = await freshDatabaseUrl({ migrated: true });
  const dataDir = await tempDir();
  const [trusted, replaced] = await Promise.all([selfSigned(await tempDir()), selfSigned(await tempDir())]);
  const serveWith = (cert: { certFile: string; keyFile: string }, port: string) =>
    startProcess(
      ['serve', '--name', 'alpha', '--host', '127.0.0.1', '--port', port, '--data-dir', dataDir, '--address', '192.0.2.5', '--tls-cert', cert.certFile, '--tls-key', cert.keyFile],
      READY,
      { DATABASE_URL: url },
    );
  const alpha = await serveWith(trusted, '0');
  const alphaUrl = READY.exec(alpha.output)![1]!;
  // bravo awaits alpha's approval: watch prints it once it is live.
  await startProcess(['serve', '--name', 'bravo', '--host', '127.0.0.1', '--port', '0', '--data-dir', await tempDir(), '--address', '192.0.2.6'], READY, { DATABASE_URL: url });
  const created = await peertrust(['token', 'create', '--name', 'ops', '--role', 'READ_ONLY', '--data-dir', dataDir], { DATABASE_URL: url });
  const env = { PEERTRUST_URL: alphaUrl, PEERTRUST_TOKEN: created.stdout.trim().split('\n').at(-1)!, NODE_EXTRA_CA_CERTS: trusted.certFile };
  const watching = await startProcess(['watch'], /APPROVAL REQUIRED +bravo/, env);
  const exited = new Promise<number | null>((resolve) => watching.child.once('close', resolve));

  await stopProcess(alpha.child);
  await expect.poll(() => watching.logs, { timeout: 30_000 }).toContain('was lost; reconnecting');
  await serveWith(replaced, new URL(alphaUrl).port);
  expect(await exited).toBe(4);
  expect(watching.logs).toContain(`cannot reach ${alphaUrl}: self-signed certificate: its TLS certificate is not one this machine trusts`);
});
