// One execution per subscription event for every subscriber of one server that would
// compute the same answer: the same event object, operation, variables and token. A
// committed change is one notice object for every subscriber in the process
// (src/trust/notices.ts), so one decision to 10,000 subscribers of the console's
// subscription is one execution of its selection, not 10,000; each subscriber still
// has its own operation, limits and message, and its connection its own token checks.
// Events that are not objects (a sequence number, a server id) are not known to be one
// occurrence, so they are executed per subscriber as before. A field whose events are the
// same for every subscriber from when it subscribes goes further: its subscribers with
// one answer share one source and one execution per event (src/http/broadcasts.ts).
import { buildExecutionContext, execute, subscribe } from '@graphql-tools/executor';
import { createSourceEventStream, getOperationAST, GraphQLError, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { isAsyncIterable, mapAsyncIterator, type Plugin } from 'graphql-yoga';
import { rootField } from '../metrics.js';
import { oncePer, type OncePer } from '../trust/once-per.js';
import { Broadcast } from './broadcasts.js';
import type { ApiContext, ServerContext } from './context.js';

/** An answer with errors is sent, but not kept for later subscribers: they try again. */
class AnswerWithErrors extends Error {
  constructor(readonly result: ExecutionResult) {
    super('an event answered with errors');
  }
}

const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;

function documentId(document: DocumentNode): number {
  let id = documentIds.get(document);
  if (id === undefined) documentIds.set(document, (id = nextDocumentId++));
  return id;
}

/**
 * What makes two subscribers' answers to one event the same, besides the event: fixed for
 * a subscription, so worked out once at its start. Undefined when its answers are its own.
 */
function answerKey(args: ExecutionArgs): string | undefined {
  const { auth, scope } = args.contextValue as ApiContext;
  if (auth.kind !== 'user') return undefined;
  // Yoga's parser cache hands every subscriber of the same text the same document. The
  // server, though each app has its own answers: a token may be valid on several.
  return `${scope.serverId}\n${documentId(args.document)}\n${args.operationName ?? ''}\n${JSON.stringify(args.variableValues ?? {})}\n${auth.tokenHash}`;
}

/** The executor's subscribe, with each event executed once for the subscribers that share its answer (in `executions`), and broadcast fields served as broadcasts (`broadcasts`). */
function subscribeSharingEvents(executions: OncePer<object>, broadcasts: Map<string, Promise<Broadcast | ExecutionResult>>) {
  async function executeShared(args: ExecutionArgs, key: string | undefined, event: unknown): Promise<ExecutionResult> {
    const perEvent = { ...args, rootValue: event };
    if (key === undefined || typeof event !== 'object' || event === null) return execute(perEvent) as Promise<ExecutionResult>;
    try {
      return await executions(event, key, async () => {
        const result = (await execute(perEvent)) as ExecutionResult;
        if (result.errors) throw new AnswerWithErrors(result);
        return result;
      });
    } catch (error) {
      if (error instanceof AnswerWithErrors) return error.result;
      throw error;
    }
  }

  /** As the executor does: a stream that fails is an error of the operation. */
  const operationError = (args: ExecutionArgs) => (error: unknown) => {
    const operation = getOperationAST(args.document, args.operationName);
    return new GraphQLError((error as Error).message, { originalError: error as Error, ...(operation ? { nodes: [operation] } : {}) });
  };

  /**
   * A broadcast started with `args` (its first subscriber's), or the executor's errors;
   * `forget` once it stops. It answers without its first subscriber's connection, which
   * may close long before the broadcast ends.
   */
  async function startBroadcast(args: ExecutionArgs, field: string, forget: () => void): Promise<Broadcast | ExecutionResult> {
    const { req, res, request, delivery, ...contextValue } = args.contextValue as ApiContext & ServerContext & { request?: unknown };
    const shared = { ...args, contextValue };
    const events = await createSourceEventStream(shared);
    if (!isAsyncIterable(events)) return events;
    return new Broadcast(
      {
        events: events[Symbol.asyncIterator](),
        answer: (event) => execute({ ...shared, rootValue: event }) as Promise<ExecutionResult>,
        failure: operationError(args),
        sentDirectly: (count) => contextValue.metrics.noticesSent(field, count),
      },
      forget,
    );
  }

  async function joinBroadcast(key: string, args: ExecutionArgs, field: string): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const { delivery } = args.contextValue as ApiContext & ServerContext;
    for (;;) {
      let started = broadcasts.get(key);
      if (!started) {
        const forget = () => {
          if (broadcasts.get(key) === started) broadcasts.delete(key);
        };
        started = startBroadcast(args, field, forget);
        broadcasts.set(key, started);
        // The executor's errors are for those that asked at once: the next to ask tries again.
        started.then((outcome) => outcome instanceof Broadcast || forget(), forget);
      }
      const outcome = await started;
      if (!(outcome instanceof Broadcast)) return outcome;
      const stream = outcome.join(delivery);
      if (stream) return stream;
      // It stopped as this one came (its last subscriber left) and forgot itself: start another.
    }
  }

  return (args: ExecutionArgs) => {
    // Arguments that do not make an execution (bad variables) get the executor's own errors.
    if (Array.isArray(buildExecutionContext(args))) return subscribe(args);
    const key = answerKey(args);
    const field = rootField(args.document, args.operationName);
    if (key !== undefined && field !== undefined && args.schema.getSubscriptionType()?.getFields()[field]?.extensions['broadcast'] === true) {
      return joinBroadcast(key, args, field);
    }
    return createSourceEventStream(args).then((stream) =>
      isAsyncIterable(stream)
        ? mapAsyncIterator(stream, (event) => executeShared(args, key, event), (error: unknown) => {
            throw operationError(args)(error);
          })
        : stream,
    );
  };
}

/** Shared execution for one app's subscriptions: its answers are its own. */
export function useSharedEventExecution(): Plugin<ApiContext> {
  const subscribeFn = subscribeSharingEvents(oncePer<object>(), new Map());
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(subscribeFn as never);
    },
  };
}
