// The `peertrust` command line. It parses flags, opens the database and starts servers;
// everything else lives in createApp, src/cluster.ts and src/trust.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { registerTrustCommands } from './cli/trust-commands.js';
import type { IssuedAnswer, IssuedQuestion, ReadyMessage, ServerSummary } from './cluster.js';
import type { Database } from './db/client.js';
import { clusterConfig, databaseConfig, detectAddresses, serveConfig } from './env.js';
import { defaultClientLimits } from './http/settings.js';
import { formatFingerprint } from './identity/fingerprint.js';
import { loadClusterKeys, loadRootKey, loadRootKeysIn } from './identity/root-key.js';
import type { Logger } from './logger.js';
import { OperatorError } from './operator-error.js';

// Everything peertrust writes is private: the root key, the database, the token file.
process.umask(0o077);

// The server modules (schema, Prisma) take a moment to load: only commands that run a
// server load them, and those that open the database only Prisma's, so that --help and
// fingerprint are quick and a token command builds no schema.
const serverModules = async () => {
  const [{ createApp }, { openDatabase }, { createLogger }, { loadOrCreateRootKey, loadServerRootKey }, { acceptsAsAdministrator }] = await Promise.all([
    import('./app.js'),
    import('./db/client.js'),
    import('./logger.js'),
    import('./identity/root-key.js'),
    import('./auth/tokens.js'),
  ]);
  return { createApp, openDatabase, createLogger, loadOrCreateRootKey, loadServerRootKey, acceptsAsAdministrator };
};
const databaseModules = async () => {
  const [tokens, { openDatabaseForCommand }] = await Promise.all([import('./auth/tokens.js'), import('./db/client.js')]);
  return { ...tokens, openDatabaseForCommand };
};

/** Servers of `peertrust cluster`, in order. */
const CLUSTER_NAMES = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliett'];

const program = new Command('peertrust')
  .description('Trust between the servers of an active-active high-availability cluster.')
  .showHelpAfterError('(run with --help for usage)')
  // A subcommand's flags are its own (`history verify --json`), not its parent's.
  .enablePositionalOptions()
  .exitOverride();

/** Runs `stop` once on SIGINT or SIGTERM (or when `also` fires), then exits. */
function stopOnSignal(stop: () => Promise<void>, log: Logger, also?: (trigger: () => void) => void) {
  let stopping = false;
  const run = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, 'stopping');
    await stop().catch((error: unknown) => log.error({ err: error }, 'stopping failed'));
    process.exit(0);
  };
  process.on('SIGINT', () => void run('SIGINT'));
  process.on('SIGTERM', () => void run('SIGTERM'));
  also?.(() => void run('supervisor gone'));
}

const origin = (graphqlUrl: string) => graphqlUrl.replace(/\/graphql$/, '');

function describeServer(server: ServerSummary, token?: string): string {
  return [
    `${server.name}`,
    `  console      ${origin(server.url)}/${token ? `#token=${token}` : ''}`,
    `  GraphiQL     ${server.url}`,
    `  id           ${server.id}`,
    `  fingerprint  ${formatFingerprint(server.fingerprint)}`,
    `  addresses    ${server.addresses.join(', ')}`,
    ...(server.decommissioned ? ['  status       DECOMMISSIONED: it takes no more trust decisions; install a new instance to bring it back'] : []),
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
  `at once: PEERTRUST_MAX_CONNECTIONS_PER_USER (${limits.connectionsPerUser}), PEERTRUST_MAX_SUBSCRIPTIONS_PER_CONNECTION (${limits.subscriptionsPerConnection}), PEERTRUST_MAX_SUBSCRIPTIONS_PER_USER (${limits.subscriptionsPerUser}),`,
  'PEERTRUST_METRICS_TOKEN (unset: /metrics is open; set: it asks for this bearer token).',
].join('\n');

program
  .command('serve')
  .description('Run one server. Uses PostgreSQL when DATABASE_URL is set, else an embedded PostgreSQL in the data directory.')
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
    const { createApp, openDatabase, createLogger, loadOrCreateRootKey, loadServerRootKey, acceptsAsAdministrator } = await serverModules();
    const logger = createLogger(config.logLevel);
    const log = logger.child({ server: config.name });
    // The identity first: a server whose key is unusable must not touch any database. A
    // new server's key is made once its database is open, so that a start refused there
    // (an embedded database in use) leaves no key behind to be taken for a server's.
    const existingKey = await loadServerRootKey(config.dataDir);
    const db = await openDatabase(config, log, `serve ${config.name}`);
    log.info({ database: db.description }, 'database ready, migrations applied');
    let rootKey = existingKey;
    try {
      rootKey ??= await loadOrCreateRootKey(config.dataDir);
    } catch (error) {
      await db.close();
      throw error;
    }
    log.info({ fingerprint: rootKey.fingerprint }, 'root key loaded');
    const addresses = config.addresses ?? detectAddresses();
    const app = createApp({
      name: config.name,
      host: config.host,
      port: config.port,
      rootKey,
      addresses,
      database: db,
      logger,
      heartbeatSeconds: config.heartbeatSeconds,
      http: config.http,
    });
    const stop = async () => {
      await app.stop();
      await db.close();
    };
    // Under `peertrust cluster`, the supervisor's IPC channel closing means it is gone.
    stopOnSignal(stop, log, (trigger) => process.once('disconnect', trigger));
    try {
      await app.start();
    } catch (error) {
      await db.close();
      throw error;
    }
    const summary: ServerSummary = { name: config.name, url: app.url, id: app.serverId, fingerprint: app.fingerprint, addresses, decommissioned: app.decommissioned };
    if (process.send) {
      process.on('message', (message: IssuedQuestion) => {
        if (message.type !== 'issued?') return;
        // As a request would be: signed by this server's key, or by one it had before a rotation.
        void acceptsAsAdministrator(db.prisma, message.token, app.scope.ledger).then(
          (issued) => process.send?.({ type: 'issued', issued } satisfies IssuedAnswer),
          (error: Error) => process.send?.({ type: 'issued', error: error.message } satisfies IssuedAnswer),
        );
      });
      process.send({ type: 'ready', server: summary } satisfies ReadyMessage);
    }
    console.log(`peertrust serving on the ${db.description} (ready in ${elapsed()})\n\n${describeServer(summary)}`);
  });

