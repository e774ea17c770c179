// One peertrust server: its identity, its registration in the shared database, and
// its API (GraphQL over HTTP and SSE, graphql-ws, GraphiQL) on one HTTP server.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvelopArmor } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { PothosValidationError } from '@pothos/core';
import { GraphQLError } from 'graphql';
import { createGraphQLError, createYoga, maskError } from 'graphql-yoga';
import { CredentialWatch } from './auth/credential-watch.js';
import { useRequireAuthentication } from './auth/graphql-errors.js';
import { authenticate, authenticationProblem } from './auth/tokens.js';
import { isDatabaseUnavailable, isServerBusy, isStorageFull, type Database } from './db/client.js';
import type { FeedNotice } from './db/events.js';
import { ClientQuotas } from './http/client-quotas.js';
import { useSharedEventExecution } from './http/shared-events.js';
import { createConsoleHandler } from './http/console.js';
import type { ApiContext, ServerContext } from './http/context.js';
import { corsFor } from './http/cors.js';
import { useEventStreamLimits } from './http/event-streams.js';
import { graphiqlOptions, renderGraphiQL } from './http/graphiql.js';
import { createHealthHandler } from './http/health.js';
import { createApiServer, endpointUrl, isLoopback } from './http/listen.js';
import { createMetricsHandler } from './http/metrics.js';
import { useQueryCost } from './http/query-cost.js';
import { clientAddress, rateLimitedError, refuseRateLimited, RequestRates } from './http/request-rates.js';
import { defaultHttpSettings, type HttpSettings } from './http/settings.js';
import { serveWebSocket } from './http/websocket.js';
import type { RootKeyPair } from './identity/root-key.js';
import type { Logger } from './logger.js';
import { ServerMetrics } from './metrics.js';
import { schema } from './schema/index.js';
import type { ServerScope } from './trust/scope.js';
import { Liveness } from './trust/liveness.js';
import { completeTree } from './trust/history.js';
import { Ledger } from './trust/ledger.js';
import { finishInterruptedRotation } from './trust/keys.js';
import { recordRegistration, registerServer } from './trust/servers.js';
import { TamperingWatch } from './trust/tampering.js';
import { FellBehindError } from './trust/stoppable.js';

export interface AppConfig {
  name: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** This server instance's root key: its identity. */
  rootKey: RootKeyPair;
  /** The IP addresses this server reports to administrators. */
  addresses: string[];
  /** Shared with the other servers of the cluster; the caller opens and closes it. */
  database: Database;
  logger: Logger;
  heartbeatSeconds: number;
  /** TLS, CORS and what one client may use; defaultHttpSettings when not given. */
  http?: HttpSettings;
}

export interface App {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The GraphQL endpoint, once started. */
  readonly url: string;
  readonly serverId: string;
  readonly fingerprint: string;
  /** Whether this instance was decommissioned when it started. */
  readonly decommissioned: boolean;
  /** What src/trust works with on this server's behalf, once started. */
  readonly scope: ServerScope;
}

/** Larger request bodies (and WebSocket messages) are refused, chunked ones included. */
const MAX_BODY_BYTES = 64 * 1024;

const GRAPHQL_PATH = '/graphql';

/**
 * Failures of capacity rather than of the request: a code to act on, and 503 (507 when
 * the storage is full) so that a client retries or goes to another server. Anything
 * else is masked as usual.
 */
function capacityError(error: unknown): GraphQLError | undefined {
  if (isDatabaseUnavailable(error)) {
    return createGraphQLError('database unavailable: this server cannot reach its database right now; retry shortly', {
      extensions: { code: 'DATABASE_UNAVAILABLE', http: { status: 503 } },
    });
  }
  if (isServerBusy(error)) {
    return createGraphQLError("server busy: this server's database work stayed queued longer than a request may wait; retry shortly", {
      extensions: { code: 'SERVER_BUSY', http: { status: 503 } },
    });
  }
  if (isStorageFull(error)) {
    return createGraphQLError('storage full: the database has no space left to record changes; nothing was changed. Reading still works; retry once an operator has freed space', {
      extensions: { code: 'STORAGE_FULL', http: { status: 507 } },
    });
  }
  return undefined;
}

/** A live subscription whose client stopped reading was ended: the client's to act on. */
function fellBehind(error: unknown): GraphQLError | undefined {
  const original = error instanceof GraphQLError ? error.originalError : error;
  if (!(original instanceof FellBehindError)) return undefined;
  return createGraphQLError(original.message, { extensions: { code: 'FELL_BEHIND' } });
}

