// The threads build's lock and thread table. In the single-threaded build
// every call here compiles to nothing (or to a constant), so the release
// build carries none of it.
//
// The lock guards the selection state that threads share and that no single
// atomic operation can update: smooth-wrr weights (the round-robin cursor
// moves by compare-and-swap instead, picks.ts),
// the generator, the eligible and ramping lists (not the tie-rotation
// cursor: a race there only skews rotation). Counters need no lock: they
// change by atomic read-modify-write.
//
// No lock outlives its holder. The lock word holds its owner's thread id
// (slot | generation << 8); the thread table (H_THREADS, H_TMAX) holds each
// slot's status (generation << 2 | T_*). A thread that finds the lock held
// by an id whose slot no longer says "live with that generation" (the main
// thread reclaimed it: the holder died) takes the lock over and rebuilds the
// derived state the holder may have left half-written (repair()). Spinning
// is bounded: after LOCK_SPINS failed tries on a live owner the call fails
// with ERR_LOCK_TIMEOUT instead of hanging.
//
// Leases per thread: the table also holds, for every slot, a row of how
// many leases that thread holds on each backend. Only the slot's thread adds
// to its row (a plain store) or takes from it; reclaim() exchanges the row
// with zeros and subtracts it from the counts: exactly once, since only one
// caller can move the slot from live to dead. Kill-safe: acquire adds to the row right
// after its compare-and-swap on the count, and release takes from the row
// right before the count, in straight-line code (no call, no loop edge
// between the two: V8 delivers termination only at function entries and loop
// back edges), so a thread killed at any point leaves its row equal to what
// it holds.
//
// A reclaimed thread may still be running (a Web Worker runs on for a moment
// after terminate(), and the OS may have descheduled it mid-call), so each
// row update must settle with a reclaim that runs at the same time:
// - acquire adds to its row with a plain store, then makes a locked add (the
//   backend's total), then reads its slot's status. On x64 a locked
//   instruction drains the store buffer, and on ARM64 V8's atomic
//   read-modify-write is a release/acquire pair, so the row store is visible
//   to every thread before the status is read. A call that still finds
//   itself live therefore wrote its row before the reclaim declared it dead,
//   and the reclaim's exchange counts the lease. A call that finds itself
//   dead settles with one compare-and-swap on its entry: nonzero means the
//   reclaim has not counted this lease (the exchange is still to come, or
//   took the value from before the store), so the call takes it off the
//   entry and the count (inline: no function entry, where a terminated
//   thread would stop, comes between); zero means the reclaim took it.
//   (The Wasm memory model alone does not order a plain store before a
//   later atomic load; the engines' code for its atomics does.)
// - release takes from its row by compare-and-swap before the count. A plain
//   store there could let the reclaim (reading the entry before the store
//   lands) and the release both subtract the same lease; the reclaim stops
//   each count at 0 (a snapshot may have lowered it), and a double
//   subtraction clipped there cannot be undone exactly. The compare-and-swap
//   makes the row the one place where a lease is taken, by one of them.
// A freed slot is claimed again last (claims go round the table), so a late
// store from its dead thread lands in a row nobody uses, and the next claim
// clears it.
//
// A claim reserves a slot; one instance binds it (reserved -> live), once. A
// second instance given the same id is refused (ERR_BOUND): two instances on
// one row would each release, and one reclaim would take, the other's leases.

import { ERR_BOUND, ERR_DETACHED, ERR_LOCK_TIMEOUT, ERR_NO_MEMORY, ERR_RANGE } from "./constants";
import {
  BASE, F_ELIG_OK, F_LC_OK, F_WLC_OK, H_LOCK, H_RAMPING, H_RR, H_THREADS, H_TMAX, ONE, clearFlags, count, ensureMemory,
  hget, hset, offCurw, offEnd, offRamping, rampOf, rec,
} from "./table";

