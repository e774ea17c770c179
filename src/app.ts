// One peertrust server: its identity, its registration in the shared database, and
// its API (GraphQL over HTTP and SSE, graphql-ws, GraphiQL) on one HTTP server.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvelopArmor } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { GraphQLError } from 'graphql';
import { createGraphQLError, createYoga, maskError, type YogaInitialContext } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { useRequireAuthentication } from './auth/graphql-errors.js';
import { authenticate } from './auth/tokens.js';
import { useQueryCost } from './http/query-cost.js';
import { isDatabaseUnavailable, isServerBusy, type Database } from './db/client.js';
import { loadOrCreateRootKey } from './identity/root-key.js';
import type { Logger } from './logger.js';
import type { Context } from './schema/context.js';
import { schema } from './schema/index.js';
import type { ServerScope } from './trust/scope.js';
import { Liveness } from './trust/liveness.js';
import { registerServer } from './trust/servers.js';

export interface AppConfig {
  name: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Where this server's root key lives. */
  identityDir: string;
  /** The IP addresses this server reports to administrators. */
  addresses: string[];
  /** Shared with the other servers of the cluster; the caller opens and closes it. */
  database: Database;
  logger: Logger;
  heartbeatSeconds: number;
}

export interface App {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The GraphQL endpoint, once started. */
  readonly url: string;
  readonly serverId: string;
  readonly fingerprint: string;
}

/** Larger request bodies are refused before they are read. */
const MAX_BODY_BYTES = 64 * 1024;

const GRAPHIQL_QUERY = `# peertrust. Put your token in the Headers tab below:
#   { "Authorization": "Bearer <your token>" }
# then run Peers. Check each peer's fingerprint and addresses against the peer itself
# (its own thisServer, or \`peertrust fingerprint\` there), then approve or deny it.
# Trust becomes TRUSTED once the peer's administrator approves this server too.

query Peers {
  thisServer { id name fingerprint addresses }
  peerTrusts { edges { node { id status approvalRequired approvedByThisServer approvedByPeer
    peer { id name fingerprint addresses status } } } }
}

mutation Approve($peerId: ID!, $fingerprint: String!) {
  approveTrust(input: { peerId: $peerId, fingerprint: $fingerprint }) {
    __typename
    ... on ApproveTrustSuccess { peerTrust { status approvedByPeer } }
    ... on Error { message }
  }
}

mutation Deny($peerId: ID!, $fingerprint: String!) {
  denyTrust(input: { peerId: $peerId, fingerprint: $fingerprint }) {
    __typename
    ... on DenyTrustSuccess { peerTrust { status } }
    ... on Error { message }
  }
}

mutation Revoke($peerId: ID!) {
  revokeTrust(input: { peerId: $peerId }) {
    __typename
    ... on RevokeTrustSuccess { peerTrust { status } }
    ... on Error { message }
  }
}

query History {
  trustHistory { edges { node { id kind at actor { name } server { name } fingerprints peerTrust { peer { name } } } } }
}

subscription TrustApprovalRequired {
  trustApprovalRequired { peerTrust { id peer { id name fingerprint addresses } approvedByPeer } }
}
`;

/**
 * Failures of capacity rather than of the request: a code to act on, and 503 so that
 * a client retries (or goes to another server). Anything else is masked as usual.
 */
function capacityError(error: unknown): GraphQLError | undefined {
  if (isDatabaseUnavailable(error)) {
    return createGraphQLError('database unavailable: this server cannot reach its database right now; retry shortly', {
      extensions: { code: 'DATABASE_UNAVAILABLE', http: { status: 503 } },
    });
  }
  if (isServerBusy(error)) {
    return createGraphQLError('server busy: every database connection of this server stayed in use; retry shortly', {
      extensions: { code: 'SERVER_BUSY', http: { status: 503 } },
    });
  }
  return undefined;
}

/**
 * Yoga logs like console; pino wants an Error under `err` to keep its stack. An outage
 * or an overload fails many requests: those get one short line each, not a stack.
 */
function forwardTo(log: Logger, level: 'debug' | 'info' | 'warn' | 'error') {
  return (...args: unknown[]) => {
    const [first, ...rest] = args;
    const capacity = first instanceof Error ? capacityError(first) : undefined;
    if (capacity) log.warn({ reason: (first as Error).message }, `request failed: ${capacity.extensions['code']}`);
    else if (first instanceof Error) log[level]({ err: first }, first.message);
    else log[level](rest.length ? { details: rest } : {}, String(first));
  };
}

