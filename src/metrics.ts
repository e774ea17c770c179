// What a server measures for /metrics (Prometheus, with prom-client): decisions by
// kind and outcome, live subscriptions, notices sent, request latency, the database
// pool, and Node's process metrics. Each server has a registry of its own, so that
// several servers in one process (tests) never share or collide.
import { performance } from 'node:perf_hooks';
import { getOperationAST, Kind, type DocumentNode, type OperationTypeNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from './db/client.js';

export type DecisionKind = 'approve' | 'deny' | 'revoke' | 'decommission';

let processRegistry: Registry | undefined;

/**
 * Node's process metrics (CPU, memory, event loop, GC) belong to the process, however
 * many servers it runs; and each collection starts monitors that are never stopped.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class ServerMetrics {
  /** This server's metrics and the process's, for the exposition. */
  readonly registry: Registry;
  readonly #decisions: Counter<'kind' | 'outcome'>;
  readonly #subscriptions: Gauge<'field'>;
  readonly #notices: Counter<'field'>;
  readonly #requestSeconds: Histogram<'operation'>;

  constructor(database: Database) {
    const own = new Registry();
    const registers = [own];
    this.#decisions = new Counter({
      name: 'peertrust_decisions_total',
      help: 'Trust decisions asked of this server, by kind and by what the API answered (the result union member, or "error").',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.#subscriptions = new Gauge({
      name: 'peertrust_subscriptions',
      help: 'Live subscriptions (graphql-ws and SSE), by subscription field.',
      labelNames: ['field'],
      registers,
    });
    this.#notices = new Counter({
      name: 'peertrust_notices_sent_total',
      help: 'Notices sent to subscribers, by subscription field.',
      labelNames: ['field'],
      registers,
    });
    this.#requestSeconds = new Histogram({
      name: 'peertrust_graphql_request_duration_seconds',
      help: 'GraphQL requests over HTTP from arrival to response, by operation type.',
      labelNames: ['operation'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    const poolGauge = (name: string, help: string, read: (use: ReturnType<Database['poolUse']>) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(database.poolUse()));
        },
      });
    poolGauge('peertrust_db_pool_connections', 'Database connections open in this process, in use or idle.', (use) => use.total);
    poolGauge('peertrust_db_pool_idle_connections', 'Open database connections not in use.', (use) => use.idle);
    poolGauge('peertrust_db_pool_waiting_requests', 'Requests queued for a free database connection.', (use) => use.waiting);
    poolGauge('peertrust_db_pool_max_connections', 'The most database connections this process opens (DATABASE_POOL_SIZE).', (use) => use.max);
    this.registry = Registry.merge([processMetrics(), own]);
  }

  /** `count` notices of `field` sent past the subscribers' streams (src/http/broadcasts.ts); those on them are counted there. */
  noticesSent(field: string, count: number): void {
    this.#notices.inc({ field }, count);
  }

  /** A decision answered `outcome`: its result type's name, or "error". */
  decided(kind: DecisionKind, outcome: string): void {
    this.#decisions.inc({ kind, outcome });
  }

  /**
   * Feeds the subscription, notice and latency metrics from Yoga's request pipeline
   * (HTTP, SSE, and graphql-ws through the same envelop).
   */
  plugin(): Plugin {
    const arrived = new WeakMap<Request, number>();
    const operations = new WeakMap<Request, OperationTypeNode>();
    return {
      onRequest: ({ request }) => {
        arrived.set(request, performance.now());
      },
      onExecute: ({ args }) => {
        const operation = getOperationAST(args.document, args.operationName)?.operation;
        if (args.contextValue.request && operation) operations.set(args.contextValue.request, operation);
      },
      onResponse: ({ request }) => {
        const start = arrived.get(request);
        const operation = operations.get(request);
        // Requests that ran no query or mutation (GraphiQL's page, a malformed body, an SSE stream) have no latency to speak of.
        if (start !== undefined && operation) this.#requestSeconds.observe({ operation }, (performance.now() - start) / 1000);
      },
      onSubscribe: ({ args }) => {
        const field = rootField(args.document, args.operationName) ?? 'unknown';
        return {
          onSubscribeResult: ({ result }) => {
            // A refused subscription is a single result, not a stream.
            if (!(Symbol.asyncIterator in result)) return undefined;
            this.#subscriptions.inc({ field });
            return {
              onNext: () => {
                this.#notices.inc({ field });
              },
              onEnd: () => {
                this.#subscriptions.dec({ field });
              },
            };
          },
        };
      },
    };
  }
}

/** The subscription's field (one per subscription operation, by validation), when it is a plain field. */
export function rootField(document: DocumentNode, operationName?: string | null): string | undefined {
  const selection = getOperationAST(document, operationName)?.selectionSet.selections[0];
  return selection?.kind === Kind.FIELD ? selection.name.value : undefined;
}
