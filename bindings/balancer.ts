// The public Balancer: picking and membership over one core table (names,
// validation, leases, draining, states), with the wait queue (queue.ts),
// passive ejection (ejection.ts) and slow start (slowstart.ts) wired in.
// Runtime-neutral: no Node, Deno or DOM API is used here (setTimeout and
// EventTarget are in all).
//
// Slots mirror the core's indices one to one. Removing a backend compacts
// the core, so a lease holds its index with the membership epoch it was
// granted in (lease.ts): while no removal has happened since, the index is
// current and a release reads no Slot; after one, the lease finds its Slot
// by replaying the removals, and a Slot marked gone makes late releases
// harmless.
//
// Time-driven changes (the end of an ejection, a slow-start ramp's next
// step) are applied lazily: every acquire, snapshot and tick() compares the
// clock with one number, `nextDue`, and does the work only when it is due.
// That keeps them deterministic under a manual clock; the only timer is a
// wake-up, kept only while waiters are queued and an ejection is pending.

import { ALG_LEAST_CONN, ALG_P2C, ALG_PEAK_EWMA } from "../assembly/constants.js";
import { type Algorithm, type AlgorithmId, algorithmName } from "./algorithms.js";
import { coarseClock } from "./clock.js";
import {
  CoreTable,
  ERR_NO_MEMORY,
  NO_LIMIT,
  SAMPLE_FIRST,
  SAMPLE_SECOND,
  STATE_DOWN,
  STATE_DRAINING,
  STATE_EJECTED,
  STATE_UP,
} from "./core.js";
import { Ejections } from "./ejection.js";
import {
  CapacityError,
  DuplicateBackendError,
  InvalidArgumentError,
  QueueFullError,
  UnavailableError,
  UnderflowError,
  UnknownBackendError,
  UnsupportedError,
} from "./errors.js";
import { BackendEvent, type BalancerEventMap, StateChangeEvent, type StateChangeReason } from "./events.js";
import { ChoiceLease, Epoch, type FailureRuns, Lease, Slot } from "./lease.js";
import {
  checkActive,
  checkAlgorithm,
  checkDecay,
  checkMaxConnections,
  checkName,
  checkOk,
  checkOptions,
  checkSeed,
  checkSignal,
  checkTimeout,
  checkWeight,
  type EjectionOptions,
  invalid,
  MAX_MS,
  normalizeEjection,
  normalizeQueue,
  normalizeSlowStart,
  normalizeSpecs,
  type QueueConfig,
  type QueueOptions,
  type SlowStartOptions,
} from "./options.js";
import { type CancelWait, NOT_QUEUED, newEntry, type Waiter, WaitQueue, waitInQueue } from "./queue.js";
import { effectiveWeight, Ramps } from "./slowstart.js";

// Re-exported so importers of this module (index.ts, the node) see one surface.
export { coarseClock } from "./clock.js";
export { BackendEvent, type BalancerEventMap, StateChangeEvent, type StateChangeReason } from "./events.js";
export { ChoiceLease, Lease } from "./lease.js";
export { checkActive, checkAlgorithm, checkName, checkWeight, MAX_ACTIVE, MAX_WEIGHT } from "./options.js";
export type { CancelWait } from "./queue.js";

export type BackendState = "up" | "down" | "draining" | "ejected";

export interface BackendSpec {
  name: string;
  /** Integer 0..MAX_WEIGHT; 0 means never picked. Default 1. */
  weight?: number;
  /** Initial active count, 0..MAX_ACTIVE. Default 0. */
  connections?: number;
  /** Most requests at once, 1..MAX_ACTIVE; absent: no limit. */
  maxConnections?: number;
}

/** The options of add(). */
export interface AddOptions {
  weight?: number;
  connections?: number;
  maxConnections?: number;
}

