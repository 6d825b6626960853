// Shared-memory tables: one backend table in a shared WebAssembly.Memory,
// used by several threads at once through the threads build of the core
// (atomic counters: no update is lost; under contention two threads may pick
// the same backend). Runtime-neutral: posting the handle to a worker is the
// caller's business (worker_threads in Node, Web Workers in Deno and browsers;
// browsers need cross-origin isolation for SharedArrayBuffer). Each
// Balancer over the table is bound to a thread id of its thread table:
// reclaim(id) gives a dead thread's leases back and frees a lock it held
// (assembly/lock.ts; docs/RUNTIMES.md, "After a thread dies").

import { ERR_BOUND, ERR_LOCK_TIMEOUT, STATE_EJECTED } from "../assembly/constants.js";
import wasmBytes from "../build/core-threads-wasm.js";
import { type AcquireOptions, type AddOptions, Balancer, type BalancerOptions, type ReleaseOptions, type TableSource } from "./balancer.js";
import { CoreTable } from "./core.js";
import { CapacityError, describe, InvalidArgumentError, LeastconnError, UnsupportedError } from "./errors.js";
import type { Lease } from "./lease.js";
import { normalizeSpecs } from "./options.js";
import type { CancelWait, Waiter } from "./queue.js";

/** Everything another thread needs to attach; structured-cloneable. */
export interface SharedHandle {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  backends: string[];
  algorithm: string;
  tieBreak: "first" | "rotate";
  /** A thread id reserved by reserveThread(): the attaching thread takes it. Absent: it claims a free one. */
  thread?: number;
}

/** createShared's options: a Balancer's, plus the size of the thread table. */
export interface SharedOptions extends BalancerOptions {
  /** Threads that may be attached at once, 1..255 (default 64); each costs 4 bytes per backend. */
  maxThreads?: number;
}

export const DEFAULT_MAX_THREADS = 64;

/**
 * A call that needs the table's lock found it held by a live thread for the
 * whole spin bound (hundreds of milliseconds): no owner could be proven dead.
 * Nothing changed. Retry, or reclaim the holder if it is gone.
 */
export class LockTimeoutError extends LeastconnError {
  override name = "LockTimeoutError";
  constructor() {
    super("LC_ERR_LOCK_TIMEOUT", "the shared table's lock stayed held by a live thread; nothing changed");
  }
}

/** This Balancer's thread was detached, or reclaimed as dead: it can no longer use the table. */
export class DetachedError extends LeastconnError {
  override name = "DetachedError";
  constructor(message = "this thread was detached from the shared table (or reclaimed as dead)") {
    super("LC_ERR_DETACHED", message);
  }
}

// The threads build's thread-table exports (assembly/threads.ts, lock.ts).
interface ThreadExports {
  initThreads(slots: number): number;
  claimThread(): number;
  bindThread(id: number): number;
  reclaimThread(id: number): number;
  lockOwner(): number;
  pauseNextLock(on: number): void;
}

// Pages the threads build may grow to (its declared maximum, 256 MiB).
const MAX_PAGES = 4096;
/** How often a Balancer with waiters looks for a slot another thread freed (ms). */
const POLL_MS = 10;

let compiled: WebAssembly.Module | undefined;

export function threadsModule(): WebAssembly.Module {
  return (compiled ??= new WebAssembly.Module(wasmBytes));
}

// The core throws through this import (only the threads build has it), so
// the hot path carries no check of a return code.
function imports(memory: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      memory,
      fail(code: number): never {
        throw code === ERR_LOCK_TIMEOUT ? new LockTimeoutError() : new DetachedError();
      },
    },
  };
}

/**
 * A Balancer over a shared table, bound to one thread id of the table's
 * thread table: the leases it takes are counted under that id, so whoever
 * reclaims the id (its thread having died) gives them back.
 */
export class SharedBalancer extends Balancer {
  /** This Balancer's thread id (slot | generation << 8). */
  readonly thread: number;
  readonly #threads: ThreadExports;
  readonly #handle: SharedHandle;
  #poll: ReturnType<typeof setInterval> | undefined;

