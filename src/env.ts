// Configuration from flags and the environment, validated before anything starts:
// a bad value stops the process with one line that says which value and why.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
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

const common = {
  host: z.string().min(1, 'must not be empty'),
  dataDir: z.string().min(1, 'must not be empty'),
  databaseUrl,
  logLevel: logLevel.default('info'),
  heartbeatSeconds: z.coerce.number().positive('must be more than 0').default(10),
  databasePoolSize,
};

const ServeConfig = z.object({ ...common, name: serverName, port, addresses: z.array(address).optional() });
const ClusterConfig = z.object({
  ...common,
  // A try-out: its own summary says what matters; logs only for problems.
  logLevel: logLevel.default('warn'),
  servers: z.coerce.number().int('must be a whole number').min(1, 'must be from 1 to 10').max(10, 'must be from 1 to 10'),
  port,
});

const DatabaseConfig = z.object({ dataDir: common.dataDir, databaseUrl, databasePoolSize });

export type ServeConfig = z.infer<typeof ServeConfig>;
export type ClusterConfig = z.infer<typeof ClusterConfig>;

/** Flags win over the environment: DATABASE_URL, DATABASE_POOL_SIZE, LOG_LEVEL, PEERTRUST_HEARTBEAT_SECONDS. */
function fromEnvironment(env: NodeJS.ProcessEnv) {
  return {
    databaseUrl: env['DATABASE_URL'] || undefined,
    databasePoolSize: env['DATABASE_POOL_SIZE'] || undefined,
    logLevel: env['LOG_LEVEL'] || undefined,
    heartbeatSeconds: env['PEERTRUST_HEARTBEAT_SECONDS'] || undefined,
  };
}

const flagNames: Record<string, string> = {
  databaseUrl: 'DATABASE_URL',
  databasePoolSize: 'DATABASE_POOL_SIZE',
  logLevel: 'LOG_LEVEL',
  heartbeatSeconds: 'PEERTRUST_HEARTBEAT_SECONDS',
  dataDir: '--data-dir',
  addresses: '--address',
};

function parse<T extends z.ZodType>(schema: T, input: Record<string, unknown>): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = String(issue?.path[0] ?? '');
  const name = flagNames[key] ?? `--${key}`;
  const value = issue?.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], input);
  throw new ConfigError(`${name} ${JSON.stringify(value)} ${issue?.message ?? 'is not valid'}`);
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
