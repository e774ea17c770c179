// One more server on a test cluster's database, with the HTTP settings a test needs
// (low limits, CORS origins, TLS); stopped when the test ends.
import { onTestFinished } from 'vitest';
import { createApp, type App } from '../src/app.js';
import type { Database } from '../src/db/client.js';
import { defaultClientLimits, defaultHttpSettings, type ClientLimits, type HttpSettings } from '../src/http/settings.js';
import { loadOrCreateRootKey } from '../src/identity/root-key.js';
import { silentLogger, type Logger } from '../src/logger.js';
import { tempDir } from './helpers.js';

export async function startServerWith(
  db: Database,
  settings: { limits?: Partial<ClientLimits>; http?: Partial<HttpSettings>; host?: string; logger?: Logger } = {},
): Promise<App> {
  const app = createApp({
    name: 'limited',
    host: settings.host ?? '127.0.0.1',
    port: 0,
    rootKey: await loadOrCreateRootKey(await tempDir()),
    addresses: ['192.0.2.20'],
    database: db,
    logger: settings.logger ?? silentLogger,
    heartbeatSeconds: 60,
    http: { ...defaultHttpSettings, ...settings.http, limits: { ...defaultClientLimits, ...settings.limits } },
  });
  onTestFinished(() => app.stop());
  await app.start();
  return app;
}