export interface BalancerOptions {
  backends?: ReadonlyArray<string | BackendSpec>;
  /** Default algorithm for acquire(); default "least-connections". */
  algorithm?: string;
  /** Seed of the core's generator (integer 0..2^53-1); default 0. */
  seed?: number;
  /** Milliseconds for lastUsed; default: Date.now() cached until the next microtask checkpoint. */
  clock?: () => number;
  /** "first" (default): ties go to the earliest backend; "rotate": rotate among the tied. */
  tieBreak?: "first" | "rotate";
  /** acquireAsync()'s queue; default { limit: 1024, timeoutMs: 5000 }. */
  queue?: QueueOptions;
  /** Passive ejection; absent: never eject. `{}`: Envoy's defaults (5 failures, 30 s, 300 s, 10%). */
  ejection?: EjectionOptions;
  /** Slow start after add(), markUp() from down, and the end of an ejection; absent: none. */
  slowStart?: SlowStartOptions;
  /** Peak-ewma's decay time constant in ms; default 10,000. */
  decayMs?: number;
}

export interface AcquireOptions {
  algorithm?: string;
}

export interface AcquireAsyncOptions extends AcquireOptions {
  /** Aborting it gives up the wait; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Longest wait in the queue, ms (wall time); default `queue.timeoutMs`. */
  timeoutMs?: number;
}

export interface ReleaseOptions {
  /**
   * How the request ended: true a success (ends a run of failures), false a
   * failure (counts towards ejection), null no outcome (the client left, a
   * tunnel closed): neither, and no latency sample for peak-ewma. Default true.
   */
  ok?: boolean | null;
}

export interface BackendSnapshot {
  name: string;
  active: number;
  total: number;
  lastUsed: number | null;
  weight: number;
  state: BackendState;
  /** The limit on active requests, or null when none. */
  maxConnections: number | null;
  /** The weight after slow start's ramp (the weight itself when not ramping). */
  effectiveWeight: number;
  /** Failures in a row (reset by a success). */
  failures: number;
  /** When an ejected backend comes back (on the Balancer's clock); null when not ejected. */
  ejectedUntil: number | null;
}

export interface QueueSnapshot {
  /** Waiters queued now. */
  length: number;
  /** How long the oldest has waited (Balancer clock, ms), or null when none. */
  oldestWaitMs: number | null;
}

/** snapshot(): the backends in order, and (non-enumerable) the queue's figures. */
export interface Snapshot extends Array<BackendSnapshot> {
  queue: QueueSnapshot;
}

const STATE_NAMES: readonly BackendState[] = ["up", "down", "draining", "ejected"];

/**
 * A table from elsewhere than the default build. `own`: a private table over
 * another build (the debug build in tests). `create` sizes and fills a fresh
 * shared table; `attach` leaves the table as another thread filled it, for
 * the subclass (shared.ts) to adopt its backends. Shared-table rules (fixed
 * membership, attaching) live in shared.ts, not here.
 * @internal
 */
export interface TableSource {
  core: CoreTable;
  mode: "own" | "create" | "attach";
}

type Listener<K extends keyof BalancerEventMap> =
  | ((event: BalancerEventMap[K]) => void)
  | { handleEvent(event: BalancerEventMap[K]): void };

