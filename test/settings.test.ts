// Configuration of the API's edge: where it listens, TLS, CORS and client limits, from
// flags and the environment, validated with one clear line (src/env.ts).
import { expect, test } from 'vitest';
import { clusterConfig, serveConfig } from '../src/env.js';
import { defaultClientLimits } from '../src/http/settings.js';

const serve = (flags: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) =>
  serveConfig({ name: 'alpha', port: '0', dataDir: './data', ...flags }, env);

test('without TLS a server listens on 127.0.0.1 unless --host says otherwise; with TLS on every interface', () => {
  expect(serve().host).toBe('127.0.0.1');
  expect(serve().http.tls).toBeUndefined();
  expect(serve({ host: '0.0.0.0' }).host).toBe('0.0.0.0');
  const tls = serve({ tlsCert: 'cert.pem', tlsKey: 'key.pem' });
  expect(tls.host).toBe('0.0.0.0');
  expect(tls.http.tls).toEqual({ certFile: 'cert.pem', keyFile: 'key.pem' });
  expect(clusterConfig({ servers: '2', port: '0', dataDir: './data' }, {}).host).toBe('127.0.0.1');
  expect(() => serve({ tlsCert: 'cert.pem' })).toThrow('--tls-key must be given with --tls-cert');
  expect(() => serve({ tlsKey: 'key.pem' })).toThrow('--tls-cert must be given with --tls-key');
});

test('client limits and CORS origins come from the environment, with defaults', () => {
  expect(serve().http).toMatchObject({ corsOrigins: [], limits: defaultClientLimits });
  const config = serve({}, {
    PEERTRUST_CORS_ORIGINS: 'https://console.example, http://localhost:5173',
    PEERTRUST_RATE_LIMIT_PER_ADDRESS: '100',
    PEERTRUST_RATE_LIMIT_PER_TOKEN: '50',
    PEERTRUST_RATE_LIMIT_ANONYMOUS: '10',
    PEERTRUST_MAX_CONNECTIONS_PER_USER: '3',
    PEERTRUST_MAX_SUBSCRIPTIONS_PER_CONNECTION: '4',
    PEERTRUST_MAX_SUBSCRIPTIONS_PER_USER: '5',
  });
  expect(config.http).toEqual({
    tls: undefined,
    corsOrigins: ['https://console.example', 'http://localhost:5173'],
    limits: {
      requestsPerMinutePerAddress: 100,
      requestsPerMinutePerToken: 50,
      anonymousRequestsPerMinutePerAddress: 10,
      connectionsPerUser: 3,
      subscriptionsPerConnection: 4,
      subscriptionsPerUser: 5,
    },
  });
});

test.each([
  [{ PEERTRUST_RATE_LIMIT_PER_TOKEN: '0' }, 'PEERTRUST_RATE_LIMIT_PER_TOKEN "0" must be from 1 to 1000000'],
  [{ PEERTRUST_MAX_SUBSCRIPTIONS_PER_USER: 'lots' }, 'PEERTRUST_MAX_SUBSCRIPTIONS_PER_USER "lots" must be a number'],
  [{ PEERTRUST_CORS_ORIGINS: 'https://console.example/app' }, 'PEERTRUST_CORS_ORIGINS "https://console.example/app" must be a web origin'],
  [{ PEERTRUST_CORS_ORIGINS: '*' }, 'PEERTRUST_CORS_ORIGINS "*" must be a web origin'],
])('a bad %j is one clear line', (env, message) => {
  expect(() => serve({}, env)).toThrow(message);
});

test('a DATABASE_URL of the wrong kind is named without its password', () => {
  for (const [url, shown] of [
    ['mysql://ops:s3cret@db.example:3306/peertrust', 'DATABASE_URL "mysql://ops:***@db.example:3306/peertrust" must be a postgresql:// URL'],
    ['ops:s3cret@db.example/peertrust', 'DATABASE_URL must be a postgresql:// URL'],
    ['postgres//ops:s3cret@db.example', 'DATABASE_URL must be a postgresql:// URL'],
    ['mysql://db.example/peertrust?password=s3cret', 'DATABASE_URL "mysql://db.example/peertrust" must be a postgresql:// URL'],
  ]) {
    expect(() => serve({}, { DATABASE_URL: url })).toThrow(shown);
    expect(() => serve({}, { DATABASE_URL: url })).not.toThrow(/s3cret/);
  }
});
