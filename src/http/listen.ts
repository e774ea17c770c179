// The API's HTTP server: HTTPS when given a certificate and key, else plain HTTP.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { OperatorError } from '../operator-error.js';
import type { TlsFiles } from './settings.js';

async function readPem(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new OperatorError(`${flag} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** The HTTP server, and what an operator should know about its certificate (to log). */
export interface ApiServer {
  server: Server;
  warnings: string[];
}

/** Key types Node serves but browsers refuse in TLS certificates. */
const NOT_FOR_BROWSERS = new Set(['ed25519', 'ed448']);

export async function createApiServer(tls: TlsFiles | undefined, listener: RequestListener): Promise<ApiServer> {
  if (!tls) return { server: createHttpServer(listener), warnings: [] };
  // One after the other: when both are wrong, the first named is the one reported.
  const cert = await readPem(tls.certFile, '--tls-cert');
  const key = await readPem(tls.keyFile, '--tls-key');
  // Node takes a key that is not the certificate's, and every handshake then fails.
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new OperatorError(`--tls-cert ${tls.certFile}: not a PEM certificate (${(error as Error).message})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new OperatorError(`--tls-key ${tls.keyFile}: not a PEM private key (${(error as Error).message})`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new OperatorError(`--tls-key ${tls.keyFile} is not the private key of the certificate in --tls-cert ${tls.certFile}`);
  }
  const warnings: string[] = [];
  const keyType = certificate.publicKey.asymmetricKeyType ?? '';
  if (NOT_FOR_BROWSERS.has(keyType)) {
    warnings.push(
      `--tls-cert ${tls.certFile} has an ${keyType === 'ed25519' ? 'Ed25519' : 'Ed448'} key, which browsers refuse: the console will not open in them (the CLI and the typed client work); use an ECDSA P-256 or RSA certificate`,
    );
  }
  try {
    return { server: createHttpsServer({ cert, key }, listener), warnings };
  } catch (error) {
    throw new OperatorError(`--tls-cert ${tls.certFile} and --tls-key ${tls.keyFile}: ${(error as Error).message}`);
  }
}

/** Whether only this host can reach an address. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** The URL clients use for `path` on a server listening on `host`:`port`. */
export function endpointUrl(host: string, port: number, tls: boolean, path: string): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `${tls ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${port}${path}`;
}
