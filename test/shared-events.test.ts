// A subscription event is executed once for every subscriber that would compute the same
// answer (src/http/shared-events.ts): the same event object, operation, variables and
// token. Here on a small schema whose resolvers count their calls, subscribed as
// graphql-ws does (Yoga's enveloped subscribe); the API's own subscriptions are tested
// end to end in subscriptions.test.ts, ha.test.ts and ha-faults.test.ts.
import { EventEmitter, on } from 'node:events';
import { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type DocumentNode, type ExecutionResult } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { expect, onTestFinished, test } from 'vitest';
import { useSharedEventExecution } from '../src/http/shared-events.js';

/** Where events come from: one emitter, and one object per event id, for every app given it. */
function eventSource() {
  return { events: new EventEmitter(), shared: new Map<string, { id: string }>() };
}

/** A small API (one app) whose resolvers count their calls; `serverId` is the server it answers for. */
function setUp({ events, shared } = eventSource(), serverId = 'server-1') {
  let resolved = 0;
  const Notice = new GraphQLObjectType<{ id: string }, { scope: { serverId: string } }>({
    name: 'Notice',
    fields: {
      id: { type: new GraphQLNonNull(GraphQLString) },
      label: {
        type: new GraphQLNonNull(GraphQLString),
        args: { prefix: { type: GraphQLString } },
        resolve: (notice: { id: string }, { prefix }: { prefix?: string }) => {
          resolved++;
          if (notice.id === 'broken') throw new Error('the notice could not be read');
          return `${prefix ?? ''}${notice.id}`;
        },
      },
      length: { type: GraphQLInt, resolve: (notice: { id: string }) => notice.id.length },
      server: { type: GraphQLString, resolve: (_notice, _args, context) => context.scope.serverId },
    },
  });
  /** Each subscriber's stream yields the very object emitted, as the API's notices do. */
  async function* emitted(signal: AbortSignal, map: (value: string) => unknown = (id) => ({ id })) {
    for await (const [value] of on(events, 'event', { signal })) yield map(value as string);
  }
  const subscriptionField = (source: (signal: AbortSignal) => AsyncIterable<unknown>) => ({
    type: new GraphQLNonNull(Notice),
    subscribe: (_root: unknown, _args: unknown, context: { signal: AbortSignal }) => source(context.signal),
    resolve: (event: unknown) => event,
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLString } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        // One object per event for every subscriber.
        changed: subscriptionField((signal) => emitted(signal, (id) => shared.get(id) ?? shared.set(id, { id }).get(id))),
        // A string per event: not known to be one occurrence.
        ticked: { ...subscriptionField((signal) => emitted(signal, (id) => id)), resolve: (id: string) => ({ id }) },
      },
    }),
  });
  const controller = new AbortController();
  onTestFinished(() => controller.abort());
  const yoga = createYoga({ schema, logging: false, plugins: [useSharedEventExecution()], context: () => ({ signal: controller.signal, scope: { serverId } }) });

  /** Subscribes as graphql-ws does, for a user with `tokenHash` (or anonymous): a stream, or a single result when refused. */
  async function open(query: string | DocumentNode, tokenHash: string | null, variables: Record<string, unknown>) {
    const auth = tokenHash === null ? { kind: 'anonymous' } : { kind: 'user', tokenHash };
    const enveloped = yoga.getEnveloped({ auth } as never);
    const contextValue = { ...(await enveloped.contextFactory()), auth };
    return (await enveloped.subscribe({ schema: enveloped.schema, document: typeof query === 'string' ? enveloped.parse(query) : query, variableValues: variables, contextValue })) as
      | AsyncIterableIterator<ExecutionResult>
      | ExecutionResult;
  }
  async function subscribe(query: string | DocumentNode, tokenHash: string | null, variables: Record<string, unknown> = {}) {
    const stream = await open(query, tokenHash, variables);
    if (!(Symbol.asyncIterator in stream)) throw new Error(`refused: ${JSON.stringify(stream)}`);
    return { next: async () => (await stream.next()).value as ExecutionResult };
  }
  return {
    open,
    subscribe,
    resolved: () => resolved,
    /** Emits `id` once every one of `subscribers` listens (a stream starts at its first next()); their answers. */
    async deliver(subscribers: { next(): Promise<ExecutionResult> }[], id: string) {
      const answers = Promise.all(subscribers.map((subscriber) => subscriber.next()));
      await expect.poll(() => events.listenerCount('event')).toBe(subscribers.length);
      events.emit('event', id);
      return answers;
    },
  };
}

