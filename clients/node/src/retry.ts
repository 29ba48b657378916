/**
 * An optional retry helper that honours the server's retry_after_ms.
 *
 * feedcached sets retry_after_ms on the errors worth retrying (OVERLOADED,
 * UNAVAILABLE) and jitters it itself, so that callers turned away together
 * do not come back together; its overload control relies on callers waiting
 * at least that long. So withRetry:
 *
 * - retries only errors that carry retryAfterMs (by default; see retryOn);
 * - waits max(retryAfterMs, minDelayMs) before the next try, never less
 *   than the server asked;
 * - gives up, throwing the last error, when that wait would exceed
 *   maxDelayMs, when it would end past the overall deadline, or after
 *   maxAttempts tries.
 *
 * Transport errors (ConnectionError, TimeoutError) are not retried by
 * default: whether the call took effect is unknown, and a lost connection
 * needs a new client. Pass retryOn to decide otherwise.
 */
import { FeedcacheError } from "./errors";

export interface RetryOptions {
  /** Tries in all, the first included. Default 5. */
  maxAttempts?: number;
  /** The shortest wait between tries, in ms. Default 0. */
  minDelayMs?: number;
  /** The longest wait between two tries: a longer retry_after_ms ends the retries. Default 10000. */
  maxDelayMs?: number;
  /** Overall budget from the first try, in ms: no wait may end past it. Default 30000; Infinity for none. */
  deadlineMs?: number;
  /** Which errors are retried. Default: a FeedcacheError with retryAfterMs set. */
  retryOn?: (err: unknown) => boolean;
  /** Called before each wait (logging, metrics). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Aborts the waits (the pending wait rejects with the signal's reason). */
  signal?: AbortSignal;
  /** The clock, in ms (tests inject a fake). Default Date.now. */
  now?: () => number;
  /** Waits ms (tests inject a fake). Default: a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const defaultRetryOn = (err: unknown): boolean =>
  err instanceof FeedcacheError && err.retryAfterMs !== undefined;

function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Calls fn until it succeeds or a bound is reached (see the module comment).
 * fn gets the attempt number, from 1.
 *
 *   const page = await withRetry(() => client.timelineGet({ user_id: 42n }));
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const maxAttempts = opts.maxAttempts ?? 5;
  const minDelayMs = opts.minDelayMs ?? 0;
  const maxDelayMs = opts.maxDelayMs ?? 10_000;
  const deadlineMs = opts.deadlineMs ?? 30_000;
  const retryOn = opts.retryOn ?? defaultRetryOn;
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? realSleep;
  if (!(maxAttempts >= 1)) throw new RangeError("maxAttempts must be at least 1");
  if (!(minDelayMs >= 0) || !(maxDelayMs >= minDelayMs)) {
    throw new RangeError("need 0 <= minDelayMs <= maxDelayMs");
  }
  const start = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= maxAttempts || !retryOn(err)) throw err;
      const asked = err instanceof FeedcacheError ? (err.retryAfterMs ?? 0) : 0;
      const delay = Math.max(asked, minDelayMs);
      if (delay > maxDelayMs) throw err;
      if (now() + delay - start > deadlineMs) throw err;
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}