  /** @internal */
  constructor(
    options: BalancerOptions,
    source: TableSource,
    handle: Omit<SharedHandle, "backends" | "algorithm" | "tieBreak">,
    maxThreads: number,
  ) {
    super(options, source);
    const t = source.core.exports as unknown as ThreadExports;
    this.#threads = t;
    if (source.mode === "attach") {
      // The table is filled: take its backends, which must be the handle's names in order.
      const specs = normalizeSpecs(options.backends ?? []);
      const core = source.core.exports;
      core.attach();
      source.core.refresh();
      if (core.size() !== specs.length) {
        throw new InvalidArgumentError("backends", `backends must match the shared table: it has ${core.size()}, not ${specs.length}`);
      }
      for (const [i, spec] of specs.entries()) this._addSlot(spec.name, i);
    }
    if (source.mode === "create" && t.initThreads(maxThreads) !== 0) {
      throw new CapacityError(`cannot allocate a thread table of ${maxThreads} threads for ${this.size} backends`);
    }
    source.core.refresh();
    this.#handle = { ...handle, backends: this.names, algorithm: this.algorithm, tieBreak: this.tieBreak };
    const id = handle.thread ?? t.claimThread();
    if (id < 0) throw new CapacityError("every thread slot of the shared table is taken (createShared's maxThreads)");
    const bound = t.bindThread(id);
    if (bound === ERR_BOUND) {
      // Two Balancers on one thread id would release, and a reclaim would take, each other's leases.
      throw new InvalidArgumentError(
        "handle",
        `thread ${id} of the shared table is attached already: each Balancer needs its own id (reserveThread(), or a handle without one)`,
      );
    }
    if (bound !== 0) throw new DetachedError(`thread ${id} of the shared table is not live (reclaimed before it attached?)`);
    this.thread = id;
  }

  /** Membership of a shared table is fixed: names cannot follow to the other threads. */
  override add(_name: string, _options?: AddOptions): never {
    throw new UnsupportedError("add: a shared table has a fixed set of backends");
  }

  override remove(_name: string): never {
    throw new UnsupportedError("remove: a shared table has a fixed set of backends");
  }

  // What changes the table for every thread is refused once this thread is
  // detached or reclaimed (docs/RUNTIMES.md: its other calls throw
  // DetachedError). Re-binding a live id sets what it already holds.
  #live(): void {
    if (this.#threads.bindThread(this.thread) === 0) return;
    this.#failWaiters();
    throw new DetachedError();
  }

  // With waiters queued, acquire() answers null before any pick: it would
  // not learn that this thread was reclaimed (nor would one more waiter).
  override acquire(options?: AcquireOptions): Lease | null {
    if (this.waiting.count !== 0) this.#live();
    return super.acquire(options);
  }

  /** @internal */
  override _enqueue(waiter: Waiter<Lease>, algorithm?: string): CancelWait {
    if (this.waiting.count !== 0) this.#live();
    const cancel = super._enqueue(waiter, algorithm);
    if (this.waiting.count !== 0 && this.#poll === undefined) {
      // Another thread's release frees a slot without telling this one: while
      // anyone waits here, look every POLL_MS (unref'd where the runtime can).
      const poll = setInterval(() => {
        if (this.waiting.count === 0) {
          clearInterval(poll);
          this.#poll = undefined;
          return;
        }
        try {
          this.drain(this.clock());
        } catch {
          // A clock that throws, or a pick refused: the waiters keep their own timeouts.
        }
      }, POLL_MS);
      (poll as { unref?: () => void }).unref?.();
      this.#poll = poll;
    }
    return cancel;
  }

  override release(name: string, options?: ReleaseOptions): void {
    this.#live();
    super.release(name, options);
  }

  override setActive(name: string, active: number): void {
    this.#live();
    super.setActive(name, active);
  }

  override setMaxConnections(name: string, maxConnections: number | undefined): void {
    this.#live();
    super.setMaxConnections(name, maxConnections);
  }

  override setWeight(name: string, weight: number): void {
    this.#live();
    super.setWeight(name, weight);
  }

  override markDown(name: string): void {
    this.#live();
    super.markDown(name);
  }

  override markUp(name: string): void {
    this.#live();
    super.markUp(name);
  }

  /**
   * A retry's pick here does not leave tried backends out: flipping their
   * state in shared memory could overwrite another thread's state change
   * (a health check, an ejection) made between the flip and its undo.
   * @internal
   */
  override _acquireExcept(_names: readonly string[]): Lease | null {
    return this.acquire();
  }

  /**
   * Ejections are this Balancer's own, the states the table's: an ejection
   * that another thread ended meanwhile (its markDown or markUp) is
   * forgotten at its end, not "recovered" over that thread's state.
   * @internal
   */
  protected override endEjections(now: number): boolean {
    const { ejected } = this.ejections;
    for (const slot of ejected) if (this.core.state(slot.index) !== STATE_EJECTED) this.ejections.leaveEjection(slot);
    return super.endEjections(now);
  }

  /**
   * A detached or reclaimed thread can serve no waiter (a pick would throw
   * DetachedError): its waiters fail with DetachedError, and the release or
   * change that came here keeps its own result.
   * @internal
   */
  protected override drain(now: number): void {
    if (this.#threads.bindThread(this.thread) === 0) super.drain(now);
    else this.#failWaiters();
  }

  #failWaiters(): void {
    const waiting = this.waiting;
    for (let e = waiting.first; e !== null; e = waiting.first) {
      waiting.delete(e);
      e.waiter.fail(new DetachedError());
    }
    waiting.disarmWake();
  }