/** Pothos refuses connection arguments it cannot use (a cursor it did not issue, `before` with `first`): the client's to fix. */
function badUserInput(error: unknown): GraphQLError | undefined {
  const original = error instanceof GraphQLError ? error.originalError : error;
  if (!(original instanceof PothosValidationError)) return undefined;
  return createGraphQLError(original.message, { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
}

/** What a client may see of an error: the errors it can act on, else Yoga's masked "Unexpected error." */
export function maskApiError(error: unknown, message: string, isDev?: boolean): Error {
  return capacityError(error) ?? badUserInput(error) ?? fellBehind(error) ?? maskError(error, message, isDev);
}

/**
 * Yoga logs like console; pino wants an Error under `err` to keep its stack. An outage
 * or an overload fails many requests: those get one short line each, not a stack; a
 * client's bad input is the client's to fix: a debug line.
 */
function forwardTo(log: Logger, level: 'debug' | 'info' | 'warn' | 'error') {
  return (...args: unknown[]) => {
    const [first, ...rest] = args;
    const capacity = first instanceof Error ? capacityError(first) : undefined;
    if (capacity) log.warn({ reason: (first as Error).message }, `request failed: ${capacity.extensions['code']}`);
    else if (badUserInput(first)) log.debug({ reason: (first as Error).message }, 'request refused: BAD_USER_INPUT');
    else if (first instanceof Error) log[level]({ err: first }, first.message);
    else log[level](rest.length ? { details: rest } : {}, String(first));
  };
}

export function createApp(config: AppConfig): App {
  const log = config.logger.child({ server: config.name });
  const http = config.http ?? defaultHttpSettings;
  let scope: ServerScope | undefined;
  let liveness: Liveness | undefined;
  let tampering: TamperingWatch | undefined;
  let decommissioned = false;
  /** The key this server holds now: a rotation replaces it. */
  const identity = { key: config.rootKey };
  let url = '';
  let httpServer: Server | undefined;
  let webSocket: ReturnType<typeof serveWebSocket> | undefined;
  const heartbeatIntervalMs = Math.round(config.heartbeatSeconds * 1000);
  const rates = new RequestRates(http.limits);
  const quotas = new ClientQuotas(http.limits);
  const credentials = new CredentialWatch(config.database, log.child({ component: 'credentials' }));
  const metrics = new ServerMetrics(config.database);

  const armor = new EnvelopArmor({
    maxDepth: { n: 12 },
    maxAliases: { n: 15 },
    maxTokens: { n: 2000 },
    maxDirectives: { n: 20 },
    // Its cost limit reads literals only: useQueryCost applies the variables.
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: true },
  });

  const yoga = createYoga<ServerContext, ApiContext>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    cors: corsFor(http.corsOrigins),
    maxRequestBodySize: MAX_BODY_BYTES,
    maskedErrors: { maskError: maskApiError },
    logging: {
      debug: forwardTo(log, 'debug'),
      info: forwardTo(log, 'info'),
      warn: forwardTo(log, 'warn'),
      error: forwardTo(log, 'error'),
    },
    renderGraphiQL,
    graphiql: graphiqlOptions(config.name),
    plugins: [
      metrics.plugin(),
      useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf'] }),
      ...armor.protect().plugins,
      useRequireAuthentication(),
      useQueryCost(),
      useEventStreamLimits(quotas, credentials),
      useSharedEventExecution(),
    ],
    context: async (initial): Promise<ApiContext> => {
      if (!scope || !liveness) throw new Error('the server is not started');
      // Over graphql-ws the connection was authenticated at connection_init (unless the database was out then).
      const authorization = initial.req?.headers.authorization ?? initial.connectionParams?.['authorization'];
      const auth = initial.auth ?? (await authenticate(scope.db.prisma, authorization, scope.ledger));
      if (auth.kind === 'invalid' && initial.req) {
        const wait = await rates.refusedToken(clientAddress(initial.req));
        if (wait !== undefined) throw rateLimitedError(wait, true);
      }
      return {
        scope,
        liveness,
        metrics,
        auth,
        viewer: auth.kind === 'user' ? auth.user : null,
        authProblem: auth.kind === 'user' ? '' : authenticationProblem(auth, 'send "Authorization: Bearer <token>" with a token from `peertrust token create`'),
      };
    },
  });

  /** Whatever changed, the history may have grown as far as the change says: read it. */
  const catchUp = (notice: FeedNotice) =>
    void scope?.ledger
      .catchUpTo(notice.kind === 'peerTrustChanged' || notice.kind === 'historyAppended' ? notice.sequence : undefined)
      .catch((error: unknown) => log.warn({ err: error }, 'could not read the Trust History; trying again at the next change'));

  const serveConsole = createConsoleHandler();
  const serveHealth = createHealthHandler({ name: config.name, database: config.database });
  const serveMetrics = createMetricsHandler(metrics, http.metricsToken);
  /**
   * The console's files are static, and health and metrics as cheap (one readiness query
   * at a time, however many ask); rate limits come first for the API: a request over its
   * rate costs a map lookup, not a query.
   */
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (serveConsole(req, res)) return;
    if (serveHealth(req, res) || serveMetrics(req, res)) return;
    void rates.admit(req).then((wait) => (wait === undefined ? yoga(req, res) : refuseRateLimited(res, wait)));
  };

  return {
    get url() {
      return url;
    },
    get serverId() {
      if (!scope) throw new Error('the server is not started');
      return scope.serverId;
    },
    get scope() {
      if (!scope) throw new Error('the server is not started');
      return scope;
    },
    get fingerprint() {
      return identity.key.fingerprint;
    },
    get decommissioned() {
      return decommissioned;
    },
    async start() {
      try {
        await startApp();
      } catch (error) {
        // What did start stops (timers, listeners) before the caller closes the database.
        await stopApp();
        throw error;
      }
    },
    stop: stopApp,
  };

  async function startApp() {
    const { server, warnings } = await createApiServer(http.tls, handle);
    for (const warning of warnings) log.warn(warning);
    // Entries from before the history was signed get their Merkle tree before anything is appended: a registration is.
    await completeTree(config.database);
    const registered = await registerServer(config.database, {
      name: config.name,
      addresses: config.addresses,
      key: config.rootKey,
      heartbeatIntervalMs,
    });
    const { serverId } = registered;
    decommissioned = registered.decommissioned;
    if (decommissioned) {
      log.warn('this server instance is decommissioned: it serves its history but takes no more trust decisions; install a new instance (a new data directory) to bring the server back');
    }
    if (registered.possibleReplacementOf) {
      log.warn(
        { replaces: registered.possibleReplacementOf },
        `this new instance has the name or an address of ${registered.possibleReplacementOf.name}, with a key that server did not endorse: ` +
          'peers must approve it as a new instance (a rotation keeps trust; see `peertrust key rotate`)',
      );
    }
    identity.key = await finishInterruptedRotation(config.database, serverId, config.rootKey);
    const ledger = new Ledger({ db: config.database, serverId, identity, log: log.child({ component: 'ledger' }) });
    await ledger.start();
    const registeredKey = ledger.registeredKey(serverId);
    if (!decommissioned && !ledger.broken && !registeredKey) await recordRegistration(config.database, serverId, identity.key);
    if (registeredKey && !ledger.isOwnKey(registeredKey)) {
      log.error(
        { registeredKey },
        `the Trust History registers this server with ${registeredKey}, a key it does not hold: a database writer registered it first. ` +
          'Peers that have not approved this server take what that key signs as its own: install a new instance (a new data directory), have the peers approve it, and decommission this one',
      );
    }
    config.database.changes.on('notice', catchUp);
    scope = { db: config.database, serverId, identity, ledger };
    liveness = new Liveness(scope, heartbeatIntervalMs, log.child({ component: 'liveness' }));
    await liveness.start();
    tampering = new TamperingWatch(scope, heartbeatIntervalMs, log.child({ component: 'tampering' }));
    tampering.start();
    credentials.start(ledger, serverId);
    httpServer = server;
    webSocket = serveWebSocket(server, GRAPHQL_PATH, {
      yoga,
      authenticate: (authorization) => authenticate(config.database.prisma, authorization, scope!.ledger),
      rates,
      quotas,
      credentials,
      connectionsPerUser: http.limits.connectionsPerUser,
      maxMessageBytes: MAX_BODY_BYTES,
      log,
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    url = endpointUrl(config.host, port, http.tls !== undefined, GRAPHQL_PATH);
    log.info({ url, serverId, fingerprint: identity.key.fingerprint }, 'listening');
    if (!http.tls && !isLoopback(config.host)) {
      log.warn(
        { host: config.host },
        'listening beyond this host without TLS: tokens cross the network in the clear; use --tls-cert and --tls-key',
      );
    }
  }

  async function stopApp() {
    config.database.changes.off('notice', catchUp);
    // The tampering check reads the ledger: it ends first.
    await tampering?.stop();
    await scope?.ledger.stop();
    await liveness?.stop();
    credentials.stop();
    await webSocket?.close();
    httpServer?.closeAllConnections();
    await new Promise<void>((resolve) => (httpServer ? httpServer.close(() => resolve()) : resolve()));
    await yoga.dispose();
  }
}