// Slot states (low two bits of a status word).
export const T_FREE: u32 = 0;
export const T_LIVE: u32 = 1;
export const T_DEAD: u32 = 2;
export const T_RESERVED: u32 = 3; // claimed, not bound yet: no row in use, never a lock owner
/** Largest thread table: slot numbers fit the lock word's low byte (255 is "no slot"). */
export const MAX_THREADS: u32 = 255;
const NO_SLOT: u32 = 255;
/** Failed tries on a live owner before ERR_LOCK_TIMEOUT (hundreds of ms; critical sections take microseconds). */
const LOCK_SPINS: u32 = 1 << 26;

// Thrown by the bindings (imported only by the threads build): ERR_* codes.
@external("env", "fail") declare function fail(code: i32): void;

// This instance's thread (globals are per instance, so per thread).
export let myId: u32 = NO_SLOT; // lock word of this thread: slot | generation << 8
// The hot path checks only that the word at myStatusAt equals myStatus: while
// unbound they are the thread-table size (at most 255) and all ones, which
// never match; once bound, its slot's status word and its live value, which
// stop matching when the slot is reclaimed (a detached thread also has no row).
let myStatus: u32 = 0xFFFFFFFF; // the status word of its slot while it is live
let myStatusAt: usize = BASE + H_TMAX;
let myRow: usize = 0;           // its lease counts, 0 while unbound or once detached
// Test builds only: hold the lock once taken until the thread is killed.
export let pauseInLock: bool = false;

@inline function statusAt(slot: u32): usize { return <usize>hget(H_THREADS) + (<usize>slot << 2); }
@inline function rowStride(): usize { return (<usize>count() + 15) & ~15; }
// The status words, then the claim cursor (word H_TMAX), then the rows.
function rowAt(slot: u32): usize {
  return <usize>hget(H_THREADS) + ((<usize>hget(H_TMAX) + 16) & ~15) * 4 + <usize>slot * rowStride() * 4;
}

/** Takes the lock; false after LOCK_SPINS tries on a live owner (the caller fails or skips). */
@inline export function lock(): bool {
  if (ASC_FEATURE_THREADS) return takeLock();
  return true;
}
@inline export function unlock(): void {
  if (ASC_FEATURE_THREADS) atomic.store<u32>(BASE + H_LOCK, 0);
}
/** Takes the lock or throws ERR_LOCK_TIMEOUT through the bindings. */
@inline export function lockOrFail(): void {
  if (ASC_FEATURE_THREADS) {
    if (!takeLock()) fail(ERR_LOCK_TIMEOUT);
  }
}

function ownerDead(w: u32): bool {
  const slot = w & 0xFF;
  if (slot >= hget(H_TMAX)) return false; // no slot: its death cannot be proven
  return atomic.load<u32>(statusAt(slot)) != (((w >> 8) << 2) | T_LIVE);
}

function takeLock(): bool {
  const at = BASE + H_LOCK;
  let spins: u32 = 0;
  while (true) {
    const w = atomic.cmpxchg<u32>(at, 0, myId);
    if (w == 0) break;
    if (ownerDead(w)) {
      if (atomic.cmpxchg<u32>(at, w, myId) == w) {
        repair();
        break;
      }
    } else if (++spins >= LOCK_SPINS) return false;
  }
  while (pauseInLock) spins++;
  return true;
}

// What a holder killed mid-call may have left half-written is derived state,
// rebuilt from counts, states, weights and ramps: smooth-wrr weights start
// over from 0 (as nginx does after a change), the eligible list and any tree
// are rebuilt on next use, the ramping list is read back from the ramps, and
// the round-robin cursor is brought back into range. The generator's state is
// one 8-byte store (either old or new), and a count is one atomic word.
function repair(): void {
  const n = count();
  let r: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    store<i64>(offCurw + (<usize>i << 3), 0);
    if (rampOf(i) != ONE) {
      store<u32>(offRamping + (<usize>r << 2), i);
      r++;
    }
  }
  hset(H_RAMPING, r);
  if (hget(H_RR) > n) hset(H_RR, 0);
  clearFlags(F_ELIG_OK | F_LC_OK | F_WLC_OK);
}

