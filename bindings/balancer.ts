// The public Balancer: names, validation, leases and draining over one core
// table. Runtime-neutral: no Node, Deno or DOM API is used here.
//
// Slots mirror the core's indices one to one. Removing a backend compacts
// the core, so leases hold their Slot (whose index is kept current), never
// a raw index; a Slot marked gone makes late releases harmless.

import { AlgorithmId, algorithmId, algorithmName, type Algorithm } from "./algorithms.js";
import { CoreTable, ERR_NO_MEMORY, SAMPLE_FIRST, SAMPLE_SECOND, STATE_DOWN, STATE_DRAINING, STATE_UP } from "./core.js";
import {
  CapacityError,
  DuplicateBackendError,
  InvalidArgumentError,
  UnderflowError,
  UnknownBackendError,
  UnsupportedError,
  describe,
} from "./errors.js";

export type BackendState = "up" | "down" | "draining";

export interface BackendSpec {
  name: string;
  /** Integer 0..MAX_WEIGHT; 0 means never picked. Default 1. */
  weight?: number;
  /** Initial active count, 0..MAX_ACTIVE. Default 0. */
  connections?: number;
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
}

export interface AcquireOptions {
  algorithm?: string;
}

export interface BackendSnapshot {
  name: string;
  active: number;
  total: number;
  lastUsed: number | null;
  weight: number;
  state: BackendState;
}

/** Largest accepted weight. */
export const MAX_WEIGHT = 1_000_000;
/** Largest accepted active count in a snapshot (2^31 - 1). */
export const MAX_ACTIVE = 0x7fffffff;

const STATE_NAMES: readonly BackendState[] = ["up", "down", "draining"];

class Slot {
  index: number;
  gone = false;
  /** remove() was called: leaves the table when its count reaches 0. */
  removing = false;
  waiters: Array<() => void> | undefined;
  constructor(readonly name: string, index: number) {
    this.index = index;
  }
}

/** One request counted on one backend, until released. */
export class Lease {
  private done = false;

  /** @internal */
  constructor(private readonly owner: Balancer, private readonly slot: Slot) {}

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
   * Ends the request. Idempotent: only the first call counts. Returns true
   * when it decremented a count; false when already released, when the
   * backend is gone, or when a snapshot had already set the count to 0.
   */
  release(): boolean {
    if (this.done) return false;
    this.done = true;
    return this.owner._releaseSlot(this.slot);
  }
}

/** A power-of-two-choices lease, with what the choice was made on. */
export class ChoiceLease extends Lease {
  /** @internal */
  constructor(
    owner: Balancer,
    slot: Slot,
    /** The sampled backends, in the order drawn (one when only one can take traffic). */
    readonly sampled: readonly string[],
    /** Their active counts when compared. */
    readonly sampledActive: readonly number[],
  ) {
    super(owner, slot);
  }
}

// HAProxy-style cached time: the first read calls Date.now() and queues a
// microtask that forgets it, so every pick in the same synchronous run (and
// in microtasks queued before that one) shares one clock read, and no value
// outlives the job that read it. Deliberately a microtask, not a timer or
// setImmediate: it bounds staleness to one job and is runtime-neutral.
let turnNow = NaN;
function clearTurnNow(): void {
  turnNow = NaN;
}
export function coarseClock(): number {
  if (turnNow !== turnNow) {
    turnNow = Date.now();
    queueMicrotask(clearTurnNow);
  }
  return turnNow;
}

// Validators, shared with the node so that its replies say what the library
// says. An argument is named by itself ("backend must be ..."); an item of
// the `backends` option by its path and what it is ("backends[1].weight: a
// weight must be ...").
function invalid(field: string, what: string | undefined, rule: string, value: unknown): InvalidArgumentError {
  const head = what === undefined ? field : `${field}: ${what}`;
  return new InvalidArgumentError(field, `${head} must be ${rule}, got ${describe(value)}`);
}

