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
  /** When its wait runs out (performance.now()). */
  waitEnds: number;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
}

export interface GroupCommitOptions<T> {
  /** The most items one batch takes. */
  max: number;
  /** An item that conflicts with one already in the batch waits for the next one. */
  conflicts: (a: T, b: T) => boolean;
  /** How long an item may wait to be taken into a batch; past it, it fails with `tooLong()`. */
  waitMs: number;
  tooLong: () => Error;
  /** Whether a batch's failure may come from one of its items (its data): then each item is run again alone. */
  causedByAnItem: (error: unknown) => boolean;
}

export class GroupCommit<T, R> {
  #waiting: Waiting<T, R>[] = [];
  #running = false;

  /**
   * `run` commits a batch, in the order given, and settles each item of it. `waitEnds`
   * is when the wait of its longest-waiting item runs out: what the batch itself waits
   * for (a connection, say) comes out of the same allowance.
   */
  constructor(
    private readonly run: (items: T[], waitEnds: number) => Promise<Settled<R>[]>,
    private readonly options: GroupCommitOptions<T>,
  ) {
    if (!(options.max >= 1)) throw new RangeError(`a batch takes at least one item, not ${options.max}`);
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const waiting: Waiting<T, R> = {
        item,
        waitEnds: performance.now() + this.options.waitMs,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiting = this.#waiting.filter((other) => other !== waiting);
          reject(this.options.tooLong());
        }, this.options.waitMs),
      };
      this.#waiting.push(waiting);
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length) {
        const batch = this.#take();
        // A fault of settling itself: no item of the batch may be left waiting.
        await this.#settle(batch).catch((error: unknown) => batch.forEach((waiting) => waiting.reject(error)));
      }
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
    for (const waiting of batch) clearTimeout(waiting.timer);
    return batch;
  }

  async #settle(batch: Waiting<T, R>[]): Promise<void> {
    let outcomes: Settled<R>[];
    try {
      outcomes = await this.run(
        batch.map((waiting) => waiting.item),
        Math.min(...batch.map((waiting) => waiting.waitEnds)),
      );
    } catch (error) {
      if (batch.length === 1 || !this.options.causedByAnItem(error)) {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      for (const waiting of batch) await this.#settle([waiting]);
      return;
    }
    if (outcomes.length !== batch.length) throw new Error(`a batch of ${batch.length} came to ${outcomes.length} outcomes`);
    for (const [index, waiting] of batch.entries()) {
      const outcome = outcomes[index]!;
      if (outcome.ok) waiting.resolve(outcome.value);
      else waiting.reject(outcome.error);
    }
  }
}
