// Live notices wait on an event emitter: as a feed (one iterator pushed to by its
// listener), or as async generators where they read between events. A generator's own
// return() waits until it reaches its next yield, which for a quiet feed is never: a
// cancelled subscriber would keep its listener, its generator and everything they hold.
import type { EventEmitter } from 'node:events';
import { Repeater } from '@repeaterjs/repeater';

/**
 * Runs `generate` as an iterator whose return() ends it at once: the signal given to
 * `generate` aborts, which ends a pending `eventsOf(emitter, event, signal)` and
 * removes its listener, and the generator unwinds through its `finally` blocks.
 */
export function stoppable<T>(generate: (signal: AbortSignal) => AsyncIterable<T>): AsyncIterableIterator<T> {
  return new Repeater<T>(async (push, stop) => {
    const controller = new AbortController();
    void stop.then(() => controller.abort());
    try {
      for await (const value of generate(controller.signal)) await push(value);
    } catch (error) {
      // The abort itself, or whatever a read under way met while the subscriber left.
      if (!controller.signal.aborted) throw error;
    }
  });
}

/** Notices a subscriber may fall behind by: one whose client stopped reading ends, rather than hold more. */
export const MAX_QUEUED = 10_000;

/** A subscriber fell MAX_QUEUED notices behind: its stream ended. The client's to act on (subscribe again). */
export class FellBehindError extends Error {
  override name = 'FellBehindError';
  constructor() {
    super(`this subscriber fell ${MAX_QUEUED} notices behind, so its stream ended: subscribe again`);
  }
}

/**
 * Each emission of `event` (its arguments), from now until `signal` aborts: a feed that
 * pushes each one, for generators that read between events. As node:events' on() does,
 * but that allocates two 2,048-slot queues (about 32 KB) per call: once per live
 * subscription.
 */
export function eventsOf<Args extends unknown[]>(emitter: EventEmitter, event: string, signal: AbortSignal): AsyncIterableIterator<Args> {
  const events = feed<Args, Args>(emitter, event, (push, _fail, ...args) => push(args));
  const stop = () => void events.return!();
  if (signal.aborted) stop();
  else signal.addEventListener('abort', stop, { once: true });
  return events;
}

/**
 * What `handle` pushes for each emission of `event`, from now until return(), none lost
 * while the reader is busy (up to MAX_QUEUED, then it fails with FellBehindError). One
 * iterator per subscriber and nothing in between: a notice to 10,000 subscribers costs
 * each a queue push and a resolved promise, not a step of three nested generators.
 * return() removes the listener and ends it at once.
 */
export function feed<Args extends unknown[], T>(
  emitter: EventEmitter,
  event: string,
  handle: (push: (value: T) => void, fail: (error: unknown) => void, ...args: Args) => void,
): AsyncIterableIterator<T> {
  const { push, fail, iterator } = queue<T>(() => emitter.off(event, listener));
  // A handler that throws ends its own stream, not the emit to every other listener.
  const listener = (...args: Args) => {
    try {
      handle(push, fail, ...args);
    } catch (error) {
      fail(error);
    }
  };
  emitter.on(event, listener);
  return iterator;
}

/** The writing end of a queue: what its reader gets, in order. */
export interface QueueWriter<T> {
  push(value: T): void;
  /** Ends the stream with `error`, after what is queued. */
  fail(error: unknown): void;
  /** Ends the stream after what is queued. */
  close(): void;
}

/**
 * A queue read as an async iterator, none of it lost while the reader is busy (up to
 * MAX_QUEUED, then it fails with FellBehindError). It ends when it fails or when the
 * reader returns or its writer closes it; either way `onEnd` runs, once.
 */
export function queue<T>(onEnd: () => void): QueueWriter<T> & { iterator: AsyncIterableIterator<T> } {
  const queued: T[] = [];
  const readers: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void }[] = [];
  let failure: { error: unknown } | undefined;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  const push = (value: T) => {
    if (ended) return;
    const reader = readers.shift();
    if (reader) reader.resolve({ value, done: false });
    else if (queued.length < MAX_QUEUED) queued.push(value);
    else fail(new FellBehindError(), true);
  };
  /** With `now`, at once, dropping what is queued. */
  const fail = (error: unknown, now = false) => {
    if (ended) return;
    end();
    if (now) queued.length = 0;
    const reader = readers.shift();
    if (reader) reader.reject(error);
    else failure = { error };
  };
  const close = () => {
    if (ended) return;
    end();
    // What is queued is read first: a reader waits only on an empty queue.
    for (const reader of readers.splice(0)) reader.resolve({ value: undefined, done: true });
  };
  const finish = (): Promise<IteratorResult<T>> => {
    end();
    queued.length = 0;
    for (const reader of readers.splice(0)) reader.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  };
  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (queued.length) return Promise.resolve({ value: queued.shift()!, done: false });
      if (failure) {
        const { error } = failure;
        failure = undefined;
        return Promise.reject(error);
      }
      if (ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => readers.push({ resolve, reject }));
    },
    return: finish,
    throw: (error: unknown) => finish().then(() => Promise.reject(error)),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return { push, fail, close, iterator };
}