/** A backend name: a non-empty string. */
export function checkName(name: unknown, field = "backend", what?: string): string {
  if (typeof name !== "string" || name.length === 0) throw invalid(field, what, "a non-empty string", name);
  return name;
}

function checkInt(value: unknown, max: number, field: string, what: string | undefined): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw invalid(field, what, `an integer from 0 to ${max}`, value);
  }
  return value;
}

export function checkWeight(value: unknown, field = "weight", what?: string): number {
  return checkInt(value, MAX_WEIGHT, field, what);
}

export function checkActive(value: unknown, field = "active", what?: string): number {
  return checkInt(value, MAX_ACTIVE, field, what);
}

/** An algorithm name (any spelling PROTOCOL.md allows) to its number. */
export function checkAlgorithm(name: unknown): AlgorithmId {
  if (typeof name !== "string") throw invalid("algorithm", undefined, "a string", name);
  return algorithmId(name);
}

interface NormalSpec {
  name: string;
  weight: number;
  connections: number;
}

function normalizeSpecs(list: unknown): NormalSpec[] {
  if (!Array.isArray(list)) throw invalid("backends", undefined, "an array of names or {name, weight, connections} objects", list);
  const seen = new Set<string>();
  const out: NormalSpec[] = [];
  list.forEach((item: unknown, i) => {
    const field = `backends[${i}]`;
    let spec: NormalSpec;
    if (typeof item === "string") {
      spec = { name: checkName(item, field, "a backend name"), weight: 1, connections: 0 };
    } else if (item !== null && typeof item === "object" && !Array.isArray(item)) {
      const o = item as Record<string, unknown>;
      spec = {
        name: checkName(o.name, `${field}.name`, "a backend name"),
        weight: o.weight === undefined ? 1 : checkWeight(o.weight, `${field}.weight`, "a weight"),
        connections: o.connections === undefined ? 0 : checkActive(o.connections, `${field}.connections`, "an active count"),
      };
    } else {
      throw new InvalidArgumentError(field, `${field}: must be a name or {name, weight, connections}, got ${describe(item)}`);
    }
    if (seen.has(spec.name)) throw new DuplicateBackendError(spec.name);
    seen.add(spec.name);
    out.push(spec);
  });
  return out;
}

// Option bags are optional, but when given must be plain objects.
function checkOptions<T extends object>(value: T | undefined, field: string): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalid(field, undefined, "an object", value);
  }
  return value;
}

function checkSeed(seed: unknown): number {
  if (typeof seed !== "number" || !Number.isSafeInteger(seed) || seed < 0) {
    throw new InvalidArgumentError("seed", `seed: must be an integer from 0 to 2^53-1, got ${describe(seed)}`);
  }
  return seed;
}

/**
 * A table from elsewhere than the default build. `own`: a private table over
 * another build (the debug build in tests). `create` sizes and fills a fresh
 * shared table, `attach` joins one that another thread filled; membership of
 * a shared table is fixed (names cannot follow to the other threads), so
 * add/remove throw.
 * @internal
 */
export interface TableSource {
  core: CoreTable;
  mode: "own" | "create" | "attach";
}

/** Dispatched by a Balancer, synchronously; `backend` names the backend concerned. */
export class BackendEvent extends Event {
  constructor(
    type: keyof BalancerEventMap,
    readonly backend: string,
  ) {
    super(type);
  }
}

/** The events of a Balancer. "removed": a backend left the table (removed, and drained). */
export interface BalancerEventMap {
  removed: BackendEvent;
}

type Listener<K extends keyof BalancerEventMap> = ((event: BalancerEventMap[K]) => void) | { handleEvent(event: BalancerEventMap[K]): void };