program
  .command('cluster')
  .description('Run several servers on this host, each its own process, on one database: the embedded PostgreSQL in the data directory, or DATABASE_URL.')
  .option('--servers <n>', 'how many servers (1 to 10; default: as many as the data directory has, at least 2)')
  .option('--port <port>', 'port of the first server; the others follow', '4000')
  .option('--host <host>', 'interface to listen on (default: 127.0.0.1, or 0.0.0.0 with TLS)')
  .option('--data-dir <dir>', 'data directory: the embedded database, and one directory per server', './data')
  .option(...tlsCertOption)
  .option(...tlsKeyOption)
  .addHelpText('after', `\n${ENVIRONMENT_HELP}`)
  .action(async (flags: { servers?: string; port: string; host?: string; dataDir: string; tlsCert?: string; tlsKey?: string }) => {
    // A restart runs every server the data directory has, not the first two of them.
    const known = (await loadClusterKeys(flags.dataDir)).map(({ name }) => CLUSTER_NAMES.indexOf(name));
    const config = clusterConfig({ ...flags, servers: flags.servers ?? String(Math.max(2, ...known.map((index) => index + 1))) });
    // Not the API's modules: each server process loads its own, while this one starts the database.
    const [{ runCluster }, { createLogger }] = await Promise.all([import('./cluster.js'), import('./logger.js')]);
    const log = createLogger(config.logLevel);
    const names = CLUSTER_NAMES.slice(0, config.servers);
    console.error(`peertrust cluster: starting the database and ${names.join(', ')}...`);
    const cluster = await runCluster({ ...config, names }, log, (step) => console.error(`peertrust cluster: ${step}`));
    stopOnSignal(() => cluster.stop(), log);
    console.log(
      [
        `peertrust cluster: ${names.length} servers, each its own process, on the ${cluster.description} (ready in ${elapsed()})`,
        '',
        ...cluster.servers.map((server) => describeServer(server, cluster.token)),
        '',
        'Open a console link: it signs you in as an administrator. For GraphiQL or the CLI, use this',
        'token (Authorization: Bearer <token>); it stays valid across restarts until `peertrust token revoke --name cluster-admin`:',
        cluster.token,
      ].join('\n'),
    );
  });

program
  .command('fingerprint')
  // In groups of four, as the console, `npm start` and `peers` show it: what it is compared with.
  .description("Print this server's root key fingerprint, to compare with what a peer shows; of each server, by name, in a `peertrust cluster` data directory.")
  .option('--data-dir <dir>', "the server's data directory (or the cluster's)", './data')
  .action(async (flags: { dataDir: string }) => {
    const key = await loadRootKey(flags.dataDir);
    if (key) return console.log(formatFingerprint(key.fingerprint));
    const servers = await loadClusterKeys(flags.dataDir);
    if (!servers.length) throw new OperatorError(`${flags.dataDir} has no root key: start the server once to create it`);
    const width = Math.max(...servers.map(({ name }) => name.length));
    for (const { name, key } of servers) console.log(`${name.padEnd(width)}  ${formatFingerprint(key.fingerprint)}`);
  });

/** Runs `work` on the database a token command names, and closes it. */
async function withDatabase(
  dataDir: string,
  purpose: string,
  work: (db: Database, modules: Awaited<ReturnType<typeof databaseModules>>) => Promise<void>,
) {
  const config = databaseConfig({ dataDir });
  const modules = await databaseModules();
  const db = await modules.openDatabaseForCommand(config, purpose);
  try {
    await work(db, modules);
  } finally {
    await db.close();
  }
}

