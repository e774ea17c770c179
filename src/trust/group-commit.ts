// Group commit, in the application. An append holds the history's counter from its
// reservation to its commit (history.ts), so appends commit one after another, each
// waiting for the commit (and fsync) before it: the database cannot share one flush
// between them. So the items that arrive while one batch commits wait together, and the
// next batch takes them all into one transaction, one reservation and one commit.
// An item that arrives with nothing running starts at once: there is no waiting to fill
// a batch, and one client alone sees no change.

/** What one item of a batch came to: each item has its own outcome. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Waiting<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<T, R> {
  #waiting: Waiting<T, R>[] = [];
  #running = false;

  /**
   * `run` commits a batch, in the order given, and settles each item of it. `max` items
   * at most go in one batch; an item that `conflicts` with one already in it waits for
   * the next. When `run` fails as a whole, each item is run alone, so that an error one
   * item caused reaches only that item, unless the error `concernsAll` of them (the
   * database is down, say), when each gets it at once.
   */
  constructor(
    private readonly run: (items: T[]) => Promise<Settled<R>[]>,
    private readonly options: { max: number; conflicts: (a: T, b: T) => boolean; concernsAll: (error: unknown) => boolean },
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length) await this.#settle(this.#take());
    } finally {
      this.#running = false;
    }
  }

  /** The next batch, in order of arrival; what it leaves out keeps its place. */
  #take(): Waiting<T, R>[] {
    const batch: Waiting<T, R>[] = [];
    const rest: Waiting<T, R>[] = [];
    for (const waiting of this.#waiting) {
      const fits = batch.length < this.options.max && !batch.some((taken) => this.options.conflicts(taken.item, waiting.item));
      (fits ? batch : rest).push(waiting);
    }
    this.#waiting = rest;
    return batch;
  }

  async #settle(batch: Waiting<T, R>[]): Promise<void> {
    let outcomes: Settled<R>[];
    try {
      outcomes = await this.run(batch.map((waiting) => waiting.item));
    } catch (error) {
      if (batch.length === 1 || this.options.concernsAll(error)) {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      for (const waiting of batch) await this.#settle([waiting]);
      return;
    }
    for (const [index, waiting] of batch.entries()) {
      const outcome = outcomes[index]!;
      if (outcome.ok) waiting.resolve(outcome.value);
      else waiting.reject(outcome.error);
    }
  }
}
