// Live notices are async generators that wait on an event emitter. A generator's own
// return() waits until it reaches its next yield, which for a quiet feed is never: a
// cancelled subscriber would keep its listener, its generator and everything they hold.
import { Repeater } from '@repeaterjs/repeater';

/**
 * Runs `generate` as an iterator whose return() ends it at once: the signal given to
 * `generate` aborts, which rejects a pending `on(emitter, event, { signal })` and
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
