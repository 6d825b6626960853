// The driver over one instance of the Wasm core: compiles the inlined module
// once, instantiates it synchronously, and keeps typed-array views of the
// table. Views go stale when memory grows, so they are re-taken after every
// call that can grow it (reset, add) and never cached elsewhere.

import {
  ARR_ACTIVE,
  ARR_COST,
  ARR_LAST,
  ARR_LIMIT,
  ARR_RAMP,
  ARR_STATE,
  ARR_TOTAL,
  ARR_WEIGHT,
  DECAY_DEFAULT_MS,
  ERR_NO_MEMORY,
  ERR_RANGE,
  NO_LIMIT,
  NONE,
  RAMP_ONE,
  REC_SIZE,
  SAMPLE_FIRST,
  SAMPLE_SECOND,
  STATE_DOWN,
  STATE_DRAINING,
  STATE_EJECTED,
  STATE_UP,
} from "../assembly/constants.js";

// Strides of a backend's record in each view's elements.
const REC_U16 = REC_SIZE / 2;
const REC_U32 = REC_SIZE / 4;
const REC_F64 = REC_SIZE / 8;

import wasmBytes from "../build/core-wasm.js";
import { CapacityError } from "./errors.js";

// The numbers shared with the core come from its own constants file, never copies.
export {
  DECAY_DEFAULT_MS,
  ERR_NO_MEMORY,
  ERR_RANGE,
  NO_LIMIT,
  NONE,
  RAMP_ONE,
  SAMPLE_FIRST,
  SAMPLE_SECOND,
  STATE_DOWN,
  STATE_DRAINING,
  STATE_EJECTED,
  STATE_UP,
};

/** The core's exports, numbers only (see assembly/index.ts; the numbers are in assembly/constants.ts). */
export interface CoreExports {
  memory: WebAssembly.Memory;
  reset(capacity: number, seed: number, rotateTies: number): number;
  attach(): void;
  add(weight: number): number;
  removeAt(index: number): number;
  setState(index: number, state: number): number;
  setWeight(index: number, weight: number): number;
  setActive(index: number, active: number): number;
  /** 0..2^32-1 (NO_LIMIT: none); a count above the limit stays. */
  setLimit(index: number, limit: number): number;
  /** Slow start: 1..RAMP_ONE (RAMP_ONE: full weight). */
  setRamp(index: number, ramp: number): number;
  /** Peak-ewma's time constant, ms (> 0). */
  setDecay(ms: number): number;
  acquire(algorithm: number, now: number): number;
  /** rtt: the request's duration in ms (< 0: unknown), now: the clock at release. */
  release(index: number, rtt: number, now: number): number;
  sample(which: number): number;
  size(): number;
  capacity(): number;
  layout(which: number): number;
}

/**
 * A core call returned a code the bindings never expect (they check indices
 * and states first), so the table and the bindings disagree: a defect, not
 * bad input. `rc` is the core's return code (ERR_* in assembly/constants.ts).
 */
export class CoreCallError extends Error {
  override name = "CoreCallError";
  declare readonly call: string;
  declare readonly rc: number;
  constructor(call: string, rc: number) {
    super(`core ${call} returned ${rc}`);
    this.call = call;
    this.rc = rc;
  }
}

function check(call: string, rc: number): void {
  if (rc !== 0) throw new CoreCallError(call, rc);
}

let compiled: WebAssembly.Module | undefined;

/** The compiled core, compiled on first use and shared by every table. */
export function coreModule(): WebAssembly.Module {
  return (compiled ??= new WebAssembly.Module(wasmBytes));
}

// The core calls whose return code means "done" (0) or a defect (ERR_*):
// CoreTable has each under the same name, returning nothing and throwing
// CoreCallError on any other code. Defined in one loop below, not one
// method each, for the size of the browser files.
const CHECKED = ["setState", "setWeight", "setActive", "removeAt", "setLimit", "setRamp", "setDecay"] as const;
type CheckedCalls = { [K in (typeof CHECKED)[number]]: (...args: Parameters<CoreExports[K]>) => void };

/**
 * One table: a core instance plus views of its memory. A backend's fields
 * are in 16-byte records (REC_SIZE, hot and cold): field f of backend i is at
 * (layout(f) >> log2(width)) + i * (REC_SIZE / width) in the view of its
 * width; the ewma cost is an array of f64 (stride 1).
 */
