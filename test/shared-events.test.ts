// A subscription event is executed once for every subscriber that would compute the same
// answer (src/http/shared-events.ts): the same event object, operation, variables and
// token. Here on a small schema whose resolvers count their calls, subscribed as
// graphql-ws does (Yoga's enveloped subscribe); the API's own subscriptions are tested
// end to end in subscriptions.test.ts, ha.test.ts and ha-faults.test.ts.
import { EventEmitter, on } from 'node:events';
import { GraphQLError, GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type DocumentNode, type ExecutionResult } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { expect, onTestFinished, test } from 'vitest';
import { maskApiError } from '../src/app.js';
import type { DirectDelivery } from '../src/http/broadcasts.js';
import { useSharedEventExecution } from '../src/http/shared-events.js';
import { feed, MAX_QUEUED } from '../src/trust/stoppable.js';

/** Where events come from: one emitter, and one object per event id, for every app given it. */
function eventSource() {
  return { events: new EventEmitter(), shared: new Map<string, { id: string }>() };
}

/** A small API (one app) whose resolvers count their calls; `serverId` is the server it answers for. */
function setUp({ events, shared } = eventSource(), serverId = 'server-1') {
  let resolved = 0;
  let sources = 0;
  let sentDirectly = 0;
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
        // The same events for every subscriber from when it subscribes: one broadcast per answer.
        broadcasted: {
          ...subscriptionField(() => {
            sources++;
            return feed<[string], { id: string }>(events, 'event', (push, _fail, id) => push({ id }));
          }),
          extensions: { broadcast: true },
        },
        // A broadcast whose events end at once.
        ended: {
          ...subscriptionField(() => {
            sources++;
            return (async function* () {})();
          }),
          extensions: { broadcast: true },
        },
      },
    }),
  });
  const controller = new AbortController();
  onTestFinished(() => controller.abort());
  const metrics = { noticesSent: (_field: string, count: number) => void (sentDirectly += count) };
  const yoga = createYoga({
    schema,
    logging: false,
    plugins: [useSharedEventExecution()],
    maskedErrors: { maskError: maskApiError },
    context: () => ({ signal: controller.signal, scope: { serverId }, metrics }),
  });

  /** Subscribes as graphql-ws does (with `delivery`, its next messages), for a user with `tokenHash` (or anonymous): a stream, or a single result when refused. */
  async function open(query: string | DocumentNode, tokenHash: string | null, variables: Record<string, unknown>, delivery?: DirectDelivery) {
    const auth = tokenHash === null ? { kind: 'anonymous' } : { kind: 'user', tokenHash };
    const enveloped = yoga.getEnveloped({ auth } as never);
    const contextValue = { ...(await enveloped.contextFactory()), auth, ...(delivery ? { delivery } : {}) };
    return (await enveloped.subscribe({ schema: enveloped.schema, document: typeof query === 'string' ? enveloped.parse(query) : query, variableValues: variables, contextValue })) as
      | AsyncIterableIterator<ExecutionResult>
      | ExecutionResult;
  }
  async function subscribe(query: string | DocumentNode, tokenHash: string | null, variables: Record<string, unknown> = {}, delivery?: DirectDelivery) {
    const stream = await open(query, tokenHash, variables, delivery);
    if (!(Symbol.asyncIterator in stream)) throw new Error(`refused: ${JSON.stringify(stream)}`);
    return { next: async () => (await stream.next()).value as ExecutionResult, done: async () => (await stream.next()).done, leave: () => stream.return!() };
  }
  return {
    open,
    subscribe,
    resolved: () => resolved,
    sources: () => sources,
    sentDirectly: () => sentDirectly,
    listeners: () => events.listenerCount('event'),
    emit: (id: string) => events.emit('event', id),
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

const BROADCASTED = 'subscription { broadcasted { id label } }';
const answer = (id: string) => ({ data: { broadcasted: { id, label: id } } });

test('a broadcast field: one source and one execution per event for every subscriber with the same answer; one that subscribes later gets what comes after; the source ends with its last subscriber', async () => {
  const api = setUp();
  const first = await Promise.all([0, 1, 2].map(() => api.subscribe(BROADCASTED, 'token-a')));
  const other = await api.subscribe(BROADCASTED, 'token-b');
  expect(api.sources()).toBe(2);
  await expect.poll(api.listeners).toBe(2);
  api.emit('n1');
  for (const subscriber of [...first, other]) expect(await subscriber.next()).toEqual(answer('n1'));
  expect(api.resolved()).toBe(2);

  const later = await api.subscribe(BROADCASTED, 'token-a');
  api.emit('n2');
  for (const subscriber of [...first, later]) expect(await subscriber.next()).toEqual(answer('n2'));
  expect(api.sources()).toBe(2);
  expect(api.resolved()).toBe(4);

  await Promise.all([...first, later].map((subscriber) => subscriber.leave()));
  expect(api.listeners()).toBe(1);
  // A new subscriber starts a broadcast of its own.
  const again = await api.subscribe(BROADCASTED, 'token-a');
  expect(api.sources()).toBe(3);
  await expect.poll(api.listeners).toBe(2);
  api.emit('n3');
  expect(await again.next()).toEqual(answer('n3'));
  expect(await other.next()).toEqual(answer('n2'));
  expect(await other.next()).toEqual(answer('n3'));
});

test('over graphql-ws a broadcast is written as each operation’s next message; an answer with errors, and all after it, go through its stream, as does everything once its connection cannot take one', async () => {
  const api = setUp();
  /** A connection's delivery: what it was sent, and whether it takes more. */
  const connection = () => {
    const sent: unknown[] = [];
    const delivery = { takes: true, sent, sendNext: (payload: string) => delivery.takes && sent.push(JSON.parse(payload)) > 0 };
    return delivery;
  };
  const [a, b] = [connection(), connection()];
  const overA = await api.subscribe(BROADCASTED, 'token-a', {}, a);
  const overB = await api.subscribe(BROADCASTED, 'token-a', {}, b);
  const overEvents = await api.subscribe(BROADCASTED, 'token-a');
  await expect.poll(api.listeners).toBe(1);
  api.emit('n1');
  expect(await overEvents.next()).toEqual(answer('n1'));
  expect([a.sent, b.sent]).toEqual([[answer('n1')], [answer('n1')]]);
  expect(api.sentDirectly()).toBe(2);

  b.takes = false;
  api.emit('n2');
  expect(await overEvents.next()).toEqual(answer('n2'));
  expect(a.sent).toEqual([answer('n1'), answer('n2')]);
  expect(await overB.next()).toEqual(answer('n2'));
  // b stays on its stream, in order, though it takes messages again.
  b.takes = true;
  api.emit('broken');
  api.emit('n3');
  for (const subscriber of [overA, overB, overEvents]) {
    const broken = await subscriber.next();
    expect(broken.errors?.map((error) => error.message)).toEqual(['Unexpected error.']);
    expect(await subscriber.next()).toEqual(answer('n3'));
  }
  expect(a.sent).toEqual([answer('n1'), answer('n2')]);
  expect(b.sent).toEqual([answer('n1')]);
  expect(api.sentDirectly()).toBe(3);
});

test(`a broadcast subscriber that stops reading its stream is ended ${MAX_QUEUED} answers behind, with FELL_BEHIND; the others go on`, async () => {
  const api = setUp();
  const stalled = await api.subscribe(BROADCASTED, 'token-a');
  const reading = { sent: 0, sendNext: () => ++reading.sent > 0 };
  await api.subscribe(BROADCASTED, 'token-a', {}, reading);
  await expect.poll(api.listeners).toBe(1);
  // In batches the broadcast answers as they come, so that only the stalled stream fills.
  const batch = 1_000;
  for (let sent = 0; sent <= MAX_QUEUED; sent += batch) {
    for (let n = 0; n < batch; n++) api.emit(`n${sent + n}`);
    await expect.poll(() => reading.sent, { timeout: 20_000, interval: 5 }).toBe(sent + batch);
  }
  const failed = await stalled.next().then(
    () => expect.unreachable('the stalled stream was not ended'),
    (error: GraphQLError) => error,
  );
  expect([failed.message, failed.extensions['code']]).toEqual([`this subscriber fell ${MAX_QUEUED} notices behind, so its stream ended: subscribe again`, 'FELL_BEHIND']);
  api.emit('after');
  await expect.poll(() => reading.sent).toBe(MAX_QUEUED + batch + 1);
});

test('a broadcast whose events end completes its subscribers; the next subscriber starts it again', async () => {
  const api = setUp();
  const subscriber = await api.subscribe('subscription { ended { id } }', 'token-a');
  expect(await subscriber.done()).toBe(true);
  const next = await api.subscribe('subscription { ended { id } }', 'token-a');
  expect(await next.done()).toBe(true);
  expect(api.sources()).toBe(2);
});