// ---- the thread table (exported by assembly/threads.ts) ----

/** Creator, after the backends are in: a thread table of `slots` slots at the end of the table. 0 or an ERR_*. */
export function initThreads(slots: u32): i32 {
  if (slots == 0 || slots > MAX_THREADS) return ERR_RANGE;
  const at = (offEnd + 63) & ~63;
  hset(H_THREADS, <u32>at);
  hset(H_TMAX, slots);
  const end = rowAt(slots);
  if (!ensureMemory(end)) {
    hset(H_THREADS, 0);
    hset(H_TMAX, 0);
    return ERR_NO_MEMORY;
  }
  memory.fill(at, 0, end - at);
  return 0;
}

/**
 * Claims (reserves) a free slot; its thread id (slot | generation << 8), or
 * ERR_RANGE when every slot is taken. The search starts after the slot claimed last,
 * so a just-freed slot is the last to be taken again.
 */
export function claimThread(): i32 {
  const slots = hget(H_TMAX);
  const cursor = statusAt(slots);
  const from = atomic.load<u32>(cursor);
  for (let k: u32 = 0; k < slots; k++) {
    const s = (from + k) % slots;
    const p = statusAt(s);
    const st = atomic.load<u32>(p);
    if ((st & 3) != T_FREE) continue;
    const gen = ((st >> 2) + 1) & 0x3FFFFF;
    const next = (((gen == 0 ? 1 : gen)) << 2) | T_RESERVED;
    if (atomic.cmpxchg<u32>(p, st, next) == st) {
      atomic.store<u32>(cursor, s + 1);
      // Empty, unless a reclaimed thread still running wrote to it late.
      memory.fill(rowAt(s), 0, rowStride() << 2);
      return <i32>(s | ((next >> 2) << 8));
    }
  }
  return ERR_RANGE;
}

/**
 * Makes `id` (a reserved slot's thread id) this instance's thread: 0, also
 * when this instance holds it already; ERR_BOUND when another instance does;
 * ERR_RANGE when it is neither reserved nor live (reclaimed, detached, never
 * claimed).
 */
export function bindThread(id: u32): i32 {
  const slot = id & 0xFF;
  if (slot >= hget(H_TMAX)) return ERR_RANGE;
  const live = ((id >> 8) << 2) | T_LIVE;
  const seen = atomic.cmpxchg<u32>(statusAt(slot), live ^ T_LIVE ^ T_RESERVED, live);
  if (seen == live) return id == myId ? 0 : ERR_BOUND;
  if (seen != (live ^ T_LIVE ^ T_RESERVED)) return ERR_RANGE;
  myId = id;
  myStatus = ((id >> 8) << 2) | T_LIVE;
  myRow = rowAt(slot);
  myStatusAt = statusAt(slot);
  return 0;
}

/**
 * Declares thread `id` gone: its slot stops being live (a lock it holds can
 * be taken over), its leases are subtracted from the counts, and the slot is
 * freed. Returns the leases given back; 0 when `id` is neither live nor
 * reserved (already reclaimed or detached: never twice).
 */
export function reclaimThread(id: u32): i32 {
  const slot = id & 0xFF;
  if (slot >= hget(H_TMAX)) return 0;
  const p = statusAt(slot);
  const live = ((id >> 8) << 2) | T_LIVE;
  // Live or reserved (a worker that died before it attached); a bind racing
  // this moves reserved to live, and the loop then reclaims it live.
  while (true) {
    const st = atomic.load<u32>(p);
    if (st != live && st != (live ^ T_LIVE ^ T_RESERVED)) return 0;
    if (atomic.cmpxchg<u32>(p, st, live ^ T_LIVE ^ T_DEAD) == st) break;
  }
  const row = rowAt(slot);
  const n = count();
  let given: i32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const c = atomic.xchg<u32>(row + (<usize>i << 2), 0);
    if (c == 0) continue;
    given += <i32>c;
    // Never below zero (a snapshot may have set the count lower meanwhile).
    const q = rec(i);
    let a = atomic.load<u32>(q);
    while (true) {
      const seen = atomic.cmpxchg<u32>(q, a, a > c ? a - c : 0);
      if (seen == a) break;
      a = seen;
    }
  }
  atomic.store<u32>(p, live ^ T_LIVE); // free, same generation (the next claim moves it on)
  if (id == myId) myRow = 0;
  return given;
}

