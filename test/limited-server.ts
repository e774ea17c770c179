// One more server on a test cluster's database, with the HTTP settings a test needs
// (low limits, CORS origins, TLS); stopped when the test ends.
import { onTestFinished } from 'vitest';
import { createApp, type App } from '../src/app.js';
import type { Database } from '../src/db/client.js';
import { defaultClientLimits, defaultHttpSettings, type ClientLimits, type HttpSettings } from '../src/http/settings.js';
import { signApiTokens } from '../src/auth/tokens.js';
import { loadOrCreateRootKey } from '../src/identity/root-key.js';
import { silentLogger, type Logger } from '../src/logger.js';
import { tempDir } from './helpers.js';

export async function startServerWith(
  db: Database,
  settings: { limits?: Partial<ClientLimits>; http?: Partial<HttpSettings>; host?: string; logger?: Logger } = {},
): Promise<App> {
  const rootKey = await loadOrCreateRootKey(await tempDir());
  const app = createApp({
    name: 'limited',
    host: settings.host ?? '127.0.0.1',
    port: 0,
    rootKey,
    addresses: ['192.0.2.20'],
    database: db,
    logger: settings.logger ?? silentLogger,
    heartbeatSeconds: 60,
    http: { ...defaultHttpSettings, ...settings.http, limits: { ...defaultClientLimits, ...settings.limits } },
  });
  onTestFinished(() => app.stop());
  await app.start();
  // Tokens are signed by their servers: this one signs the test's, so that it accepts them.
  const signer = { serverId: app.serverId, key: rootKey };
  for (const { name } of await db.prisma.user.findMany({ select: { name: true } })) await signApiTokens(db, name, signer);
  return app;
}