  /** The handle other threads attach with (each claims a free thread id). */
  get handle(): SharedHandle {
    return { ...this.#handle, thread: undefined };
  }

  /**
   * Reserves a thread id and returns a handle carrying it: post it to a new
   * worker, and reclaim `handle.thread` when that worker dies, even if it died
   * before attaching.
   */
  reserveThread(): SharedHandle & { thread: number } {
    const id = this.#threads.claimThread();
    if (id < 0) throw new CapacityError("every thread slot of the shared table is taken (createShared's maxThreads)");
    return { ...this.#handle, thread: id };
  }

  /**
   * Declares thread `thread` dead: a lock it holds can be taken over, and
   * the leases it held are subtracted from the counts, exactly once. Returns
   * how many were given back (0 when that id is not live: already reclaimed
   * or detached). Call it only once the thread is gone (its worker's exit).
   */
  reclaim(thread: number): number {
    if (!Number.isInteger(thread) || thread < 0 || thread > 0x3fffffff) {
      throw new InvalidArgumentError("thread", `thread must be a thread id from reserveThread() or .thread, got ${describe(thread)}`);
    }
    return this.#threads.reclaimThread(thread);
  }

  /** Leaves the table: leases still held are given back, waiters here fail and further calls throw DetachedError. Returns how many. */
  detach(): number {
    const given = this.#threads.reclaimThread(this.thread);
    this.#failWaiters();
    return given;
  }

  /** @internal The lock word (0: free, else the owner's thread id); for tests. */
  _lockOwner(): number {
    return this.#threads.lockOwner() >>> 0;
  }

  /** @internal Tests only: this thread's next locked call holds the lock until the thread is killed. */
  _pauseNextLock(): void {
    this.#threads.pauseNextLock(1);
  }
}

/** A Balancer over a new shared table (bound to this thread), and the handle that lets other threads join it. */
export function createShared(options: SharedOptions = {}): { balancer: SharedBalancer; handle: SharedHandle } {
  const maxThreads = options?.maxThreads ?? DEFAULT_MAX_THREADS;
  if (!Number.isInteger(maxThreads) || maxThreads < 1 || maxThreads > 255) {
    throw new InvalidArgumentError("maxThreads", `maxThreads must be an integer from 1 to 255, got ${describe(maxThreads)}`);
  }
  const module = threadsModule();
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  const core = CoreTable.instantiate(module, imports(memory));
  const balancer = new SharedBalancer(options, { core, mode: "create" }, { module, memory }, maxThreads);
  return { balancer, handle: balancer.handle };
}

/**
 * A Balancer over the shared table of `handle` (in this or another thread),
 * bound to its own thread id. `options`: its clock, its default algorithm
 * (else the creator's), and its own queue, ejection and slow start (none
 * unless given: each Balancer keeps these, the table keeps counts, limits,
 * weights and states).
 */
export function attachShared(
  handle: SharedHandle,
  options: Pick<BalancerOptions, "clock" | "algorithm" | "queue" | "ejection" | "slowStart"> = {},
): SharedBalancer {
  const notHandle = new InvalidArgumentError("handle", "handle must be the handle returned by createShared()");
  if (
    handle === null ||
    typeof handle !== "object" ||
    !(handle.module instanceof WebAssembly.Module) ||
    !(handle.memory instanceof WebAssembly.Memory) ||
    !WebAssembly.Module.imports(handle.module).some((i) => i.kind === "memory")
  ) {
    throw notHandle;
  }
  if (options === null || typeof options !== "object") {
    throw new InvalidArgumentError("options", "options must be an object");
  }
  // The threads build imports a shared memory; any other module or memory
  // fails to link, which says nothing useful to the caller.
  let core: CoreTable;
  try {
    core = CoreTable.instantiate(handle.module, imports(handle.memory));
  } catch {
    throw notHandle;
  }
  return new SharedBalancer(
    {
      backends: handle.backends,
      algorithm: options.algorithm ?? handle.algorithm,
      tieBreak: handle.tieBreak,
      clock: options.clock,
      // Each Balancer's own (its queue, its ejections, its ramps); the table's limits and states are shared.
      queue: options.queue,
      ejection: options.ejection,
      slowStart: options.slowStart,
    },
    { core, mode: "attach" },
    { module: handle.module, memory: handle.memory, thread: handle.thread },
    0,
  );
}

// Everything else, so one import serves a thread that uses a shared table.
export * from "./index.js";
