// The typed peertrust client: urql over HTTP for queries and mutations, graphql-ws for
// subscriptions, with a bearer token on both. Given several servers of one cluster, it
// uses one at a time and moves to the next when that one stops answering.
import { Client, fetchExchange, makeOperation, mapExchange, subscriptionExchange, type CombinedError, type Operation } from '@urql/core';
import { retryExchange } from '@urql/exchange-retry';
import { CloseCode, createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { print } from 'graphql';
import WebSocket from 'ws';
import { Endpoints } from './endpoints.js';
import { TrustEventsDocument, type TrustEventFieldsFragment, type TrustEventsSubscription, type TrustEventsSubscriptionVariables } from './gql/graphql.js';

export * from './gql/graphql.js';
export { byThirdServer, eventKeys, eventSubject } from './events.js';
export { instanceLabel, namesAmong } from './names.js';

export interface PeertrustClientOptions {
  /**
   * The GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql, or several endpoints of
   * one cluster in order of preference.
   */
  url: string | readonly string[];
  /** A token from `peertrust token create`; omit for anonymous requests. */
  token?: string;
  /** Called with the new endpoint each time the client moves to another server. */
  onFailover?: (url: string) => void;
  /**
   * A request with no answer for this long fails, and a query moves to the next
   * server: a frozen server accepts connections but never answers. The default, 65 s,
   * is above the longest a server takes before it gives up itself (20 s to get a
   * connection to authenticate, 20 s to get one for the transaction, a decision's turn
   * included, 20 s to run it).
   */
  requestTimeoutMs?: number;
}

export interface PeertrustClient {
  readonly urql: Client;
  readonly ws: WsClient;
  /** The endpoint in use now. Its server is `thisServer`: the one that decides what you approve. */
  readonly url: string;
  /** Closes the WebSocket and stops reconnecting. */
  close(): Promise<void>;
}

/**
 * A server that answers with these cannot serve right now (no database, or every
 * connection busy) while another server of the cluster may.
 */
const MOVE_ON_CODES = new Set(['DATABASE_UNAVAILABLE', 'SERVER_BUSY']);

function answeredCannotServe(error: CombinedError): boolean {
  return error.graphQLErrors.some((e) => MOVE_ON_CODES.has(String(e.extensions['code'])));
}

/**
 * A ping every KEEP_ALIVE_MS; with no pong within PONG_TIMEOUT_MS the server is taken
 * as gone without closing the connection, and the client moves on.
 */
const KEEP_ALIVE_MS = 10_000;
const PONG_TIMEOUT_MS = 5_000;

/**
 * `fetch` with a time limit, kept by a timer of its own. Not AbortSignal.any over
 * AbortSignal.timeout: on Node 20 a garbage collection can take the timeout away, and the
 * request then waits for ever on a server that never answers (nodejs/node#57736). The
 * timer also covers the body, so it is left to fire (unref'd: it keeps no process alive).
 */
function fetchWithin(ms: number, input: Parameters<typeof fetch>[0], init: RequestInit | undefined): Promise<Response> {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms).unref();
  const cancel = init?.signal;
  if (cancel?.aborted) controller.abort(cancel.reason);
  else cancel?.addEventListener('abort', () => controller.abort(cancel.reason), { once: true });
  return fetch(input, { ...init, signal: controller.signal });
}

/**
 * What moves to another server and what does not: queries are retried there, also
 * when a server answers that it cannot serve right now, and subscriptions
 * re-subscribe there. A mutation is never sent again: it may have been committed
 * before the connection broke, and on another server it would be that server's
 * decision. It fails with its error; the next request goes to the next server.
 */
