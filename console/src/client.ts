// The console's GraphQL client: urql over HTTP for queries and mutations, graphql-ws
// (the browser's WebSocket) for live data, both with the signed-in token.
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { cacheExchange, Client, fetchExchange, mapExchange, subscriptionExchange, type CombinedError } from 'urql';

export interface ConsoleConnection {
  urql: Client;
  ws: WsClient;
}

export interface ConnectionEvents {
  /** The WebSocket is up; `again` after it was lost, when live data may have been missed. */
  onLive(again: boolean): void;
  onLost(): void;
  /** The server no longer accepts the token (revoked, expired or wrong). */
  onRefused(reason: string): void;
}

/** graphql-ws close codes a server uses to refuse a connection's credentials. */
const REFUSED_CLOSE_CODES = new Set([4401, 4403]);

const closeCode = (event: unknown) => (event as { code?: number } | undefined)?.code;

export function connect(token: string, events: ConnectionEvents): ConsoleConnection {
  const authorization = `Bearer ${token}`;
  const endpoint = new URL('/graphql', location.href);
  const ws = createWsClient({
    url: endpoint.href.replace(/^http/, 'ws'),
    connectionParams: { authorization },
    // A server restarts or fails over: keep trying, except when it refused the token.
    retryAttempts: Infinity,
    shouldRetry: (event) => !REFUSED_CLOSE_CODES.has(closeCode(event) ?? 0),
    on: {
      connected: (_socket, _payload, wasRetry) => events.onLive(wasRetry),
      closed: (event) => {
        const code = closeCode(event);
        if (code !== undefined && REFUSED_CLOSE_CODES.has(code)) {
          events.onRefused((event as { reason?: string }).reason || 'the server refused the token');
        } else events.onLost();
      },
    },
  });
  const urql = new Client({
    url: endpoint.pathname,
    // POST needs no CSRF header; GET would (Yoga's CSRF prevention).
    preferGetMethod: false,
    // A page shown again shows what it had at once, and what is true now right after.
    requestPolicy: 'cache-and-network',
    fetchOptions: { headers: { authorization } },
    exchanges: [
      mapExchange({
        onError: (error) => {
          const refused = error.graphQLErrors.find((e) => e.extensions['code'] === 'UNAUTHENTICATED');
          if (refused) events.onRefused(refused.message);
        },
      }),
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
        }),
      }),
    ],
  });
  return { urql, ws };
}

/** What went wrong with a request, in words a person can act on. */
export function describeError(error: CombinedError): string {
  const graphQLError = error.graphQLErrors[0];
  if (graphQLError) return graphQLError.message;
  return `the server could not be reached (${error.networkError?.message ?? 'no answer'}); check that it is running and try again`;
}
