// The Balancer's one FIFO queue of waiters for a backend slot. An intrusive
// doubly linked list: push and shift at the ends, and O(1) removal of a
// waiter that gave up (aborted or timed out) from anywhere in it, so storms
// of give-ups cost no scans and leave no tombstones behind.

/**
 * One caller waiting for a slot. `grant` gets the lease (already counted);
 * `fail` gets the reason it will never get one.
 * @internal
 */
export interface Waiter<L> {
  grant(lease: L): void;
  fail(error: Error): void;
}

/** @internal */
export class Entry<L> {
  prev: Entry<L> | null = null;
  next: Entry<L> | null = null;
  /** In the queue: false once granted, failed or cancelled. */
  queued = true;
  constructor(
    readonly waiter: Waiter<L>,
    /** The algorithm the waiter asked for. */
    readonly algorithm: number,
    /** The Balancer's clock when it started waiting. */
    readonly since: number,
  ) {}
}

/** @internal */
export class WaitQueue<L> {
  private head: Entry<L> | null = null;
  private tail: Entry<L> | null = null;
  length = 0;

  get first(): Entry<L> | null {
    return this.head;
  }

  push(e: Entry<L>): void {
    e.prev = this.tail;
    if (this.tail === null) this.head = e;
    else this.tail.next = e;
    this.tail = e;
    this.length++;
  }

  /** Takes `e` out (anywhere in the queue); false if it was not queued. */
  delete(e: Entry<L>): boolean {
    if (!e.queued) return false;
    e.queued = false;
    if (e.prev === null) this.head = e.next;
    else e.prev.next = e.next;
    if (e.next === null) this.tail = e.prev;
    else e.next.prev = e.prev;
    e.prev = e.next = null;
    this.length--;
    return true;
  }
}
