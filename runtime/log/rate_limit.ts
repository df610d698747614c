/** Per-key fixed-window rate limiter that counts what it suppressed. */
export class RateLimiter {
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #sites = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(perWindow: number, windowMs: number, now: () => number = Date.now) {
    this.#perWindow = perWindow;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Whether one more event for `key` may pass; `suppressed` is how many were dropped before it. */
  take(key: string): { allowed: boolean; suppressed: number } {
    const t = this.#now();
    let s = this.#sites.get(key);
    if (!s || t - s.start >= this.#windowMs) {
      const suppressed = s?.suppressed ?? 0;
      s = { start: t, count: 1, suppressed: 0 };
      this.#sites.set(key, s);
      if (this.#sites.size > 4096) this.#sites.delete(this.#sites.keys().next().value ?? key);
      return { allowed: true, suppressed };
    }
    if (s.count < this.#perWindow) {
      s.count++;
      return { allowed: true, suppressed: 0 };
    }
    s.suppressed++;
    return { allowed: false, suppressed: 0 };
  }
}
