// The Balancer's one FIFO queue of waiters for a backend slot. An intrusive
// doubly linked list: push and shift at the ends, and O(1) removal of a
// waiter that gave up (aborted or timed out) from anywhere in it, so storms
// of give-ups cost no scans and leave no tombstones behind. Also here: the
// queue's one wake-up timer, and acquireAsync()'s promise (a signal and a
// timeout) over the Balancer's synchronous enqueue.

import { QueueTimeoutError } from "./errors.js";

/**
 * One caller waiting for a slot. `grant` gets the lease (already counted);
 * `fail` gets the reason it will never get one.
 * @internal
 */
export interface Waiter<L> {
  grant(lease: L): void;
  fail(error: Error): void;
}

/** A queued waiter's side of the queue: cancel() takes it out; true if it was still waiting. @internal */
export type CancelWait = () => boolean;
/** What enqueue returns for a waiter answered at once. @internal */
export const NOT_QUEUED: CancelWait = () => false;

/** One queued waiter, linked to its neighbours. @internal */
export interface Entry<L> {
  prev: Entry<L> | null;
  next: Entry<L> | null;
  /** In the queue: false once granted, failed or cancelled. */
  queued: boolean;
  readonly waiter: Waiter<L>;
  /** The algorithm the waiter asked for. */
  readonly pickWith: number;
  /** The Balancer's clock when it started waiting. */
  readonly since: number;
}

/** An entry for `waiter`, to push. @internal */
export function newEntry<L>(waiter: Waiter<L>, pickWith: number, since: number): Entry<L> {
  return { prev: null, next: null, queued: true, waiter, pickWith, since };
}

/** @internal */
export class WaitQueue<L> {
  /** The first waiter (the next served), or null. */
  first: Entry<L> | null = null;
  private tail: Entry<L> | null = null;
  count = 0;
  private wakeTimer: ReturnType<typeof setTimeout> | undefined;

  push(e: Entry<L>): void {
    e.prev = this.tail;
    if (this.tail === null) this.first = e;
    else this.tail.next = e;
    this.tail = e;
    this.count++;
  }

  /** Takes `e` out (anywhere in the queue); false if it was not queued. */
  delete(e: Entry<L>): boolean {
    if (!e.queued) return false;
    e.queued = false;
    if (e.prev === null) this.first = e.next;
    else e.prev.next = e.next;
    if (e.next === null) this.tail = e.prev;
    else e.next.prev = e.prev;
    e.prev = e.next = null;
    this.count--;
    return true;
  }

  /**
   * Calls `fn` once, `ms` ms from now (in place of a call armed before: the
   * caller's `ms` is to the earliest end it knows); unref'd where the
   * runtime can, so it never keeps a process alive.
   */
  armWake(ms: number, fn: () => void): void {
    this.disarmWake();
    const timer = setTimeout(() => {
      this.wakeTimer = undefined;
      fn();
    }, ms);
    (timer as { unref?: () => void }).unref?.();
    this.wakeTimer = timer;
  }

  disarmWake(): void {
    if (this.wakeTimer === undefined) return;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
  }
}

/**
 * acquireAsync()'s promise: `enqueue` answers at once or queues the waiter;
 * the wait ends with a grant, a failure, `timeoutMs` (QueueTimeoutError) or
 * the signal's abort (its reason), and whichever comes first cancels the
 * rest, so nothing (timer, listener, queue entry) outlives it.
 */
export function waitInQueue<L>(
  enqueue: (waiter: Waiter<L>) => CancelWait,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  resolve: (lease: L) => void,
  reject: (reason: unknown) => void,
): void {
  if (signal?.aborted) {
    reject(signal.reason);
    return;
  }
  let settled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let cancel: CancelWait | undefined;
  const cleanup = (): void => {
    settled = true;
    clearTimeout(timer);
    // A signal-like that throws here must not lose the lease being granted.
    try {
      signal?.removeEventListener("abort", onAbort);
    } catch {}
  };
  const onAbort = (): void => {
    if (cancel?.()) {
      cleanup();
      reject(signal!.reason);
    }
  };
  // Listening first: a signal-like that throws here leaves nothing queued.
  signal?.addEventListener("abort", onAbort, { once: true });
  // An enqueue that throws (a clock, a detached thread) queued nothing; its
  // listener goes too (the promise's executor turns the throw into a rejection).
  try {
    cancel = enqueue({
      grant: (lease) => {
        cleanup();
        resolve(lease);
      },
      fail: (error) => {
        cleanup();
        reject(error);
      },
    });
  } catch (err) {
    cleanup();
    throw err;
  }
  if (settled) return;
  // Aborted while it was being queued (by a listener the queueing ran).
  if (signal?.aborted) {
    onAbort();
    return;
  }
  timer = setTimeout(() => {
    if (cancel!()) {
      cleanup();
      reject(new QueueTimeoutError(timeoutMs));
    }
  }, timeoutMs);
}
