// GraphQL over WebSocket (graphql-ws) on the API's HTTP server. A connection is
// authenticated once, at connection_init, and refused (4403) before any subscribe; each
// operation on it has its own limits and its own errors, so that one bad operation
// never closes the connection and the others on it.
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocket, WebSocketServer } from 'ws';
import type { CredentialWatch } from '../auth/credential-watch.js';
import type { Authentication, UserAuthentication } from '../auth/tokens.js';
import type { Logger } from '../logger.js';
import type { ClientQuotas } from './client-quotas.js';
import type { ApiContext, ServerContext } from './context.js';
import { clientAddress, rateLimitedError, type RequestRates } from './request-rates.js';

/** WebSocket's own "try again later": the client reconnects (here or on another server). */
const TRY_AGAIN_LATER = 1013;

export interface WebSocketApi {
  yoga: YogaServerInstance<ServerContext, ApiContext>;
  authenticate(authorization: unknown): Promise<Authentication>;
  rates: RequestRates;
  quotas: ClientQuotas;
  credentials: CredentialWatch;
  connectionsPerUser: number;
  /** Larger messages close the connection (ws's maxPayload). */
  maxMessageBytes: number;
  log: Logger;
}

interface Connection {
  auth: UserAuthentication;
  release(): void;
}

type Enveloped = ReturnType<WebSocketApi['yoga']['getEnveloped']>;

/** Serves graphql-ws on `path` of `httpServer`; upgrades are rate-limited like requests. */
export function serveWebSocket(httpServer: Server, path: string, api: WebSocketApi) {
  const wsServer = new WebSocketServer({ noServer: true, path, maxPayload: api.maxMessageBytes });
  const connections = new WeakMap<object, Connection>();

  httpServer.on('upgrade', (request, socket: Duplex, head) => {
    if (!wsServer.shouldHandle(request)) return void socket.destroy();
    void api.rates.admit(request).then((wait) => {
      if (wait !== undefined) {
        socket.end(`HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${wait}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
    });
  });

  const refuse = (socket: WebSocket, code: number, reason: string) => {
    socket.close(code, reason);
    return false;
  };

  const handle = useServer<Record<string, unknown>>(
    {
      execute: (args) => (args.rootValue as Enveloped).execute(args as ExecutionArgs),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args as ExecutionArgs),
      onConnect: async (ctx) => {
        const { socket, request } = ctx.extra;
        let auth: Authentication;
        try {
          auth = await api.authenticate(ctx.connectionParams?.['authorization']);
        } catch (error) {
          api.log.warn({ reason: (error as Error).message }, 'could not authenticate a WebSocket connection');
          return refuse(socket, TRY_AGAIN_LATER, 'cannot authenticate right now; retry shortly');
        }
        if (auth.kind !== 'user') {
          await api.rates.refusedToken(clientAddress(request));
          const problem = auth.kind === 'invalid' ? auth.reason : 'authentication required';
          return refuse(socket, CloseCode.Forbidden, `${problem}: send connectionParams.authorization "Bearer <token>"`);
        }
        const wait = await api.rates.operation(auth.tokenHash);
        if (wait !== undefined) return refuse(socket, CloseCode.TooManyInitialisationRequests, `too many requests: retry in ${wait} s`);
        // It left while we were asking the database: onClose has already run.
        if (socket.readyState !== WebSocket.OPEN) return false;
        const releaseQuota = api.quotas.addConnection(auth.user.id, () => Object.keys(ctx.subscriptions).length);
        if (!releaseQuota) {
          return refuse(socket, CloseCode.TooManyInitialisationRequests, `too many connections: at most ${api.connectionsPerUser} per user`);
        }
        const releaseHold = api.credentials.hold(auth, () =>
          socket.close(CloseCode.Forbidden, 'the token was revoked or its role changed: authenticate again'),
        );
        connections.set(ctx, { auth, release: () => (releaseQuota(), releaseHold()) });
        return true;
      },
      onClose: (ctx) => connections.get(ctx)?.release(),
      onSubscribe: async (ctx, _id, params) => {
        const connection = connections.get(ctx);
        if (!connection) return [new GraphQLError('the connection is not authenticated')];
        const refused = api.quotas.subscriptionRefused(connection.auth.user.id, Object.keys(ctx.subscriptions).length);
        if (refused) return [refused];
        const wait = await api.rates.operation(connection.auth.tokenHash);
        if (wait !== undefined) return [rateLimitedError(wait)];
        const enveloped = api.yoga.getEnveloped({ connectionParams: ctx.connectionParams ?? {}, auth: connection.auth, params } as never);
        let document;
        try {
          // Syntax errors and graphql-armor's limits throw: an error for this operation only.
          document = enveloped.parse(params.query);
          const errors = enveloped.validate(enveloped.schema, document);
          if (errors.length) return errors;
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        let contextValue;
        try {
          contextValue = await enveloped.contextFactory();
        } catch (error) {
          // Already masked by Yoga (DATABASE_UNAVAILABLE, SERVER_BUSY): for this operation only.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        return {
          schema: enveloped.schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue,
          rootValue: enveloped,
        };
      },
    },
    wsServer,
  );

  return {
    async close() {
      await handle.dispose();
      for (const client of wsServer.clients) client.terminate();
    },
  };
}
