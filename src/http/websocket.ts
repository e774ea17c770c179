// GraphQL over WebSocket (graphql-ws) on the API's HTTP server. A connection is
// authenticated once, at connection_init, and refused (4403) before any subscribe; each
// operation on it has its own limits and its own errors, so that one bad operation
// never closes the connection and the others on it.
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type DocumentNode, type ExecutionArgs } from 'graphql';
import { CloseCode, type SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocket, WebSocketServer } from 'ws';
import { HOLD_ENDED, type CredentialWatch } from '../auth/credential-watch.js';
import { authenticationProblem, type Authentication, type UserAuthentication } from '../auth/tokens.js';
import type { Logger } from '../logger.js';
import type { DirectDelivery } from './broadcasts.js';
import type { ClientQuotas } from './client-quotas.js';
import type { ApiContext, ServerContext } from './context.js';
import { clientAddress, rateLimitedError, type RequestRates } from './request-rates.js';

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

/** What graphql-ws runs: the operation, with Yoga's execute and subscribe as its root. */
function operation(enveloped: Enveloped, params: SubscribePayload, document: DocumentNode, contextValue: unknown) {
  return {
    schema: enveloped.schema,
    operationName: params.operationName,
    document,
    variableValues: params.variables,
    contextValue,
    rootValue: enveloped,
  };
}

/** A close reason fits in 123 bytes (RFC 6455; ws throws on a longer one): cut, whole characters, and marked so. */
function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  const characters = [...reason];
  while (Buffer.byteLength(characters.join('')) > 120) characters.pop();
  return `${characters.join('')}…`;
}

/** Operation `id`'s next messages as graphql-ws writes them (GraphQL over WebSocket's `next`), for broadcasts. */
function directDelivery(socket: WebSocket, id: string): DirectDelivery {
  const envelope = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  return {
    sendNext(payload) {
      if (socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > 0) return false;
      socket.send(`${envelope}${payload}}`);
      return true;
    },
  };
}

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
    socket.close(code, closeReason(reason));
    return false;
  };

  /** Counts a signed-in connection for its user and watches its token; false when it was refused. */
  const admit = (ctx: { subscriptions: Record<string, unknown>; extra: { socket: WebSocket } }, auth: UserAuthentication) => {
    const { socket } = ctx.extra;
    // It left while we were asking the database: onClose has already run.
    if (socket.readyState !== WebSocket.OPEN) return false;
    // Acknowledged while the database was out, its first operations authenticate at once:
    // the first admits it; counting it again would leave a slot and a hold never released.
    if (connections.has(ctx)) return true;
    const releaseQuota = api.quotas.addConnection(auth.user.id, () => Object.keys(ctx.subscriptions).length);
    if (!releaseQuota) {
      return refuse(socket, CloseCode.TooManyInitialisationRequests, `too many connections: at most ${api.connectionsPerUser} per user`);
    }
    const releaseHold = api.credentials.hold(auth, () =>
      socket.close(CloseCode.Forbidden, HOLD_ENDED),
    );
    connections.set(ctx, { auth, release: () => (releaseQuota(), releaseHold()) });
    return true;
  };

  const refusedToken = (socket: WebSocket, address: string, auth: Exclude<Authentication, UserAuthentication>) => {
    void api.rates.refusedToken(address);
    return refuse(socket, CloseCode.Forbidden, authenticationProblem(auth, 'send connectionParams.authorization "Bearer <token>"'));
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
          // The database is out: acknowledged now, authenticated at its first operation,
          // which gets DATABASE_UNAVAILABLE like any request until the database is back.
          api.log.warn({ reason: (error as Error).message }, 'could not authenticate a WebSocket connection yet');
          return true;
        }
        if (auth.kind !== 'user') return refusedToken(socket, clientAddress(request), auth);
        const wait = await api.rates.operation(auth.tokenHash);
        if (wait !== undefined) return refuse(socket, CloseCode.TooManyInitialisationRequests, `too many requests: retry in ${wait} s`);
        return admit(ctx, auth);
      },
      onClose: (ctx) => connections.get(ctx)?.release(),
      onSubscribe: async (ctx, id, params) => {
        const connection = connections.get(ctx);
        if (connection) {
          const refused = api.quotas.subscriptionRefused(connection.auth.user.id, Object.keys(ctx.subscriptions).length);
          if (refused) return [refused];
          const wait = await api.rates.operation(connection.auth.tokenHash);
          if (wait !== undefined) return [rateLimitedError(wait)];
        }
        const enveloped = api.yoga.getEnveloped({
          connectionParams: ctx.connectionParams ?? {},
          ...(connection ? { auth: connection.auth } : {}),
          delivery: directDelivery(ctx.extra.socket, id),
          params,
        } as never);
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
        // A connection acknowledged while the database was out is authenticated now.
        if (!connection) {
          const { auth } = contextValue;
          if (auth.kind !== 'user') refusedToken(ctx.extra.socket, clientAddress(ctx.extra.request), auth);
          else if (admit(ctx, auth)) return operation(enveloped, params, document, contextValue);
          return [new GraphQLError('this connection was refused')];
        }
        return operation(enveloped, params, document, contextValue);
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
