// The typed peertrust client: urql over HTTP for queries and mutations, graphql-ws for
// subscriptions, with a bearer token on both.
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';

export * from './gql/graphql.js';

export interface PeertrustClientOptions {
  /** The GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  url: string;
  /** A token from `peertrust token create`; omit for anonymous requests. */
  token?: string;
}

export interface PeertrustClient {
  readonly urql: Client;
  readonly ws: WsClient;
  /** Closes the WebSocket. */
  close(): Promise<void>;
}

export function createPeertrustClient(options: PeertrustClientOptions): PeertrustClient {
  const authorization = options.token ? `Bearer ${options.token}` : undefined;
  const ws = createWsClient({
    url: options.url.replace(/^http/, 'ws'),
    // Node 20 has no global WebSocket.
    webSocketImpl: WebSocket,
    connectionParams: authorization ? { authorization } : {},
    lazy: true,
    retryAttempts: 5,
  });
  const urql = new Client({
    url: options.url,
    // Yoga's CSRF prevention refuses GET without a custom header; POST needs none.
    preferGetMethod: false,
    requestPolicy: 'network-only',
    fetchOptions: () => (authorization ? { headers: { authorization } } : {}),
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
        }),
      }),
    ],
  });
  return { urql, ws, close: async () => ws.dispose() };
}
