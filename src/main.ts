// The `peertrust` command line. It parses flags, opens the database and starts servers;
// everything else lives in createApp and src/trust.
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import type { App } from './app.js';
import type { Database } from './db/client.js';
import { clusterConfig, ConfigError, databaseConfig, detectAddresses, serveConfig } from './env.js';
import { defaultClientLimits } from './http/settings.js';
import { formatFingerprint } from './identity/fingerprint.js';
import { loadRootKey } from './identity/root-key.js';
import type { Logger } from './logger.js';
import { OperatorError } from './operator-error.js';

// The server modules (schema, Prisma, PGlite) take seconds to load: only commands that
// run a server or open the database load them, so that --help and fingerprint are quick.
const serverModules = async () => {
  const [{ createApp }, tokens, { openDatabase }, { createLogger }] = await Promise.all([
    import('./app.js'),
    import('./auth/tokens.js'),
    import('./db/client.js'),
    import('./logger.js'),
  ]);
  return { createApp, ...tokens, openDatabase, createLogger };
};

/** The user `peertrust cluster` prints a token for. */
const CLUSTER_USER = 'cluster-admin';

/** Servers of `peertrust cluster`, in order. */
const CLUSTER_NAMES = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliett'];

const program = new Command('peertrust')
  .description('Trust between the servers of an active-active high-availability cluster.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

/** Stops everything on SIGINT or SIGTERM, then exits. */
function stopOnSignal(apps: App[], db: Database, log: Logger) {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await Promise.allSettled(apps.map((app) => app.stop()));
    await db.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

function describeServer(app: App, name: string, addresses: string[]): string {
  return [
    `${name}`,
    `  GraphiQL     ${app.url}`,
    `  id           ${app.serverId}`,
    `  fingerprint  ${formatFingerprint(app.fingerprint)}`,
    `  addresses    ${addresses.join(', ')}`,
  ].join('\n');
}

const elapsed = () => `${(performance.now() / 1000).toFixed(1)} s`;

const tlsCertOption = ['--tls-cert <file>', 'serve HTTPS and WSS with this certificate (PEM; with --tls-key)'] as const;
const tlsKeyOption = ['--tls-key <file>', 'the private key of --tls-cert (PEM)'] as const;

const limits = defaultClientLimits;
const ENVIRONMENT_HELP = [
  'Environment: DATABASE_URL (postgresql://...), DATABASE_POOL_SIZE (10 connections per process), LOG_LEVEL (info),',
  'PEERTRUST_HEARTBEAT_SECONDS (10; a server is OFFLINE once stopped, or after 3 missed heartbeats),',
  'PEERTRUST_CORS_ORIGINS (none: same origin only; comma-separated, e.g. https://console.example.com),',
  `requests per minute: PEERTRUST_RATE_LIMIT_PER_ADDRESS (${limits.requestsPerMinutePerAddress}), PEERTRUST_RATE_LIMIT_PER_TOKEN (${limits.requestsPerMinutePerToken}), PEERTRUST_RATE_LIMIT_ANONYMOUS (${limits.anonymousRequestsPerMinutePerAddress}),`,
  `at once: PEERTRUST_MAX_CONNECTIONS_PER_USER (${limits.connectionsPerUser}), PEERTRUST_MAX_SUBSCRIPTIONS_PER_CONNECTION (${limits.subscriptionsPerConnection}), PEERTRUST_MAX_SUBSCRIPTIONS_PER_USER (${limits.subscriptionsPerUser}).`,
].join('\n');

program
  .command('serve')
  .description('Run one server. Uses PostgreSQL when DATABASE_URL is set, else an embedded database in the data directory.')
  .requiredOption('--name <name>', 'the server name people see')
  .option('--port <port>', 'port for the API', '4000')
  .option('--host <host>', 'interface to listen on (default: 127.0.0.1, or 0.0.0.0 with TLS)')
  .option('--data-dir <dir>', "the server's data directory: root key, and the embedded database", './data')
  .option('--address <ip>', 'an IP address to report to administrators (repeat for several; default: this host\'s)', (value: string, previous: string[] = []) => [...previous, value])
  .option(...tlsCertOption)
  .option(...tlsKeyOption)
  .addHelpText('after', `\n${ENVIRONMENT_HELP}`)
  .action(async (flags: { name: string; port: string; host?: string; dataDir: string; address?: string[]; tlsCert?: string; tlsKey?: string }) => {
    const config = serveConfig({ ...flags, addresses: flags.address });
    const { createApp, openDatabase, createLogger } = await serverModules();
    const log = createLogger(config.logLevel);
    const db = await openDatabase(config, log);
    const addresses = config.addresses ?? detectAddresses();
    const app = createApp({
      name: config.name,
      host: config.host,
      port: config.port,
      identityDir: config.dataDir,
      addresses,
      database: db,
      logger: log,
      heartbeatSeconds: config.heartbeatSeconds,
      http: config.http,
    });
    stopOnSignal([app], db, log);
    await app.start();
    console.log(`peertrust serving on the ${db.description} (ready in ${elapsed()})\n\n${describeServer(app, config.name, addresses)}`);
  });

program
  .command('cluster')
  .description('Run several servers in one process on one embedded database, for trying peertrust out.')
  .option('--servers <n>', 'how many servers (1 to 10)', '2')
  .option('--port <port>', 'port of the first server; the others follow', '4000')
  .option('--host <host>', 'interface to listen on (default: 127.0.0.1, or 0.0.0.0 with TLS)')
  .option('--data-dir <dir>', 'data directory: the embedded database, and one directory per server', './data')
  .option(...tlsCertOption)
  .option(...tlsKeyOption)
  .addHelpText('after', `\n${ENVIRONMENT_HELP}`)
  .action(async (flags: { servers: string; port: string; host?: string; dataDir: string; tlsCert?: string; tlsKey?: string }) => {
    const config = clusterConfig(flags);
    const { createApp, createApiToken, revokeApiTokens, openDatabase, createLogger } = await serverModules();
    const log = createLogger(config.logLevel);
    const db = await openDatabase(config, log);
    const addresses = detectAddresses();
    const names = CLUSTER_NAMES.slice(0, config.servers);
    const apps = names.map((name, index) =>
      createApp({
        name,
        host: config.host,
        port: config.port === 0 ? 0 : config.port + index,
        identityDir: path.join(config.dataDir, name),
        addresses,
        database: db,
        logger: log,
        heartbeatSeconds: config.heartbeatSeconds,
        http: config.http,
      }),
    );
    stopOnSignal(apps, db, log);
    for (const app of apps) await app.start();
    // One live try-out token at a time: the one printed by the previous start stops working.
    await revokeApiTokens(db.prisma, CLUSTER_USER);
    const { token } = await createApiToken(db.prisma, { userName: CLUSTER_USER, role: 'ADMINISTRATOR' });
    console.log(
      [
        `peertrust cluster: ${apps.length} servers on the ${db.description} (ready in ${elapsed()})`,
        '',
        ...apps.map((app, index) => describeServer(app, names[index] ?? '', addresses)),
        '',
        'Open a GraphiQL URL and put this administrator token in the Authorization header,',
        'as "Bearer <token>". It is shown only now; the next start replaces it.',
        token,
      ].join('\n'),
    );
  });

program
  .command('fingerprint')
  .description("Print this server's root key fingerprint, to compare with what a peer shows.")
  .option('--data-dir <dir>', "the server's data directory", './data')
  .action(async (flags: { dataDir: string }) => {
    const key = await loadRootKey(flags.dataDir);
    if (!key) throw new ConfigError(`${flags.dataDir} has no root key: start the server once to create it`);
    console.log(key.fingerprint);
  });

/** Runs `work` on the database a token command names, and closes it. */
async function withDatabase(
  dataDir: string,
  work: (db: Database, modules: Awaited<ReturnType<typeof serverModules>>) => Promise<void>,
) {
  const config = databaseConfig({ dataDir });
  const modules = await serverModules();
  const db = await modules.openDatabase(config);
  try {
    await work(db, modules);
  } finally {
    await db.close();
  }
}

const dataDirOption = ['--data-dir <dir>', 'data directory of the embedded database (ignored with DATABASE_URL)', './data'] as const;
const token = program
  .command('token')
  .description('Manage API tokens. With an embedded database, stop the server first: one process owns it.');
token
  .command('create')
  .description('Create a bearer token for a user (created if new). The token is printed once, alone on the last line.')
  .requiredOption('--name <name>', 'the user the token is for')
  .requiredOption('--role <role>', 'ADMINISTRATOR or READ_ONLY', (value: string) => {
    const role = value.toUpperCase().replace('-', '_');
    if (role !== 'ADMINISTRATOR' && role !== 'READ_ONLY') {
      throw new InvalidArgumentError('must be ADMINISTRATOR or READ_ONLY.');
    }
    return role;
  })
  .option(...dataDirOption)
  .addHelpText('after', '\nEnvironment: DATABASE_URL (postgresql://...) to use PostgreSQL.')
  .action((flags: { name: string; role: 'ADMINISTRATOR' | 'READ_ONLY'; dataDir: string }) =>
    withDatabase(flags.dataDir, async (db, { createApiToken }) => {
      const created = await createApiToken(db.prisma, { userName: flags.name, role: flags.role });
      console.error(`token for ${created.user.name} (${created.user.role}); it is not stored and cannot be shown again:`);
      console.log(created.token);
    }),
  );
token
  .command('list')
  .description('List tokens: owner, role, created, revoked. Tokens themselves are not stored.')
  .option(...dataDirOption)
  .action((flags: { dataDir: string }) =>
    withDatabase(flags.dataDir, async (db, { listApiTokens }) => {
      for (const row of await listApiTokens(db.prisma)) {
        const state = row.revokedAt ? `revoked ${row.revokedAt.toISOString()}` : 'active';
        console.log(`${row.id}  ${row.user.name}  ${row.user.role}  created ${row.createdAt.toISOString()}  ${state}`);
      }
    }),
  );
token
  .command('revoke')
  .description("Revoke every token of a user. Requests with them are refused from then on.")
  .requiredOption('--name <name>', 'the user whose tokens to revoke')
  .option(...dataDirOption)
  .action((flags: { name: string; dataDir: string }) =>
    withDatabase(flags.dataDir, async (db, { revokeApiTokens }) => {
      const count = await revokeApiTokens(db.prisma, flags.name);
      console.log(`revoked ${count} token${count === 1 ? '' : 's'} of ${flags.name}`);
    }),
  );

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander already printed its one-line message (or the help).
    process.exit(error.exitCode);
  }
  // Problems the person running the command can fix get one line; anything else is a bug.
  const code = (error as NodeJS.ErrnoException).code;
  if (error instanceof OperatorError || code === 'EADDRINUSE' || code === 'EACCES') {
    console.error(`peertrust: ${(error as Error).message}`);
    process.exit(2);
  }
  throw error;
}
