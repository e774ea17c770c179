// Live notices are async generators that wait on an event emitter. A generator's own
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

/**
 * Each emission of `event` (its arguments), from now until `signal` aborts, none lost
 * while the reader is busy. As node:events' on() does, but that allocates two
 * 2,048-slot queues (about 32 KB) per call: once per live subscription.
 */
export async function* eventsOf<Args extends unknown[]>(emitter: EventEmitter, event: string, signal: AbortSignal): AsyncGenerator<Args> {
  const queue: Args[] = [];
  let wake: (() => void) | undefined;
  const listener = (...args: Args) => {
    queue.push(args);
    wake?.();
  };
  const abort = () => wake?.();
  emitter.on(event, listener);
  signal.addEventListener('abort', abort, { once: true });
  try {
    while (!signal.aborted) {
      const next = queue.shift();
      if (next) yield next;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    emitter.off(event, listener);
    signal.removeEventListener('abort', abort);
  }
}