export function createPeertrustClient(options: PeertrustClientOptions): PeertrustClient {
  const endpoints = new Endpoints(typeof options.url === 'string' ? [options.url] : options.url, options.onFailover);
  const authorization = options.token ? `Bearer ${options.token}` : undefined;
  const requestTimeoutMs = options.requestTimeoutMs ?? 65_000;
  // A server that accepts connections and never answers must not hold a (re)connection
  // for ever: its upgrade and its acknowledgement each have this long, then the next server.
  const connectTimeoutMs = Math.min(requestTimeoutMs, 10_000);
  class TimedWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { handshakeTimeout: connectTimeoutMs });
    }
  }

  /** The endpoint the WebSocket connected to last. */
  let wsEndpoint = '';
  let pongTimeout: NodeJS.Timeout | undefined;
  const ws = createWsClient({
    url: () => {
      wsEndpoint = endpoints.current;
      return wsEndpoint.replace(/^http/, 'ws');
    },
    // Node 20 has no global WebSocket.
    webSocketImpl: TimedWebSocket,
    connectionAckWaitTimeout: connectTimeoutMs,
    connectionParams: authorization ? { authorization } : {},
    lazy: true,
    // A cluster outlives its servers: keep trying; active subscriptions are re-sent on reconnect.
    retryAttempts: Infinity,
    retryWait: (retries) => endpoints.retryDelay(retries),
    // A token that was refused or revoked does not become valid by asking again.
    shouldRetry: (event) => (event as { code?: unknown }).code !== CloseCode.Forbidden,
    keepAlive: KEEP_ALIVE_MS,
    on: {
      closed: (event) => {
        clearTimeout(pongTimeout);
        // 1000 is the client's own close (no subscription left); anything else is a lost server.
        if ((event as { code?: number }).code !== 1000) endpoints.failed(wsEndpoint);
      },
      ping: (received) => {
        if (!received) pongTimeout = setTimeout(() => ws.terminate(), PONG_TIMEOUT_MS);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimeout);
      },
    },
  });

  const toCurrent = (operation: Operation) =>
    makeOperation(operation.kind, operation, { ...operation.context, url: endpoints.current });
  const urql = new Client({
    url: endpoints.current,
    // Yoga's CSRF prevention refuses GET without a custom header; POST needs none.
    preferGetMethod: false,
    requestPolicy: 'network-only',
    fetchOptions: () => (authorization ? { headers: { authorization } } : {}),
    // urql sets its own signal (to cancel): add the time limit to it.
    fetch: (input, init) => fetchWithin(requestTimeoutMs, input, init),
    exchanges: [
      mapExchange({
        onOperation: toCurrent,
        onError: (error, operation) => {
          if (error.networkError || answeredCannotServe(error)) endpoints.failed(operation.context.url);
        },
      }),
      retryExchange({
        initialDelayMs: 50,
        maxDelayMs: 2_000,
        maxNumberAttempts: endpoints.size * 2,
        // A network error may pass; a server that answered it cannot serve is not asked
        // again at once: its answer goes to the caller unless another server can be asked.
        retryIf: (error, operation) =>
          operation.kind === 'query' && (Boolean(error.networkError) || (endpoints.size > 1 && answeredCannotServe(error))),
        retryWith: (_error, operation) => {
          endpoints.failed(operation.context.url);
          return toCurrent(operation);
        },
      }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
        }),
      }),
    ],
  });
  return {
    urql,
    ws,
    get url() {
      return endpoints.current;
    },
    close: async () => {
      clearTimeout(pongTimeout);
      // A connection being retried when the last subscription ended rejects with its
      // close event ("All Subscriptions Gone"): nothing is left open, which is the point.
      try {
        await ws.dispose();
      } catch (error) {
        if (typeof (error as { code?: unknown } | null)?.code !== 'number') throw error;
      }
    },
  };
}

export type TrustEvent = TrustEventFieldsFragment;

/**
 * Follows the Trust History (of one peer, with `peerId`) after sequence `after`: what
 * was committed, then each event as it commits, each once, in order, across reconnects
 * and moves to another server: the subscription is sent again from the last sequence
 * received. Returns the function that stops it.
 */
export function followTrustEvents(
  client: PeertrustClient,
  options: { after?: number; peerId?: string },
  onEvent: (event: TrustEvent) => void,
  onError: (error: unknown) => void = () => {},
): () => void {
  // graphql-ws sends this same payload again when it reconnects: it carries the cursor.
  const variables: TrustEventsSubscriptionVariables = { after: options.after ?? 0, ...(options.peerId ? { peerId: options.peerId } : {}) };
  let last = variables.after ?? 0;
  return client.ws.subscribe<TrustEventsSubscription>(
    { query: print(TrustEventsDocument), variables },
    {
      next: ({ data, errors }) => {
        if (errors?.length) return onError(errors);
        const event = data?.trustEvents;
        if (!event || event.sequence <= last) return;
        last = variables.after = event.sequence;
        onEvent(event);
      },
      error: onError,
      complete: () => {},
    },
  );
}