export interface Balancer {
  addEventListener<K extends keyof BalancerEventMap>(
    type: K,
    listener: Listener<K> | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof BalancerEventMap>(
    type: K,
    listener: Listener<K> | null,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

// An EventTarget (global in Node, Deno and browsers), so state changes are
// told to listeners instead of polled.
// Fields set only by the constructor are `declare`d: the minified files then
// carry no empty field declarations for them.
export class Balancer extends EventTarget {
  /** @internal (protected for SharedBalancer, as the members below marked so) */
  declare protected readonly core: CoreTable;
  private readonly slots: Slot[] = [];
  private readonly byName = new Map<string, Slot>();
  /** The current membership epoch: indices leases hold in it are valid. */
  private epoch = new Epoch(this);
  /** Slots with a failure run going: while 0, a successful release skips the Slot. */
  private readonly runs: FailureRuns = { failing: 0 };
  /** Slots whose remove() waits for their count to reach 0: while 0, a release reads no state. */
  private removals = 0;
  /** @internal */
  declare protected readonly clock: () => number;
  declare private algorithmValue: AlgorithmId;
  declare private readonly rotate: boolean;

  declare private readonly queueConfig: QueueConfig;
  /** @internal */
  protected readonly waiting = new WaitQueue<Lease>();
  /** drain() is running: a release inside a grant leaves the serving to it. */
  private serving = false;
  /** @internal */
  declare protected readonly ejections: Ejections;
  declare private readonly ramps: Ramps;
  // When an ejection ends or a ramp steps next: the minimum of the two lower
  // bounds they keep (stale-early is harmless: one look finds nothing and
  // recomputes).
  private nextDue = Infinity;
  /**
   * Releases report durations to the core once peak-ewma is in use (the
   * default algorithm, or any pick with it; it stays on). Observing costs a
   * few ns per release that other algorithms never read.
   */
  private timed = false;

  constructor(options: BalancerOptions = {}, source?: TableSource) {
    super();
    if (options === null || typeof options !== "object") throw invalid("options", "an object", options);
    const specs = normalizeSpecs(options.backends === undefined ? [] : options.backends);
    this.algorithmValue = options.algorithm === undefined ? ALG_LEAST_CONN : checkAlgorithm(options.algorithm);
    this.timed = this.algorithmValue === ALG_PEAK_EWMA;
    const seed = options.seed === undefined ? 0 : checkSeed(options.seed);
    // Read by a string: the minified files rename the private `clock` (scripts/build.mjs).
    const clock: unknown = Reflect.get(options, "clock");
    const rule = "a function returning milliseconds";
    if (clock !== undefined && typeof clock !== "function") throw invalid("clock", rule, clock);
    // Each reading is checked: NaN or an infinity, kept as an ejection's end
    // or a ramp's start, would leave nextDue NaN and them stalled for good.
    // It throws before the call it serves changes anything.
    this.clock =
      clock === undefined
        ? coarseClock
        : () => {
            const now = (clock as () => number)();
            if (Number.isFinite(now)) return now;
            throw invalid("clock", rule, now);
          };
    const tie = options.tieBreak ?? "first";
    if (tie !== "first" && tie !== "rotate") {
      throw invalid("tieBreak", '"first" or "rotate"', tie);
    }
    this.rotate = tie === "rotate";
    this.queueConfig = normalizeQueue(options.queue);
    this.ejections = new Ejections(normalizeEjection(options.ejection));
    const slowStart = normalizeSlowStart(options.slowStart);
    const decay = checkDecay(options.decayMs);

    this.core = source?.core ?? CoreTable.instantiate();
    this.ramps = new Ramps(slowStart, this.core);
    // An attached shared table is filled already; shared.ts adopts its backends.
    if (source?.mode === "attach") return;
    if (this.core.exports.reset(specs.length, seed, this.rotate ? 1 : 0) < 0) {
      throw new CapacityError(`cannot allocate a table for ${specs.length} backends`);
    }
    this.core.setDecay(decay);
    // Backends given here start at full weight (HAProxy never slow-starts at process start).
    for (const spec of specs) this.appendBackend(spec.name, spec.weight, spec.connections, spec.maxConnections);
  }

  /** The default algorithm of acquire(). */
  get algorithm(): Algorithm {
    return algorithmName(this.algorithmValue);
  }

  set algorithm(name: string) {
    this.algorithmValue = checkAlgorithm(name);
    if (this.algorithmValue === ALG_PEAK_EWMA) this.timed = true;
  }

  get tieBreak(): "first" | "rotate" {
    return this.rotate ? "rotate" : "first";
  }

  /** Backends in the table, draining ones included. */
  get size(): number {
    return this.slots.length;
  }

  get names(): string[] {
    return this.slots.map((s) => s.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /**
   * Picks a backend and counts one request on it. Returns null when nothing
   * can take traffic now (no backends, or all full, down, ejected, draining
   * or weight 0), and while waiters are queued (they go first).
   */
  acquire(options?: AcquireOptions): Lease | null {
    const alg = options === undefined ? this.algorithmValue : this.algorithmOf(options);
    const now = this.clock();
    if (now >= this.nextDue) this.advance(now);
    if (this.waiting.count !== 0) return null;
    return this.pick(alg, now);
  }

  /**
   * acquire() for a retry, leaving out the backends named (the ones already
   * tried, as nginx's proxy_next_upstream does): their state in the core is
   * draining for this one synchronous pick, then what it was. A state
   * changed meanwhile (only a custom clock can step again) is left as it is.
   * @internal
   */
  _acquireExcept(names: readonly string[]): Lease | null {
    // The clock's step first, so its events (and listeners that remove or
    // mark down a backend) come before the flips, not between them.
    this.tick();
    const core = this.core;
    const undo: Array<Slot | number> = []; // slot, state: undone last first, so a name twice gets its first state back
    for (const name of names) {
      const slot = this.byName.get(name);
      if (slot === undefined) continue;
      undo.push(slot, core.state(slot.index));
      core.setState(slot.index, STATE_DRAINING);
    }
    try {
      return this.acquire();
    } finally {
      for (let k = undo.length; k > 0; k -= 2) {
        const slot = undo[k - 2] as Slot;
        if (!slot.gone && core.state(slot.index) === STATE_DRAINING) core.setState(slot.index, undo[k - 1] as number);
      }
    }
  }

  /**
   * Like acquire(), but when every backend that could take traffic is full,
   * waits in one FIFO queue until a release hands it a slot. Rejects with
   * UnavailableError when no backend is up (waiting would not help),
   * QueueFullError when `queue.limit` are waiting, QueueTimeoutError after
   * `timeoutMs`, and `signal.reason` when the signal aborts.
   */
  acquireAsync(options?: AcquireAsyncOptions): Promise<Lease> {
    return new Promise<Lease>((resolve, reject) => {
      const o = checkOptions(options, "options");
      const signal = checkSignal(o.signal);
      const timeoutMs = checkTimeout(o.timeoutMs, this.queueConfig.timeoutMs);
      waitInQueue((waiter: Waiter<Lease>) => this._enqueue(waiter, o.algorithm), signal, timeoutMs, resolve, reject);
    });
  }

  /**
   * The synchronous queue under acquireAsync(), for callers that must answer
   * in the same turn (the protocol node). `waiter.grant` is called at once
   * when a backend is free, or later from the call that frees one;
   * `waiter.fail` at once with UnavailableError or QueueFullError. Timeouts
   * are the caller's: it calls the returned cancel(), which is true if the
   * waiter was still queued (and is no more).
   * @internal
   */
  _enqueue(waiter: Waiter<Lease>, algorithm?: string): CancelWait {
    const alg = algorithm === undefined ? this.algorithmValue : checkAlgorithm(algorithm);
    const now = this.clock();
    if (now >= this.nextDue) this.advance(now);
    if (this.waiting.count === 0) {
      const lease = this.pick(alg, now);
      if (lease !== null) {
        waiter.grant(lease);
        return NOT_QUEUED;
      }
    }
    if (!this.anyUp()) {
      waiter.fail(new UnavailableError(this.slots.length === 0 ? "there are no backends" : "no backend is up with a weight above 0"));
      return NOT_QUEUED;
    }
    if (this.waiting.count >= this.queueConfig.limit) {
      waiter.fail(new QueueFullError(this.queueConfig.limit));
      return NOT_QUEUED;
    }
    const entry = newEntry(waiter, alg, now);
    this.waiting.push(entry);
    this.armWake(now);
    return () => {
      if (!this.waiting.delete(entry)) return false;
      if (this.waiting.count === 0) this.waiting.disarmWake();
      return true;
    };
  }

  /**
   * Applies what the clock says now: ends due ejections, advances slow-start
   * ramps, and hands freed slots to queued waiters. acquire() and snapshot()
   * do this too; call it to drive a manual clock without picking.
   */
  tick(): void {
    const now = this.clock();
    if (now >= this.nextDue) this.advance(now);
  }

  private anyUp(): boolean {
    const core = this.core;
    for (const slot of this.slots) {
      if (core.state(slot.index) === STATE_UP && core.weight(slot.index) !== 0) return true;
    }
    return false;
  }

  // No Slot is read: at 100,000 backends the pick's Slot is a cache miss
  // (docs/CORE.md, "Speed at n = 100,000"); the lease holds the index.
  private pick(alg: AlgorithmId, now: number): Lease | null {
    const i = this.core.exports.acquire(alg, now);
    if (i < 0) return null;
    if (alg >= ALG_P2C) {
      if (alg === ALG_P2C) return this.choiceLease(i, now);
      if (alg === ALG_PEAK_EWMA) this.timed = true;
    }
    return new Lease(this.epoch, i, now);
  }

  /**
   * Makes a change that may free a slot, then serves the queue if anyone
   * waits. The clock is read only then, and before the change: a reading
   * that throws changes nothing.
   */
  private serve(change: () => void): void {
    const now = this.waiting.count !== 0 ? this.clock() : 0;
    change();
    if (this.waiting.count !== 0) this.drain(now);
  }

  /** Hands slots to the head of the queue while picks succeed: FIFO, no overtaking. @internal */
  protected drain(now: number): void {
    if (this.serving) return;
    this.serving = true;
    try {
      for (let e = this.waiting.first; e !== null; e = this.waiting.first) {
        const lease = this.pick(e.pickWith as AlgorithmId, now);
        if (lease === null) break;
        this.waiting.delete(e);
        e.waiter.grant(lease);
      }
    } finally {
      this.serving = false;
    }
    if (this.waiting.count === 0) this.waiting.disarmWake();
  }

  // Only a backend back from ejection can free a slot (a ramp changes
  // preferences, not capacity), so only then are waiters served: a queue is
  // never non-empty while a pick would succeed, and no pick is tried in vain
  // (a failed random pick still draws from the generator).
  private advance(now: number): void {
    const back = now >= this.ejections.nextEjectionEnd && this.endEjections(now);
    if (now >= this.ramps.nextRampAt) this.ramps.refreshRamps(now);
    this.schedule();
    if (back && this.waiting.count !== 0) this.drain(now);
  }

  private schedule(): void {
    this.nextDue = Math.min(this.ejections.nextEjectionEnd, this.ramps.nextRampAt);
  }

  /** Ends the ejections due at `now`; true if any ended. @internal */
  protected endEjections(now: number): boolean {
    const due = this.ejections.dueAt(now);
    for (const slot of due) {
      if (!slot.gone && this.ejections.ejected.has(slot)) this.moveTo(slot, STATE_EJECTED, STATE_UP, "recovered", now);
    }
    return due.length !== 0;
  }

  private startRamp(slot: Slot, now: number): void {
    this.ramps.startRamp(slot, now);
    this.schedule();
  }

  // Liveness for queued waiters when only the end of an ejection can free a
  // slot: one timer, alive only while both waiters and an ejection exist.
  // `now` is the caller's reading: a clock read here, after a waiter is
  // queued, could throw with the waiter left in the queue.
  private armWake(now: number): void {
    if (this.waiting.count === 0 || this.ejections.nextEjectionEnd === Infinity) return;
    this.waiting.armWake(Math.min(MAX_MS, Math.max(1, this.ejections.nextEjectionEnd - now)), this.onWake);
  }

  private readonly onWake = (): void => {
    let now: number;
    // A clock that throws in this timer has no caller to tell, and must not
    // end the process: the waiters still end at their own timeouts.
    try {
      now = this.clock();
    } catch {
      return;
    }
    if (now >= this.nextDue) this.advance(now);
    this.armWake(now);
  };

  private algorithmOf(options: AcquireOptions): AlgorithmId {
    const { algorithm } = checkOptions(options, "options");
    return algorithm === undefined ? this.algorithmValue : checkAlgorithm(algorithm);
  }

  private choiceLease(i: number, now: number): ChoiceLease {
    const core = this.core;
    // The pick is one of the two samples: when it is not the second, it is
    // the first, and one call into the core is saved.
    const second = core.exports.sample(SAMPLE_SECOND);
    const other = second < 0 ? -1 : second !== i ? second << 1 : (core.exports.sample(SAMPLE_FIRST) << 1) | 1;
    // The pick was counted already; report the counts it was chosen on.
    return new ChoiceLease(this.epoch, i, now, other, core.active(i) - 1, other < 0 ? 0 : core.active(other >> 1));
  }

  /**
   * Ends one request on `name` without a lease (a completion seen from
   * outside); `{ ok: false }` reports a failure. Its duration is unknown.
   */
  release(name: string, options?: ReleaseOptions): void {
    const slot = this.slot(name);
    const ok = checkOk(options, true);
    // Refused before anything (the clock, the failure run) is touched.
    if (this.core.active(slot.index) === 0) throw new UnderflowError(name);
    if (!this._releaseSlot(slot, ok, NaN)) throw new UnderflowError(name);
  }

  /**
   * A lease's release: index `i` of `epoch`. The common case (no removal
   * since the acquire, a success, no failure run anywhere to reset) reads no
   * Slot and no state: only while some remove() waits, the backend's Slot.
   * @internal
   */
  _release(epoch: Epoch, i: number, ok: boolean | null, acquiredAt: number): boolean {
    if (epoch.next !== null || !ok || this.runs.failing !== 0) return this._releaseSlot(this._slotOf(epoch, i), ok, acquiredAt);
    // The clock only for a duration (peak-ewma) or for waiters, and read
    // before the count goes down: a clock that throws leaves the lease held.
    const now = this.timed || this.waiting.count !== 0 ? this.clock() : NaN;
    const done = this.off(i, acquiredAt, this.timed ? now : NaN);
    if (this.removals !== 0) this.settle(this.slots[i]!);
    if (this.waiting.count !== 0) this.drain(now === now ? now : this.clock());
    return done;
  }

  /** The Slot that index `i` of `epoch` names now: replays the removals since (a removed one is the Slot, gone). @internal */
  _slotOf(epoch: Epoch, i: number): Slot {
    for (let e = epoch; e.next !== null; e = e.next) {
      if (i === e.at) return e.slot!;
      if (i > e.at) i--;
    }
    return this.slots[i]!;
  }

  // One count off backend i in the core; true if there was one. `now` is
  // NaN unless durations are observed (peak-ewma): the duration is then
  // unknown (-1); a clock that went back counts 0.
  private off(i: number, acquiredAt: number, now: number): boolean {
    return this.core.exports.release(i, now >= acquiredAt ? now - acquiredAt : acquiredAt > now ? 0 : -1, now) === 1;
  }

  /** @internal */
  _releaseSlot(slot: Slot, ok: boolean | null, acquiredAt: number): boolean {
    if (slot.gone) return false;
    const now = this.clock();
    const done = this.off(slot.index, acquiredAt, this.timed ? now : NaN);
    if (ok === false) this.fail(slot, now);
    else if (ok && slot.run !== 0) slot.run = 0;
    this.settle(slot);
    if (this.waiting.count !== 0) this.drain(now);
    return done;
  }

  // One more failure in a row; ejection.ts decides whether it ejects.
  private fail(slot: Slot, now: number): void {
    const until = this.ejections.failed(slot, now, this.core, this.slots);
    if (until === undefined) return;
    this.schedule();
    this.moveTo(slot, STATE_UP, STATE_EJECTED, "ejected", now, until);
    this.armWake(now);
  }

  /**
   * Every state change goes through here: an ejection left is forgotten, the
   * core gets the state, a backend coming up ramps (unless a removal was
   * cancelled: it never left the table's order) and any other stops ramping,
   * then listeners are told.
   */
  private moveTo(slot: Slot, from: number, to: number, reason: StateChangeReason, now: number, until: number | null = null): void {
    if (from === STATE_EJECTED) this.ejections.leaveEjection(slot);
    this.core.setState(slot.index, to);
    if (to !== STATE_UP) this.ramps.stopRamp(slot);
    else if (from !== STATE_DRAINING) this.startRamp(slot, now);
    this.dispatchEvent(new StateChangeEvent(slot.name, STATE_NAMES[from]!, STATE_NAMES[to]!, reason, until));
  }

  /** Sets a backend's active count from an outside snapshot. */
  setActive(name: string, active: number): void {
    const slot = this.slot(name);
    this.serve(() => {
      this.core.setActive(slot.index, checkActive(active));
      this.settle(slot);
    });
  }

  /** Sets (or with undefined, lifts) a backend's limit on active requests; a count above it stays. */
  setMaxConnections(name: string, maxConnections: number | undefined): void {
    const slot = this.slot(name);
    const limit = checkMaxConnections(maxConnections);
    this.serve(() => this.core.setLimit(slot.index, limit ?? NO_LIMIT));
  }

  /** Adds a backend at the end of the order (through slow start, when set). */
  add(name: string, options?: AddOptions): void {
    checkName(name);
    const opts = checkOptions(options, "options");
    const weight = checkWeight(opts.weight, undefined, undefined, 1);
    const connections = checkActive(opts.connections, "connections", undefined, 0);
    const limit = checkMaxConnections(opts.maxConnections);
    if (this.byName.has(name)) throw new DuplicateBackendError(name);
    // The clock before any change: a reading that throws changes nothing.
    const now = this.clock();
    const slot = this.appendBackend(name, weight, connections, limit);
    this.startRamp(slot, now);
    if (this.waiting.count !== 0) this.drain(now);
  }

  private appendBackend(name: string, weight: number, connections: number, limit: number | undefined): Slot {
    const e = this.core.exports;
    const index = e.add(weight);
    if (index === ERR_NO_MEMORY) throw new CapacityError(`cannot grow the table past ${this.slots.length} backends`);
    if (connections !== 0) this.core.setActive(index, connections);
    if (limit !== undefined) this.core.setLimit(index, limit);
    this.core.refresh();
    return this._addSlot(name, index);
  }

  /** A Slot for core index `index` (the core has the backend already). @internal */
  _addSlot(name: string, index: number): Slot {
    const slot = new Slot(name, index, this.runs);
    this.slots.push(slot);
    this.byName.set(name, slot);
    return slot;
  }

  /**
   * Drains a backend: no new picks; it leaves the table once its active
   * count is 0 (at once if it is 0 now). Releases of its leases stay safe.
   */
  remove(name: string): void {
    const slot = this.slot(name);
    if (!slot.removing) this.removals++;
    slot.removing = true;
    const from = this.core.state(slot.index);
    if (from !== STATE_DRAINING) this.moveTo(slot, from, STATE_DRAINING, "remove", 0);
    this.settle(slot);
  }

  /** Resolves once `name` has left the table (at once if it is not in it). */
  drained(name: string): Promise<void> {
    checkName(name);
    const slot = this.byName.get(name);
    if (slot === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      (slot.waiters ??= []).push(resolve);
    });
  }

  /** A removing backend leaves the table once its count is 0. */
  private settle(slot: Slot): void {
    if (slot.removing && this.core.active(slot.index) === 0) this.finishRemoval(slot);
  }

  private finishRemoval(slot: Slot): void {
    const at = slot.index;
    this.core.removeAt(at);
    this.slots.splice(at, 1);
    for (let j = at; j < this.slots.length; j++) this.slots[j]!.index = j;
    this.byName.delete(slot.name);
    slot.gone = true;
    if (slot.removing) this.removals--;
    slot.removing = false;
    // Indices after `at` moved down: the epoch ends, recording the removal for older leases.
    const ended = this.epoch;
    ended.at = at;
    ended.slot = slot;
    this.epoch = ended.next = new Epoch(this);
    // A gone Slot's run can never be reset by a release: it stops counting.
    slot.run = 0;
    this.ramps.ramping.delete(slot);
    this.ejections.ejected.delete(slot);
    const waiters = slot.waiters ?? [];
    slot.waiters = undefined;
    for (const resolve of waiters) resolve();
    this.dispatchEvent(new BackendEvent("removed", slot.name));
  }

  /** Takes a backend out of rotation (an ejected one too: its ejection is forgotten); open requests still release normally. */
  markDown(name: string): void {
    this.mark(name, STATE_DOWN);
  }

  /**
   * Puts a backend back in rotation: from down or ejected through slow start
   * (when set); on a draining backend this cancels the removal.
   */
  markUp(name: string): void {
    this.mark(name, STATE_UP);
  }

  private mark(name: string, state: number): void {
    const slot = this.slot(name);
    const from = this.core.state(slot.index);
    // Down on a draining backend changes nothing: it takes no traffic already.
    if (from === STATE_DRAINING && state === STATE_DOWN) return;
    // Up from another state reads the clock (a ramp starts), before any
    // change: a reading that throws changes nothing.
    const up = state === STATE_UP;
    const now = up && from !== state ? this.clock() : 0;
    if (from === STATE_DRAINING) {
      // drained() waiters keep waiting for a removal that may come later.
      if (slot.removing) this.removals--;
      slot.removing = false;
    }
    if (from === state) return;
    this.moveTo(slot, from, state, up ? "markUp" : "markDown", now);
    if (up && this.waiting.count !== 0) this.drain(now);
  }

  setWeight(name: string, weight: number): void {
    const slot = this.slot(name);
    this.serve(() => this.core.setWeight(slot.index, checkWeight(weight)));
  }

  /** One backend's counters. */
  get(name: string): BackendSnapshot {
    // An unknown name throws before anything changes.
    this.slot(name);
    // The clock is read only when something may be due: reading it is not
    // free. The name is looked up again after: the tick's listeners may
    // have removed it.
    if (this.nextDue !== Infinity) this.tick();
    return this.snapshotOf(this.slot(name));
  }

  /** Every backend's counters, in configuration order; `.queue` holds the queue's figures. */
  snapshot(): Snapshot {
    // The clock is read only when something may be due or someone waits.
    const now = this.nextDue !== Infinity || this.waiting.count !== 0 ? this.clock() : 0;
    if (now >= this.nextDue) this.advance(now);
    const list = this.slots.map((s) => this.snapshotOf(s)) as Snapshot;
    const head = this.waiting.first;
    const queue: QueueSnapshot = { length: this.waiting.count, oldestWaitMs: head === null ? null : Math.max(0, now - head.since) };
    // Not enumerable, so the array still equals (and serializes as) a plain list of backends.
    Object.defineProperty(list, "queue", { value: queue, writable: true, configurable: true });
    return list;
  }

  /** Calls `fn` with each backend's name and active count, in order, allocating nothing. */
  forEachActive(fn: (name: string, active: number) => void): void {
    const core = this.core;
    for (const slot of this.slots) fn(slot.name, core.active(slot.index));
  }

  /** Active count of one backend (0..2^32-1). */
  active(name: string): number {
    return this.core.active(this.slot(name).index);
  }

  private snapshotOf(slot: Slot): BackendSnapshot {
    const c = this.core;
    const i = slot.index;
    const weight = c.weight(i);
    const limit = c.limit(i);
    return {
      name: slot.name,
      active: c.active(i),
      total: c.total(i),
      lastUsed: c.lastUsed(i),
      weight,
      state: STATE_NAMES[c.state(i)]!,
      maxConnections: limit === NO_LIMIT ? null : limit,
      effectiveWeight: effectiveWeight(weight, c.ramp(i)),
      failures: slot.run,
      ejectedUntil: slot.ejectEnd,
    };
  }

  private slot(name: string): Slot {
    const slot = this.byName.get(name);
    if (slot !== undefined) return slot;
    checkName(name);
    throw new UnknownBackendError(name);
  }
}