const signerOption = [
  '--signer <dir>',
  "a server's data directory whose root key signs (repeat for several; default: --data-dir)",
  (value: string, previous: string[] = []) => [...previous, value],
] as const;
const dataDirOption = [
  '--data-dir <dir>',
  "data directory of a server, or of `peertrust cluster`: its root key (or each server's) signs, and its embedded database is used unless DATABASE_URL is set; servers may be running",
  './data',
] as const;
const token = program
  .command('token')
  .description('Manage API tokens, also while the servers run.');
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
  .option(...signerOption)
  .addHelpText('after', '\nEnvironment: DATABASE_URL (postgresql://...) to use PostgreSQL.\nA token works on the servers whose keys signed it, and on servers that trust one of them.')
  .action((flags: { name: string; role: 'ADMINISTRATOR' | 'READ_ONLY'; dataDir: string; signer?: string[] }) =>
    withDatabase(flags.dataDir, 'token create', async (db, { createApiToken }) => {
      const created = await createApiToken(db, { userName: flags.name, role: flags.role }, await signersIn(db, flags.signer ?? [flags.dataDir]));
      console.error(`token for ${created.user.name} (${created.user.role}); only its hash is stored, so it cannot be shown again:`);
      console.log(created.token);
    }),
  );
token
  .command('list')
  .description('List tokens: owner, role, created, revoked. Tokens themselves are not stored.')
  .option(...dataDirOption)
  .action((flags: { dataDir: string }) =>
    withDatabase(flags.dataDir, 'token list', async (db, { listApiTokens }) => {
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
  .option(...signerOption)
  .action((flags: { name: string; dataDir: string; signer?: string[] }) =>
    withDatabase(flags.dataDir, 'token revoke', async (db, { revokeApiTokens }) => {
      const [signer] = await signersIn(db, flags.signer ?? [flags.dataDir]);
      const count = await revokeApiTokens(db, flags.name, signer!);
      console.log(`revoked ${count} token${count === 1 ? '' : 's'} of ${flags.name}`);
    }),
  );
token
  .command('sign')
  .description("Add this server's signature to every token of a user, so that this server (and servers that trust it) accept them.")
  .requiredOption('--name <name>', 'the user whose tokens to sign')
  .option(...dataDirOption)
  .option(...signerOption)
  .action((flags: { name: string; dataDir: string; signer?: string[] }) =>
    withDatabase(flags.dataDir, 'token sign', async (db, { signApiTokens }) => {
      let count = 0;
      for (const signer of await signersIn(db, flags.signer ?? [flags.dataDir])) count += await signApiTokens(db, flags.name, signer);
      console.log(`signed ${count} token${count === 1 ? '' : 's'} of ${flags.name}`);
    }),
  );

/**
 * The keys that sign tokens: the root key of the server whose data directory this is, or
 * of every server of a `peertrust cluster` data directory; each must have registered.
 */
async function signersIn(db: Database, dataDirs: string[]) {
  const { tokenSigners } = await import('./auth/tokens.js');
  const keys = (await Promise.all(dataDirs.map((dir) => loadRootKeysIn(dir)))).flat();
  const signers = await tokenSigners(db.prisma, keys);
  if (!signers.length) {
    throw new OperatorError(
      `${dataDirs.join(', ')} holds no root key of a registered server: tokens are signed by a server's key; give the data directory of a server that has started once (--data-dir or --signer)`,
    );
  }
  return signers;
}

const history = registerTrustCommands(program);
history
  .command('export')
  .description(
    'Write a bundle of the Trust History (its entries, the newest signed checkpoint with its cosignatures, the servers\' public keys) that `peertrust history verify --bundle FILE` checks offline; with --sequence, one entry and its inclusion proof.',
  )
  .option(...dataDirOption)
  .option('--out <file>', 'write the bundle here (default: stdout)')
  .option('--sequence <n>', 'only this entry, with the proof that it is in the history', (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a sequence number (1 or more).');
    return n;
  })
  .addHelpText('after', '\nEnvironment: DATABASE_URL (postgresql://...) to use PostgreSQL.')
  .action((flags: { dataDir: string; out?: string; sequence?: number }) =>
    withDatabase(flags.dataDir, 'history export', async (db) => (await import('./cli/history-bundle.js')).exportBundleTo(db, flags)),
  );

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander already printed its one-line message (or the help). Its 1 is a usage error: 2, as for any the operator must fix.
    process.exit(error.exitCode === 1 ? 2 : error.exitCode);
  }
  // Problems the person running the command can fix get one line; anything else is a bug.
  const code = (error as NodeJS.ErrnoException).code;
  if (error instanceof OperatorError || code === 'EADDRINUSE' || code === 'EACCES') {
    const hint = code === 'EADDRINUSE' ? ': another process listens there; choose another port with --port' : '';
    console.error(`peertrust: ${(error as Error).message}${hint}`);
    process.exit(error instanceof OperatorError ? error.exitCode : 2);
  }
  throw error;
}