const CHANGED = 'subscription { changed { id label } }';

test('one event to subscribers of the same operation with the same token is executed once; each gets the answer', async () => {
  const api = setUp();
  const subscribers = await Promise.all(Array.from({ length: 5 }, () => api.subscribe(CHANGED, 'token-a')));
  for (const answer of await api.deliver(subscribers, 'n1')) expect(answer).toEqual({ data: { changed: { id: 'n1', label: 'n1' } } });
  expect(api.resolved()).toBe(1);
});

test('another token, another selection or other variables get an execution of their own', async () => {
  const api = setUp();
  const withPrefix = 'subscription($p: String) { changed { id label(prefix: $p) } }';
  const subscribers = await Promise.all([
    api.subscribe(CHANGED, 'token-a'),
    api.subscribe(CHANGED, 'token-b'),
    api.subscribe('subscription { changed { label length } }', 'token-a'),
    api.subscribe(withPrefix, 'token-a', { p: 'x:' }),
    api.subscribe(withPrefix, 'token-a', { p: 'y:' }),
    api.subscribe(CHANGED, null),
  ]);
  expect((await api.deliver(subscribers, 'n2')).map((answer) => answer.data)).toEqual([
    { changed: { id: 'n2', label: 'n2' } },
    { changed: { id: 'n2', label: 'n2' } },
    { changed: { label: 'n2', length: 2 } },
    { changed: { id: 'n2', label: 'x:n2' } },
    { changed: { id: 'n2', label: 'y:n2' } },
    { changed: { id: 'n2', label: 'n2' } },
  ]);
  expect(api.resolved()).toBe(6);
});

test('two apps in one process, given the same event and the same token, each answer for their own server', async () => {
  const source = eventSource();
  const apps = [setUp(source, 'server-1'), setUp(source, 'server-2')];
  // One document for both, as a shared parser cache would give: only the server tells their answers apart.
  const query = parse('subscription { changed { id server } }');
  const subscribers = await Promise.all(apps.flatMap((app) => [app.subscribe(query, 'token-a'), app.subscribe(query, 'token-a')]));
  expect((await apps[0]!.deliver(subscribers, 'n4')).map((answer) => answer.data)).toEqual([
    { changed: { id: 'n4', server: 'server-1' } },
    { changed: { id: 'n4', server: 'server-1' } },
    { changed: { id: 'n4', server: 'server-2' } },
    { changed: { id: 'n4', server: 'server-2' } },
  ]);
});

test('events that are not one object (a string) are executed for each subscriber', async () => {
  const api = setUp();
  const subscribers = await Promise.all([0, 1, 2].map(() => api.subscribe('subscription { ticked { id label } }', 'token-a')));
  expect((await api.deliver(subscribers, 't1')).map((answer) => answer.data)).toEqual(Array(3).fill({ ticked: { id: 't1', label: 't1' } }));
  expect(api.resolved()).toBe(3);
});

test('an answer with errors reaches every subscriber waiting for it, and the next event is executed afresh', async () => {
  const api = setUp();
  const subscribers = await Promise.all([0, 1].map(() => api.subscribe(CHANGED, 'token-a')));
  for (const answer of await api.deliver(subscribers, 'broken')) {
    expect(answer.data).toBeNull();
    expect(answer.errors?.map((error) => error.message)).toEqual(['Unexpected error.']);
  }
  for (const answer of await api.deliver(subscribers, 'n3')) expect(answer).toEqual({ data: { changed: { id: 'n3', label: 'n3' } } });
  expect(api.resolved()).toBe(2);
});

test('bad variables get the executor’s own error, and no stream', async () => {
  const api = setUp();
  const refused = await api.open('subscription($p: String!) { changed { label(prefix: $p) } }', 'token-a', {});
  expect(Symbol.asyncIterator in refused).toBe(false);
  const { errors } = refused as ExecutionResult;
  expect(errors?.map((error) => [error.message, error.extensions['code']])).toEqual([['Variable "$p" of required type "String!" was not provided.', 'BAD_USER_INPUT']]);
});
