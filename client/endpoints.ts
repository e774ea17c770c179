// The servers a client may use, and which one it uses now.
import { setTimeout as sleep } from 'node:timers/promises';

export class Endpoints {
  readonly #urls: readonly string[];
  readonly #onMove: ((url: string) => void) | undefined;
  #index = 0;

  constructor(urls: readonly string[], onMove?: (url: string) => void) {
    if (urls.length === 0) throw new Error('at least one server URL is needed');
    this.#urls = urls;
    this.#onMove = onMove;
  }

  get current(): string {
    return this.#urls[this.#index]!;
  }

  get size(): number {
    return this.#urls.length;
  }

  /** `url` stopped answering: move on from it, unless a failure seen earlier already did. */
  failed(url: string): void {
    if (url !== this.current || this.#urls.length === 1) return;
    this.#index = (this.#index + 1) % this.#urls.length;
    this.#onMove?.(this.current);
  }

  /**
   * How long to wait before reconnect attempt `retries` (from 0): each server is tried
   * at once in turn; when all of them failed, the waits grow to at most 10 s.
   */
  async retryDelay(retries: number): Promise<void> {
    const round = Math.floor(retries / this.#urls.length);
    const base = round === 0 ? 50 : Math.min(250 * 2 ** (round - 1), 10_000);
    await sleep(base + Math.random() * base);
  }
}
