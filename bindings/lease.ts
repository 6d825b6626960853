// Leases and the per-backend record they hold. A Slot mirrors one core index
// (kept current as removals compact the core); a Lease holds its Slot, never a
// raw index, so a late release after removal is harmless. The Balancer does
// the counting; a lease only remembers whether it was released.

import type { Balancer, ReleaseOptions } from "./balancer.js";
import { checkOk } from "./options.js";

/** @internal */
export class Slot {
  index: number;
  gone = false;
  /** remove() was called: leaves the table when its count reaches 0. */
  removing = false;
  waiters: Array<() => void> | undefined;
  /** Current run of failed requests. */
  failures = 0;
  /** How many times it was ejected (k of the next ejection is this + 1). */
  ejections = 0;
  ejectedUntil: number | null = null;
  /** Clock value when its slow-start ramp began (meaningful while ramping). */
  rampStart = 0;
  constructor(
    readonly name: string,
    index: number,
  ) {
    this.index = index;
  }
}

/** One request counted on one backend, until released. */
export class Lease {
  private done = false;

  /** @internal */
  constructor(
    private readonly owner: Balancer,
    private readonly slot: Slot,
    /** The Balancer's clock when the lease was granted; release() reports the difference to peak-ewma. */
    readonly acquiredAt: number,
  ) {}

  /** The backend's name. */
  get backend(): string {
    return this.slot.name;
  }

  get released(): boolean {
    return this.done;
  }

  /** True once the backend has left the table (removed and drained); releasing then does nothing. */
  get removed(): boolean {
    return this.slot.gone;
  }

  /**
   * Ends the request; `{ ok: false }` reports a failure (ejection counts
   * them), a plain release() a success. Idempotent: only the first call
   * counts. Returns true when it decremented a count; false when already
   * released, when the backend is gone, or when a snapshot had already set
   * the count to 0.
   */
  release(options?: ReleaseOptions): boolean {
    if (this.done) return false;
    const ok = options === undefined || checkOk(options);
    this.done = true;
    return this.owner._releaseSlot(this.slot, ok, this.acquiredAt);
  }
}

/**
 * A power-of-two-choices lease, with what the choice was made on. The pick
 * saves only the sampled Slots (which keep their names through removals) and
 * the counts compared; the arrays are built on first read, so a pick that
 * never looks at them allocates none.
 */
export class ChoiceLease extends Lease {
  private sampledNames: readonly string[] | undefined;
  private sampledCounts: readonly number[] | undefined;

  /** @internal */
  constructor(
    owner: Balancer,
    slot: Slot,
    acquiredAt: number,
    private readonly first: Slot,
    private readonly firstActive: number,
    /** null when only one backend could take traffic. */
    private readonly second: Slot | null,
    private readonly secondActive: number,
  ) {
    super(owner, slot, acquiredAt);
  }

  /** The sampled backends, in the order drawn (one when only one can take traffic). */
  get sampled(): readonly string[] {
    return (this.sampledNames ??= this.second === null ? [this.first.name] : [this.first.name, this.second.name]);
  }

  /** Their active counts when compared. */
  get sampledActive(): readonly number[] {
    return (this.sampledCounts ??= this.second === null ? [this.firstActive] : [this.firstActive, this.secondActive]);
  }
}
