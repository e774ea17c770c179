// What each user holds open on one server: WebSocket connections, the operations on
// them, and server-sent event streams. Counted from what graphql-ws and the HTTP server
// already track, so that a count cannot drift from what is really open.
import { GraphQLError } from 'graphql';
import type { ClientLimits } from './settings.js';

type QuotaSettings = Pick<ClientLimits, 'connectionsPerUser' | 'subscriptionsPerConnection' | 'subscriptionsPerUser'>;

/** How many operations a WebSocket connection runs now. */
type OperationCount = () => number;

export class ClientQuotas {
  readonly #limits: QuotaSettings;
  readonly #connections = new Map<string, Set<OperationCount>>();
  readonly #streams = new Map<string, number>();

  constructor(limits: QuotaSettings) {
    this.#limits = limits;
  }

  /**
   * A new WebSocket connection of a user: its release, to call when it closes, or
   * undefined when the user already has as many as allowed.
   */
  addConnection(userId: string, operations: OperationCount): (() => void) | undefined {
    const connections = this.#connections.get(userId) ?? new Set();
    if (connections.size >= this.#limits.connectionsPerUser) return undefined;
    connections.add(operations);
    this.#connections.set(userId, connections);
    return () => {
      connections.delete(operations);
      if (connections.size === 0) this.#connections.delete(userId);
    };
  }

  /** A new server-sent event stream of a user; its release, to call when the response closes. */
  addStream(userId: string): () => void {
    this.#streams.set(userId, (this.#streams.get(userId) ?? 0) + 1);
    return () => {
      const left = (this.#streams.get(userId) ?? 1) - 1;
      if (left > 0) this.#streams.set(userId, left);
      else this.#streams.delete(userId);
    };
  }

  /**
   * Why a user may not start one more subscription, or undefined when it may. On a
   * WebSocket, graphql-ws counts the new operation already (`onConnection`, which includes it);
   * a server-sent event stream is not counted until it is added.
   */
  subscriptionRefused(userId: string, onConnection?: number): GraphQLError | undefined {
    const { subscriptionsPerConnection, subscriptionsPerUser } = this.#limits;
    if (onConnection !== undefined && onConnection > subscriptionsPerConnection) {
      return tooMany(`at most ${subscriptionsPerConnection} operations run at once on one connection`);
    }
    let total = (this.#streams.get(userId) ?? 0) + (onConnection === undefined ? 1 : 0);
    for (const operations of this.#connections.get(userId) ?? []) total += operations();
    if (total > subscriptionsPerUser) return tooMany(`at most ${subscriptionsPerUser} subscriptions run at once for one user`);
    return undefined;
  }
}

function tooMany(limit: string): GraphQLError {
  return new GraphQLError(`too many subscriptions: ${limit}; end one first`, {
    extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' },
  });
}
