// A subscription field whose events are the same for every subscriber (marked `broadcast`
// in the schema: peerTrustChanged, serverStatusChanged, each change as it comes) is
// served as one broadcast per answer (the same server, operation, variables and token;
// src/http/shared-events.ts): one source of events, one execution and one JSON text per
// event, for all its subscribers. Over graphql-ws that text is written to each connection
// as the protocol's `next` message, past graphql-ws's loop of a promise chain per
// subscriber, which costs a fan-out more than the writes do (the bench measures
// graphql-ws's own broadcast at 2.3x to 2.6x a bare `ws` one).
//
// A subscriber's own stream is what graphql-ws (or Yoga's server-sent events) serves and
// ends: it completes or fails the operation after what was sent past it. Answers go
// through that stream instead, as every other subscription's do, for a subscriber over
// server-sent events; and, from then on so that they stay in order, once an answer has
// errors (Yoga masks them on that way) or once its connection has anything waiting to
// be written: a client that reads slowly is held back as graphql-ws holds it back, and
// ends MAX_QUEUED answers behind.
import type { ExecutionResult } from 'graphql';
import { queue, type QueueWriter } from '../trust/stoppable.js';

/** Over graphql-ws: the operation's `next` message, written by the broadcast itself. */
export interface DirectDelivery {
  /** Writes `payload` (a result's JSON text) as the operation's next message; false, writing nothing, if the connection has anything waiting to be written or is closing. */
  sendNext(payload: string): boolean;
}

interface Subscriber {
  /** Unset over server-sent events, and once its answers take its stream. */
  direct: DirectDelivery | undefined;
  stream: QueueWriter<ExecutionResult>;
  left: boolean;
}

export interface BroadcastSource {
  events: AsyncIterator<unknown>;
  /** The answer to one event, for every subscriber. */
  answer(event: unknown): Promise<ExecutionResult>;
  /** The stream's failure, as each subscriber gets it. */
  failure(error: unknown): unknown;
  /** Answers written past the subscribers' streams (theirs are counted on them). */
  sentDirectly(count: number): void;
}

export class Broadcast {
  readonly #subscribers = new Set<Subscriber>();
  readonly #source: BroadcastSource;
  readonly #ended: () => void;
  #running = false;
  #stopped = false;

  /** From its first subscriber until `source` ends or fails, or its last subscriber leaves; then `ended` is called. */
  constructor(source: BroadcastSource, ended: () => void) {
    this.#source = source;
    this.#ended = ended;
  }

  /** A new subscriber's stream, from the next event read on; undefined once the broadcast has stopped. */
  join(direct: DirectDelivery | undefined): AsyncIterableIterator<ExecutionResult> | undefined {
    if (this.#stopped) return undefined;
    let left = () => {};
    const { iterator, ...stream } = queue<ExecutionResult>(() => left());
    const subscriber: Subscriber = { direct, left: false, stream };
    left = () => {
      subscriber.left = true;
      this.#subscribers.delete(subscriber);
      if (this.#subscribers.size === 0) this.#stop();
    };
    this.#subscribers.add(subscriber);
    // Started by its first subscriber, it cannot stop before it has one.
    if (!this.#running) {
      this.#running = true;
      void this.#run();
    }
    return iterator;
  }

  async #run(): Promise<void> {
    const { events, answer } = this.#source;
    try {
      for (let event = await events.next(); !event.done && !this.#stopped; event = await events.next()) {
        // Those subscribed when it is read. One that joins while an earlier event is answered
        // may get an event emitted just before it joined: a change it sees the state after.
        const subscribers = [...this.#subscribers];
        this.#deliver(subscribers, await answer(event.value));
      }
      for (const subscriber of this.#subscribers) subscriber.stream.close();
    } catch (error) {
      const failure = this.#source.failure(error);
      for (const subscriber of this.#subscribers) subscriber.stream.fail(failure);
    } finally {
      this.#stop();
    }
  }

  #deliver(subscribers: Subscriber[], result: ExecutionResult): void {
    let payload: string | undefined;
    let sent = 0;
    for (const subscriber of subscribers) {
      if (subscriber.left) continue;
      if (subscriber.direct && !result.errors) {
        payload ??= JSON.stringify(result);
        if (subscriber.direct.sendNext(payload)) {
          sent++;
          continue;
        }
      }
      subscriber.direct = undefined;
      subscriber.stream.push(result);
    }
    if (sent) this.#source.sentDirectly(sent);
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    void this.#source.events.return?.();
    this.#ended();
  }
}