// ---- the hooks acquire and release call (threads build only) ----

/**
 * Counts one lease of this thread on backend i; acquire calls it right after
 * its count's compare-and-swap. A plain store: only this thread adds to its
 * row (confirmLease settles a race with a reclaim).
 */
@inline export function countLease(i: u32): void {
  if (ASC_FEATURE_THREADS) {
    if (myRow != 0) {
      const q = myRow + (<usize>i << 2);
      store<u32>(q, atomic.load<u32>(q) + 1);
    }
  }
}

/**
 * After countLease and the locked add to the backend's total: a thread
 * declared dead meanwhile (a Web Worker's terminate() returns before the
 * thread stops, and the OS may have descheduled it mid-call) takes back what
 * it just counted, unless the reclaim already did, and fails with
 * ERR_DETACHED.
 */
@inline export function confirmLease(i: u32): void {
  if (ASC_FEATURE_THREADS) {
    if (atomic.load<u32>(myStatusAt) != myStatus) undoLease(i);
  }
}

@inline function undoLease(i: u32): void {
  if (myRow == 0) {
    if (myId == NO_SLOT) return; // never bound: untracked, as on a table without threads
    // Detached (countLease counted nothing): take back the count alone.
    if (atomic.sub<u32>(rec(i), 1) == 0) atomic.add<u32>(rec(i), 1);
    fail(ERR_DETACHED);
    return;
  }
  const q = myRow + (<usize>i << 2);
  // Nonzero: the entry still holds this call's store (the reclaim has not
  // exchanged it yet, or exchanged the value from before it); take the lease
  // off the row and the count. Zero: the reclaim took the row, lease and all.
  const c = atomic.load<u32>(q);
  if (c != 0 && atomic.cmpxchg<u32>(q, c, c - 1) == c) {
    if (atomic.sub<u32>(rec(i), 1) == 0) atomic.add<u32>(rec(i), 1);
  }
  fail(ERR_DETACHED);
}

/**
 * Release of a lease of this thread on backend i: 1 when it took one from
 * its row and from the count, 0 when the thread was reclaimed (nothing
 * changes) or the count was already 0, -1 when its row holds none on i (an
 * untracked release: the caller decrements the count as before).
 */
@inline export function releaseLease(i: u32): i32 {
  if (atomic.load<u32>(myStatusAt) != myStatus) return myId == NO_SLOT ? -1 : 0;
  const q = myRow + (<usize>i << 2);
  // One try, no loop: besides this thread only a reclaim writes the row (to
  // 0), so a failed compare-and-swap means the row was just emptied.
  const c = atomic.load<u32>(q);
  if (c == 0 || atomic.cmpxchg<u32>(q, c, c - 1) != c) {
    // None on its row: untracked, unless a reclaim emptied the row meanwhile.
    return atomic.load<u32>(myStatusAt) != myStatus ? 0 : -1;
  }
  // The row held one, so the count is at least 1 unless a snapshot lowered
  // it to 0: then the count stays 0 and the call reports an underflow, as on
  // a private table (the lease is spent, so it leaves the row all the same).
  if (atomic.sub<u32>(rec(i), 1) == 0) {
    atomic.add<u32>(rec(i), 1);
    return 0;
  }
  return 1;
}

/** Test builds: the next lock taken by this instance is held until the thread is killed. */
export function pauseNextLock(on: bool): void { pauseInLock = on; }

/** The lock word (0 when free): tests watch a thread enter a critical section. */
export function lockOwner(): u32 { return atomic.load<u32>(BASE + H_LOCK); }