// The checked calls, defined on the prototype after the class.
export interface CoreTable extends CheckedCalls {}
// Every field is set by the constructor or by refresh(), which the
// Balancer calls before any read; `declare`d, so the minified files carry
// no declarations or initial values for them.
export class CoreTable {
  declare readonly exports: CoreExports;
  /** Whole-memory views. */
  declare u16: Uint16Array;
  declare u32: Uint32Array;
  declare f64: Float64Array;
  declare activeAt: number;
  declare weightAt: number;
  declare stateAt: number;
  declare totalAt: number;
  declare lastAt: number;
  declare limitAt: number;
  declare rampAt: number;
  declare costAt: number;
  declare private memoryBuffer: ArrayBuffer | SharedArrayBuffer | undefined;
  declare private cap: number;

  /** A table over an instance made elsewhere (e.g. by @assemblyscript/loader). */
  constructor(exports: CoreExports) {
    this.exports = exports;
  }

  /**
   * A new instance. A RangeError from instantiation is the runtime failing to
   * allocate (or reserve address space for) the instance's memory: it becomes
   * a CapacityError (LC_ERR_CAPACITY). V8 with its trap handler reserves about
   * 10 GiB per memory whatever its maximum (docs/CORE.md, "Memory").
   */
  static instantiate(module: WebAssembly.Module = coreModule(), imports: WebAssembly.Imports = {}): CoreTable {
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(module, imports);
    } catch (err) {
      if (err instanceof RangeError) {
        throw new CapacityError(`cannot allocate the memory of another table (${err.message}); see "Memory" in docs/CORE.md`);
      }
      throw err;
    }
    // By a string: the minified files rename CoreTable's own `exports` (scripts/build.mjs).
    return new CoreTable(Reflect.get(instance, "exports") as unknown as CoreExports);
  }

  /** Re-takes views and offsets if memory or capacity changed. */
  refresh(): void {
    const e = this.exports;
    const cap = e.capacity();
    const buffer = e.memory.buffer;
    if (this.memoryBuffer === buffer && this.cap === cap) return;
    this.memoryBuffer = buffer;
    this.cap = cap;
    this.u16 = new Uint16Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.f64 = new Float64Array(buffer);
    // An array's first element, in elements of 2^shift bytes (one helper: the browser bundle's budget).
    const at = (array: number, shift: number): number => e.layout(array) >>> shift;
    this.activeAt = at(ARR_ACTIVE, 2);
    this.weightAt = at(ARR_WEIGHT, 2);
    this.stateAt = at(ARR_STATE, 1);
    this.totalAt = at(ARR_TOTAL, 2);
    this.lastAt = at(ARR_LAST, 3);
    this.limitAt = at(ARR_LIMIT, 2);
    this.rampAt = at(ARR_RAMP, 1);
    this.costAt = at(ARR_COST, 3);
  }

  active(i: number): number {
    return this.u32[this.activeAt + i * REC_U32]!;
  }
  weight(i: number): number {
    return this.u32[this.weightAt + i * REC_U32]!;
  }
  state(i: number): number {
    return this.u16[this.stateAt + i * REC_U16]!;
  }
  /** The limit on active requests (NO_LIMIT when none). */
  limit(i: number): number {
    return this.u32[this.limitAt + i * REC_U32]!;
  }
  /** Slow-start ramp, 1..RAMP_ONE (RAMP_ONE: full weight). */
  ramp(i: number): number {
    return this.u16[this.rampAt + i * REC_U16]!;
  }
  /** Peak-ewma cost in ms as last stored (decayed only when observed or compared). */
  cost(i: number): number {
    return this.f64[this.costAt + i]!;
  }
  /**
   * Total requests: a u64 read as two halves, exact below 2^53. Another
   * thread may carry into the high half between the two reads; the total
   * only grows, so a high half unchanged across the low read is consistent.
   */
  total(i: number): number {
    const at = this.totalAt + i * REC_U32;
    const u32 = this.u32;
    let hi = Atomics.load(u32, at + 1);
    for (;;) {
      const lo = Atomics.load(u32, at);
      const again = Atomics.load(u32, at + 1);
      if (again === hi) return lo + hi * 4294967296;
      hi = again;
    }
  }
  /** Last-used time, or null when never picked (stored as NaN). */
  lastUsed(i: number): number | null {
    const t = this.f64[this.lastAt + i * REC_F64]!;
    return t === t ? t : null;
  }
}

for (const call of CHECKED) {
  (CoreTable.prototype as unknown as Record<string, unknown>)[call] = function (this: CoreTable, ...args: number[]): void {
    check(call, (this.exports[call] as (...a: number[]) => number)(...args));
  };
}
