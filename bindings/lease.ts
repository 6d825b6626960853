// Leases and the per-backend record behind them. A Slot mirrors one core
// index (kept current as removals compact the core). A Lease holds the core
// index it was granted on and the membership epoch it was valid in, never
// its Slot: acquire and release then read no per-backend JS object, which
// at 100,000 backends is a cache miss each (docs/CORE.md, "Speed at
// n = 100,000"). A removal ends the epoch and records what it removed, so a
// lease from an older epoch finds its backend, or learns it is gone, by
// replaying the removals since (Balancer._slotOf). The Balancer does the
// counting; a lease only remembers whether it was released.
//
// Fields are declared, not TypeScript parameter properties: esbuild emits a
// parameter property's declaration under its own name while the minified
// build renames its assignment, which gave every object both. Lease's and
// ChoiceLease's are `declare`d, assigned by the constructors only: V8
// builds a derived class with ES2022 class fields (define semantics) about
// 16 ns slower per object, and a p2c pick builds one every time (docs/CORE.md).

import type { Balancer, ReleaseOptions } from "./balancer.js";
import { checkOk } from "./options.js";

/**
 * How many of a Balancer's Slots have a failure run going (failures > 0).
 * While none has, a successful release has no run to reset and skips the Slot.
 * @internal
 */
export interface FailureRuns {
  failing: number;
}

/** @internal */
export class Slot {
  index: number;
  gone = false;
  /** remove() was called: leaves the table when its count reaches 0. */
  removing = false;
  waiters: Array<() => void> | undefined;
  /** How many times it was ejected (k of the next ejection is this + 1). */
  ejections = 0;
  /** When its ejection ends (a snapshot's `ejectedUntil`), or null. */
  ejectEnd: number | null = null;
  /** Clock value when its slow-start ramp began (meaningful while ramping). */
  rampStart = 0;
  readonly name: string;
  private fails = 0;
  private readonly runs: FailureRuns;
  constructor(name: string, index: number, runs: FailureRuns) {
    this.name = name;
    this.index = index;
    this.runs = runs;
  }

  /** Current run of failed requests (a snapshot's `failures`); `runs` counts the Slots where it is not 0. */
  get run(): number {
    return this.fails;
  }

  set run(n: number) {
    this.runs.failing += (n ? 1 : 0) - (this.fails ? 1 : 0);
    this.fails = n;
  }
}

/**
 * One stretch of a Balancer's membership between two removals. Core indices
 * held in an epoch stay valid while it is current (`next === null`); the
 * removal that ends it sets `at` (the index removed, later ones moved down
 * one) and `slot` (the Slot removed).
 * @internal
 */
export class Epoch {
  /** The Balancer whose membership this is (leases reach it through here: one field less per lease). */
  readonly owner: Balancer;
  at = -1;
  slot: Slot | null = null;
  next: Epoch | null = null;
  constructor(owner: Balancer) {
    this.owner = owner;
  }
}

/** One request counted on one backend, until released. */
export class Lease {
  declare protected readonly epoch: Epoch;
  /** The core index while held; ~index (negative) once released: one field less per lease. */
  declare private held: number;
  /** The Balancer's clock when the lease was granted; release() reports the difference to peak-ewma. */
  declare readonly acquiredAt: number;

  /** @internal */
  constructor(epoch: Epoch, index: number, acquiredAt: number) {
    this.epoch = epoch;
    this.held = index;
    this.acquiredAt = acquiredAt;
  }

  /** The backend's name. */
  get backend(): string {
    return this.slot().name;
  }

  get released(): boolean {
    return this.held < 0;
  }

  /** True once the backend has left the table (removed and drained); releasing then does nothing. */
  get removed(): boolean {
    return this.slot().gone;
  }

  /**
   * Ends the request; `{ ok: false }` reports a failure (ejection counts
   * them), a plain release() a success. Idempotent: only the first call
   * counts. Returns true when it decremented a count; false when already
   * released, when the backend is gone, or when a snapshot had already set
   * the count to 0.
   */
  release(options?: ReleaseOptions): boolean {
    const i = this.held;
    if (i < 0) return false;
    const ok = options === undefined || checkOk(options, true);
    this.held = ~i;
    try {
      // No outcome, no duration: the time to a client's leaving is not the backend's latency.
      return this.epoch.owner._release(this.epoch, i, ok, ok === null ? NaN : this.acquiredAt);
    } catch (err) {
      // A clock that threw (read before the count goes down): still held, it can be released again.
      this.held = i;
      throw err;
    }
  }

  /** The Slot of index `i` in this lease's epoch (its own by default). @internal */
  protected slot(i: number = this.held < 0 ? ~this.held : this.held): Slot {
    return this.epoch.owner._slotOf(this.epoch, i);
  }
}

/**
 * A power-of-two-choices lease, with what the choice was made on: the two
 * backends sampled and the counts compared. Three small-integer fields
 * beyond a plain Lease's: a p2c lease is built on every pick, and with
 * 50,000 held at n = 100,000 its size is garbage collector work (docs/
 * BENCHMARKS.md). Names and arrays are built on each read, so a pick that
 * never looks at them allocates none and reads no Slot.
 */
export class ChoiceLease extends Lease {
  /** The other sample's index (in the lease's epoch) × 2, + 1 when it was drawn first; -1 when only one backend could take traffic. */
  declare private readonly other: number;
  /** The counts compared: the pick's (before it was counted) and the other's. */
  declare private readonly mine: number;
  declare private readonly theirs: number;

  /** @internal */
  constructor(epoch: Epoch, index: number, acquiredAt: number, other: number, mine: number, theirs: number) {
    super(epoch, index, acquiredAt);
    this.other = other;
    this.mine = mine;
    this.theirs = theirs;
  }

  /** The sampled backends, in the order drawn (one when only one can take traffic). */
  get sampled(): readonly string[] {
    return this.inOrder(this.slot().name, this.other < 0 ? "" : this.slot(this.other >> 1).name);
  }

  /** Their active counts when compared. */
  get sampledActive(): readonly number[] {
    return this.inOrder(this.mine, this.theirs);
  }

  private inOrder<T>(mine: T, theirs: T): T[] {
    const o = this.other;
    return o < 0 ? [mine] : o & 1 ? [theirs, mine] : [mine, theirs];
  }
}