export interface Balancer {
  addEventListener<K extends keyof BalancerEventMap>(type: K, listener: Listener<K> | null, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof BalancerEventMap>(type: K, listener: Listener<K> | null, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

// An EventTarget (global in Node, Deno and browsers), so state changes are
// told to listeners instead of polled.
export class Balancer extends EventTarget {
  private readonly core: CoreTable;
  private readonly slots: Slot[] = [];
  private readonly byName = new Map<string, Slot>();
  private readonly clock: () => number;
  private algorithmValue: AlgorithmId;
  private readonly rotate: boolean;
  private readonly fixed: boolean;

  constructor(options: BalancerOptions = {}, source?: TableSource) {
    super();
    if (options === null || typeof options !== "object") throw invalid("options", undefined, "an object", options);
    const specs = normalizeSpecs(options.backends === undefined ? [] : options.backends);
    this.algorithmValue = options.algorithm === undefined ? AlgorithmId.LeastConnections : checkAlgorithm(options.algorithm);
    const seed = options.seed === undefined ? 0 : checkSeed(options.seed);
    if (options.clock !== undefined && typeof options.clock !== "function") {
      throw invalid("clock", undefined, "a function returning milliseconds", options.clock);
    }
    this.clock = options.clock ?? coarseClock;
    const tie = options.tieBreak ?? "first";
    if (tie !== "first" && tie !== "rotate") {
      throw invalid("tieBreak", undefined, '"first" or "rotate"', tie);
    }
    this.rotate = tie === "rotate";

    this.fixed = source !== undefined && source.mode !== "own";
    this.core = source?.core ?? CoreTable.instantiate();
    if (source?.mode === "attach") {
      this.core.exports.attach();
      this.core.refresh();
      if (this.core.exports.size() !== specs.length) {
        throw new InvalidArgumentError("backends", `backends must match the shared table: it has ${this.core.exports.size()}, not ${specs.length}`);
      }
      specs.forEach((spec, i) => this.addSlot(spec.name, i));
      return;
    }
    if (this.core.exports.reset(specs.length, seed, this.rotate ? 1 : 0) < 0) {
      throw new CapacityError(`cannot allocate a table for ${specs.length} backends`);
    }
    for (const spec of specs) this.append(spec.name, spec.weight, spec.connections);
  }

  /** The default algorithm of acquire(). */
  get algorithm(): Algorithm {
    return algorithmName(this.algorithmValue);
  }

  set algorithm(name: string) {
    this.algorithmValue = checkAlgorithm(name);
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
   * can take traffic (no backends, or all down, draining or weight 0).
   */
  acquire(options?: AcquireOptions): Lease | null {
    const alg = options === undefined ? this.algorithmValue : this.algorithmOf(options);
    const core = this.core;
    const i = core.exports.acquire(alg, this.clock());
    if (i < 0) return null;
    const slot = this.slots[i]!;
    return alg === AlgorithmId.PowerOfTwoChoices ? this.choiceLease(slot) : new Lease(this, slot);
  }

  private algorithmOf(options: AcquireOptions): AlgorithmId {
    const { algorithm } = checkOptions(options, "options");
    return algorithm === undefined ? this.algorithmValue : checkAlgorithm(algorithm);
  }

  private choiceLease(slot: Slot): ChoiceLease {
    const core = this.core;
    const first = core.exports.sample(SAMPLE_FIRST);
    const second = core.exports.sample(SAMPLE_SECOND);
    // The pick was counted already; report the counts it was chosen on.
    const before = (i: number): number => core.active(i) - (i === slot.index ? 1 : 0);
    if (second < 0) return new ChoiceLease(this, slot, [this.slots[first]!.name], [before(first)]);
    return new ChoiceLease(this, slot, [this.slots[first]!.name, this.slots[second]!.name], [before(first), before(second)]);
  }

  /** Ends one request on `name` without a lease (a completion seen from outside). */
  release(name: string): void {
    const slot = this.slot(name);
    if (!this._releaseSlot(slot)) throw new UnderflowError(name);
  }

  /** @internal */
  _releaseSlot(slot: Slot): boolean {
    if (slot.gone) return false;
    // No duration yet (rtt -1: the core observes nothing, so `now` is unused).
    const ok = this.core.exports.release(slot.index, -1, 0) === 1;
    if (slot.removing && this.core.active(slot.index) === 0) this.finishRemoval(slot);
    return ok;
  }

  /** Sets a backend's active count from an outside snapshot. */
  setActive(name: string, active: number): void {
    const slot = this.slot(name);
    this.core.setActive(slot.index, checkActive(active));
    if (slot.removing && active === 0) this.finishRemoval(slot);
  }

  /** Adds a backend at the end of the order. */
  add(name: string, options?: { weight?: number; connections?: number }): void {
    this.checkMembershipOpen("add");
    checkName(name);
    const opts = checkOptions(options, "options");
    const weight = opts.weight === undefined ? 1 : checkWeight(opts.weight);
    const connections = opts.connections === undefined ? 0 : checkActive(opts.connections, "connections");
    if (this.byName.has(name)) throw new DuplicateBackendError(name);
    this.append(name, weight, connections);
  }

  private append(name: string, weight: number, connections: number): void {
    const e = this.core.exports;
    const index = e.add(weight);
    if (index === ERR_NO_MEMORY) throw new CapacityError(`cannot grow the table past ${this.slots.length} backends`);
    if (connections !== 0) this.core.setActive(index, connections);
    this.core.refresh();
    this.addSlot(name, index);
  }

  private addSlot(name: string, index: number): void {
    const slot = new Slot(name, index);
    this.slots.push(slot);
    this.byName.set(name, slot);
  }

  private checkMembershipOpen(what: string): void {
    if (this.fixed) throw new UnsupportedError(`${what}: a shared table has a fixed set of backends`);
  }

  /**
   * Drains a backend: no new picks; it leaves the table once its active
   * count is 0 (at once if it is 0 now). Releases of its leases stay safe.
   */
  remove(name: string): void {
    this.checkMembershipOpen("remove");
    const slot = this.slot(name);
    slot.removing = true;
    this.core.setState(slot.index, STATE_DRAINING);
    if (this.core.active(slot.index) === 0) this.finishRemoval(slot);
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

  private finishRemoval(slot: Slot): void {
    const at = slot.index;
    this.core.removeAt(at);
    this.slots.splice(at, 1);
    for (let j = at; j < this.slots.length; j++) this.slots[j]!.index = j;
    this.byName.delete(slot.name);
    slot.gone = true;
    const waiters = slot.waiters ?? [];
    slot.waiters = undefined;
    for (const resolve of waiters) resolve();
    this.dispatchEvent(new BackendEvent("removed", slot.name));
  }

  /** Takes a backend out of rotation; its open requests still release normally. */
  markDown(name: string): void {
    this.setState(name, STATE_DOWN);
  }

  /** Puts a backend back in rotation; on a draining backend this cancels the removal. */
  markUp(name: string): void {
    this.setState(name, STATE_UP);
  }

  private setState(name: string, state: number): void {
    const slot = this.slot(name);
    if (this.core.state(slot.index) === STATE_DRAINING) {
      // Down on a draining backend changes nothing: it takes no traffic already.
      if (state === STATE_DOWN) return;
      // drained() waiters keep waiting for a removal that may come later.
      slot.removing = false;
    }
    this.core.setState(slot.index, state);
  }

  setWeight(name: string, weight: number): void {
    const slot = this.slot(name);
    this.core.setWeight(slot.index, checkWeight(weight));
  }

  /** One backend's counters. */
  get(name: string): BackendSnapshot {
    return this.snapshotOf(this.slot(name));
  }

  /** Every backend's counters, in configuration order. */
  snapshot(): BackendSnapshot[] {
    return this.slots.map((s) => this.snapshotOf(s));
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
    return {
      name: slot.name,
      active: c.active(i),
      total: c.total(i),
      lastUsed: c.lastUsed(i),
      weight: c.weight(i),
      state: STATE_NAMES[c.state(i)]!,
    };
  }

  private slot(name: string): Slot {
    const slot = this.byName.get(name);
    if (slot !== undefined) return slot;
    checkName(name);
    throw new UnknownBackendError(name);
  }
}
