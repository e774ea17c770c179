// Configuration from flags and the environment, validated before anything starts:
// a bad value stops the process with one line that says which value and why.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { defaultClientLimits, type ClientLimits, type HttpSettings } from './http/settings.js';
import { OperatorError } from './operator-error.js';

export class ConfigError extends OperatorError {}

const port = z.coerce
  .number({ message: 'must be a number' })
  .int('must be a whole number')
  .min(0, 'must be from 0 to 65535')
  .max(65535, 'must be from 0 to 65535');

const serverName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit');

const databaseUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\/.+/, 'must be a postgresql:// URL')
  .optional();

/** PostgreSQL connections per process; servers × this must stay under the database's max_connections. */
const databasePoolSize = z.coerce
  .number({ message: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be from 1 to 1000')
  .max(1000, 'must be from 1 to 1000')
  .optional();

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

const address = z.string().refine((value) => isIP(value) !== 0, 'must be an IP address');

const limit = (fallback: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be from 1 to 1000000')
    .max(1_000_000, 'must be from 1 to 1000000')
    .default(fallback);

const origin = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}, 'must be a web origin such as https://console.example.com (scheme, host and port only); separate several with commas');

const common = {
  /** Without TLS only this host by default; with TLS every interface. */
  host: z.string().min(1, 'must not be empty').optional(),
  dataDir: z.string().min(1, 'must not be empty'),
  databaseUrl,
  logLevel: logLevel.default('info'),
  // Each beat is a query: not a tight loop, and within setInterval's and the column's range.
  heartbeatSeconds: z.coerce.number().min(0.1, 'must be from 0.1 to 86400').max(86_400, 'must be from 0.1 to 86400').default(10),
  databasePoolSize,
  tlsCert: z.string().min(1, 'must not be empty').optional(),
  tlsKey: z.string().min(1, 'must not be empty').optional(),
  corsOrigins: z
    .string()
    .optional()
    .transform((value) => (value ?? '').split(',').map((item) => item.trim()).filter(Boolean))
    .pipe(z.array(origin)),
  requestsPerMinutePerAddress: limit(defaultClientLimits.requestsPerMinutePerAddress),
  requestsPerMinutePerToken: limit(defaultClientLimits.requestsPerMinutePerToken),
  anonymousRequestsPerMinutePerAddress: limit(defaultClientLimits.anonymousRequestsPerMinutePerAddress),
  connectionsPerUser: limit(defaultClientLimits.connectionsPerUser),
  subscriptionsPerConnection: limit(defaultClientLimits.subscriptionsPerConnection),
  subscriptionsPerUser: limit(defaultClientLimits.subscriptionsPerUser),
  // Any value goes: nothing to refuse, so it never appears in an error message.
  metricsToken: z.string().optional(),
};

type CommonInput = z.infer<z.ZodObject<typeof common>>;

/** A certificate needs its key, and the other way round. */
function tlsComplete(config: CommonInput, context: z.RefinementCtx) {
  if (config.tlsCert && !config.tlsKey) context.addIssue({ code: 'custom', path: ['tlsKey'], message: 'must be given with --tls-cert' });
  if (config.tlsKey && !config.tlsCert) context.addIssue({ code: 'custom', path: ['tlsCert'], message: 'must be given with --tls-key' });
}

/** The settings createApp takes as `http`, and where to listen. */
function withHttp<T extends CommonInput>(config: T) {
  const { host, tlsCert, tlsKey, corsOrigins, metricsToken, ...rest } = config;
  const limits: ClientLimits = {
    requestsPerMinutePerAddress: config.requestsPerMinutePerAddress,
    requestsPerMinutePerToken: config.requestsPerMinutePerToken,
    anonymousRequestsPerMinutePerAddress: config.anonymousRequestsPerMinutePerAddress,
    connectionsPerUser: config.connectionsPerUser,
    subscriptionsPerConnection: config.subscriptionsPerConnection,
    subscriptionsPerUser: config.subscriptionsPerUser,
  };
  const tls = tlsCert && tlsKey ? { certFile: tlsCert, keyFile: tlsKey } : undefined;
  const http: HttpSettings = { tls, corsOrigins, limits, metricsToken };
  return { ...rest, host: host ?? (tls ? '0.0.0.0' : '127.0.0.1'), http };
}

const ServeConfig = z
  .object({ ...common, name: serverName, port, addresses: z.array(address).optional() })
  .superRefine(tlsComplete)
  .transform(withHttp);
const ClusterConfig = z
  .object({
    ...common,
    // A try-out: its own summary says what matters; logs only for problems.
    logLevel: logLevel.default('warn'),
    servers: z.coerce.number().int('must be a whole number').min(1, 'must be from 1 to 10').max(10, 'must be from 1 to 10'),
    port,
  })
  .superRefine(tlsComplete)
  .transform(withHttp);

const DatabaseConfig = z.object({ dataDir: common.dataDir, databaseUrl, databasePoolSize });

export type ServeConfig = z.infer<typeof ServeConfig>;
export type ClusterConfig = z.infer<typeof ClusterConfig>;

/** Where each setting comes from in the environment; flags win over it. */
const environmentNames = {
  databaseUrl: 'DATABASE_URL',
  databasePoolSize: 'DATABASE_POOL_SIZE',
  logLevel: 'LOG_LEVEL',
  heartbeatSeconds: 'PEERTRUST_HEARTBEAT_SECONDS',
  corsOrigins: 'PEERTRUST_CORS_ORIGINS',
  requestsPerMinutePerAddress: 'PEERTRUST_RATE_LIMIT_PER_ADDRESS',
  requestsPerMinutePerToken: 'PEERTRUST_RATE_LIMIT_PER_TOKEN',
  anonymousRequestsPerMinutePerAddress: 'PEERTRUST_RATE_LIMIT_ANONYMOUS',
  connectionsPerUser: 'PEERTRUST_MAX_CONNECTIONS_PER_USER',
  subscriptionsPerConnection: 'PEERTRUST_MAX_SUBSCRIPTIONS_PER_CONNECTION',
  subscriptionsPerUser: 'PEERTRUST_MAX_SUBSCRIPTIONS_PER_USER',
  metricsToken: 'PEERTRUST_METRICS_TOKEN',
} as const;

function fromEnvironment(env: NodeJS.ProcessEnv) {
  return Object.fromEntries(Object.entries(environmentNames).map(([key, name]) => [key, env[name] || undefined]));
}

const flagNames: Record<string, string> = {
  ...environmentNames,
  dataDir: '--data-dir',
  addresses: '--address',
  tlsCert: '--tls-cert',
  tlsKey: '--tls-key',
};

/**
 * A value as an error message may show it: a database URL without its password (nor
 * anything but scheme, user, host and path), and not at all when it is no URL.
 */
function shown(key: string, value: unknown): string {
  if (value === undefined) return '';
  if (key !== 'databaseUrl') return ` ${JSON.stringify(value)}`;
  // Without "scheme://" a URL parser would read user and password as a path.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(String(value))) return '';
  try {
    const url = new URL(String(value));
    const user = url.username ? `${url.username}${url.password ? ':***' : ''}@` : '';
    return ` ${JSON.stringify(`${url.protocol}//${user}${url.host}${url.pathname}`)}`;
  } catch {
    return '';
  }
}

function parse<T extends z.ZodType>(schema: T, input: Record<string, unknown>): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = String(issue?.path[0] ?? '');
  const name = flagNames[key] ?? `--${key}`;
  // A list given as one string (PEERTRUST_CORS_ORIGINS) is shown whole.
  const value = typeof input[key] === 'string' ? input[key] : issue?.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], input);
  throw new ConfigError(`${name}${shown(key, value)} ${issue?.message ?? 'is not valid'}`);
}

export function serveConfig(flags: Record<string, unknown>, env = process.env): ServeConfig {
  return parse(ServeConfig, { ...fromEnvironment(env), ...flags });
}

export function clusterConfig(flags: Record<string, unknown>, env = process.env): ClusterConfig {
  return parse(ClusterConfig, { ...fromEnvironment(env), ...flags });
}

export function databaseConfig(flags: Record<string, unknown>, env = process.env): z.infer<typeof DatabaseConfig> {
  return parse(DatabaseConfig, { ...fromEnvironment(env), ...flags });
}

/** The addresses a server reports when none are given: every external IP of this host. */
export function detectAddresses(): string[] {
  const found = Object.values(networkInterfaces())
    .flat()
    .filter((info) => info && !info.internal)
    .map((info) => info!.address);
  return found.length ? found : ['127.0.0.1'];
}