interface InitialContext {
  request?: Request;
  connectionParams?: Record<string, unknown>;
}

export function createApp(config: AppConfig): App {
  const log = config.logger.child({ server: config.name });
  let scope: ServerScope | undefined;
  let liveness: Liveness | undefined;
  let fingerprint = '';
  let url = '';
  const heartbeatIntervalMs = Math.round(config.heartbeatSeconds * 1000);

  const armor = new EnvelopArmor({
    maxDepth: { n: 12 },
    maxAliases: { n: 15 },
    maxTokens: { n: 2000 },
    maxDirectives: { n: 20 },
    // Its cost limit reads literals only: useQueryCost applies the variables.
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: true },
  });

  const yoga = createYoga<InitialContext & YogaInitialContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    maskedErrors: {
      maskError: (error, message, isDev) => capacityError(error) ?? maskError(error, message, isDev),
    },
    logging: {
      debug: forwardTo(log, 'debug'),
      info: forwardTo(log, 'info'),
      warn: forwardTo(log, 'warn'),
      error: forwardTo(log, 'error'),
    },
    renderGraphiQL,
    graphiql: {
      title: `peertrust: ${config.name}`,
      defaultQuery: GRAPHIQL_QUERY,
      headers: JSON.stringify({ Authorization: 'Bearer <your token>' }, null, 2),
    },
    plugins: [
      useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf'] }),
      ...armor.protect().plugins,
      useRequireAuthentication(),
      useQueryCost(),
    ],
    context: async (initial): Promise<Context> => {
      if (!scope || !liveness) throw new Error('the server is not started');
      const authorization = initial.request?.headers.get('authorization') ?? initial.connectionParams?.['authorization'];
      const auth = await authenticate(scope.db.prisma, authorization);
      return {
        scope,
        liveness,
        viewer: auth.kind === 'user' ? auth.user : null,
        authProblem: `${auth.kind === 'invalid' ? auth.reason : 'authentication required'}; send "Authorization: Bearer <token>" with a token from \`peertrust token create\``,
      };
    },
  });

  const refuse = (res: ServerResponse, status: number, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ errors: [{ message }] }));
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
      return refuse(res, 413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    }
    // Yoga would read a chunked body whole before any limit applied. GraphQL clients
    // send a Content-Length; a body without one is refused before it is read.
    if (req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined) {
      return refuse(res, 411, `send the request body with a Content-Length header (at most ${MAX_BODY_BYTES} bytes)`);
    }
    void yoga(req, res);
  };
  const httpServer = createServer(handle);
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: MAX_BODY_BYTES });
  const wsHandle = useServer<Record<string, unknown>>(
    {
      execute: (args) => (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const enveloped = yoga.getEnveloped({ connectionParams: ctx.connectionParams ?? {}, params } as never);
        const document = enveloped.parse(params.query);
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length) return errors;
        let contextValue: Context;
        try {
          contextValue = await enveloped.contextFactory();
        } catch (error) {
          // Without the database a subscriber cannot even be authenticated. Yoga has
          // already masked the error (DATABASE_UNAVAILABLE, SERVER_BUSY): it goes to the subscriber,
          // instead of closing the whole connection.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        return {
          schema: enveloped.schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue,
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
      },
    },
    wsServer,
  );

  return {
    get url() {
      return url;
    },
    get serverId() {
      if (!scope) throw new Error('the server is not started');
      return scope.serverId;
    },
    get fingerprint() {
      return fingerprint;
    },
    async start() {
      const key = await loadOrCreateRootKey(config.identityDir);
      fingerprint = key.fingerprint;
      const serverId = await registerServer(config.database, {
        name: config.name,
        addresses: config.addresses,
        publicKeyPem: key.publicKeyPem,
        fingerprint: key.fingerprint,
        heartbeatIntervalMs,
      });
      scope = { db: config.database, serverId };
      liveness = new Liveness(scope, heartbeatIntervalMs, log.child({ component: 'liveness' }));
      await liveness.start();
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.port, config.host, () => {
          httpServer.off('error', reject);
          resolve();
        });
      });
      const { port } = httpServer.address() as AddressInfo;
      const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/graphql`;
      log.info({ url, serverId, fingerprint }, 'listening');
    },
    async stop() {
      await liveness?.stop();
      await wsHandle.dispose();
      for (const client of wsServer.clients) client.terminate();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await yoga.dispose();
    },
  };
}
