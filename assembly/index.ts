// The selection-and-counter core of leastconn: the entry file, holding the
// exported surface only. Only numbers cross the boundary: backends are
// indices, names live in TypeScript; the shared numbers are in constants.ts.
//
//   constants.ts  states, algorithm ids, return codes, layout selectors (also
//                 imported by the bindings)
//   table.ts      header, layout of the arrays and trees, per-backend access
//   trees.ts      least-connections and weighted selection trees
//   picks.ts      the seven algorithms' picks, the eligible list, p2c samples
//   ewma.ts       peak-ewma costs and loads
//   generator.ts  the seeded PCG32 generator
//   lock.ts       the threads build's lock (owned, taken over from a dead
//                 owner) and thread table (per-thread lease counts, reclaim)
//   threads.ts    the threads build's extra entry: the thread-table exports
//
// Threads build (ASC_FEATURE_THREADS): counters change by atomic
// read-modify-write, so no update is ever lost; least-connections and
// weighted picks scan; cursors, smooth-wrr weights, the generator, the
// eligible and ramping lists and peak-ewma costs change under the lock;
// the increment of a count never passes its limit (compare-and-swap). Membership is fixed once the
// table is shared (the bindings refuse add/remove).

import {
  ALG_LEAST_CONN, ALG_P2C, ALG_PEAK_EWMA, ALG_RANDOM, ALG_ROUND_ROBIN, ALG_WEIGHTED_LEAST_CONN,
  ALG_WEIGHTED_ROUND_ROBIN, ARR_COST, ARR_CURW, ARR_LAST, ARR_TOTAL, ARR_STAMP, DECAY_DEFAULT_MS, ERR_NO_MEMORY, ERR_RANGE, NO_LIMIT, NONE, SAMPLE_FIRST,
  STATE_EJECTED, STATE_UP,
} from "./constants";
import { observe } from "./ewma";
import { seed } from "./generator";
import { confirmLease, countLease, lock, lockOrFail, releaseLease, unlock } from "./lock";
import {
  SCAN_LIMIT, clearSamples, pickLeastConn, scanLeastConn, pickPeakEwma, pickRandom, pickRoundRobin, pickSmoothWeighted, pickTwoChoices,
  pickWeightedLeastConn, sampleFirst, sampleSecond,
} from "./picks";
import {
  BASE, F_ELIG_OK, F_LC_OK, F_ROTATE, F_WLC_OK, HEADER_SIZE, H_CAP, H_COUNT, H_DECAY, H_FLAGS, H_RAMPING, H_ROT,
  H_RR, MAX_CAP, MIN_CAP, NIL, ONE, REGIONS, R_LAST, R_LIMIT, R_RAMP, R_STATE, R_TOTAL, R_WEIGHT, activeOf, arrayAt, cold,
  capCache, clearFlags, count, ensureMemory, flags, hget, hset, isRoutable, leafBase, limitOf, offCost, offCurw, offEnd,
  offCold, offRamping, offRec, offStamp, rampOf, rampingAt, rec, relayout, setFlags, slotWidth,
} from "./table";
import { touch, touchIfLive, wlcSet } from "./trees";

// ---- the public surface ----

/** Empties the table and sizes it for `capacity` backends. Returns 0 or an ERR_*. */
export function reset(capacity: u32, seedValue: f64, rotateTies: bool): i32 {
  let cap = MIN_CAP;
  while (cap < capacity && cap < MAX_CAP) cap <<= 1;
  if (!fit(cap)) return ERR_NO_MEMORY;
  memory.fill(BASE, 0, HEADER_SIZE);
  hset(H_CAP, cap);
  hset(H_FLAGS, rotateTies ? F_ROTATE : 0);
  setDecay(<f64>DECAY_DEFAULT_MS);
  seed(seedValue);
  return 0;
}

// Lays the table out for `cap` slots when memory can grow to it; else keeps
// the layout it had and returns false.
function fit(cap: u32): bool {
  const old = capCache;
  relayout(cap);
  if (ensureMemory(offEnd)) return true;
  relayout(old);
  return false;
}

/** Re-reads the layout from the header (another instance may have grown it). */
export function attach(): void {
  relayout(hget(H_CAP));
}

// Moves the per-backend arrays and the ramping list to a layout for a larger
// capacity. Everything moves up, so copying the last first never overwrites
// unread data.
function grow(cap: u32): i32 {
  const n = <usize>count();
  const old = capCache;
  const oldRamping = offRamping;
  if (!fit(cap)) return ERR_NO_MEMORY;
  memory.copy(offRamping, oldRamping, <usize>hget(H_RAMPING) << 2);
  for (let k = <i32>REGIONS - 1; k >= 0; k--) {
    memory.copy(arrayAt(k, cap), arrayAt(k, old), n * slotWidth(k));
  }
  hset(H_CAP, cap);
  clearFlags(F_LC_OK | F_WLC_OK | F_ELIG_OK);
  return 0;
}

/** Appends a backend (up, no connections, no limit, full weight, no cost). Returns its index or an ERR_*. */
export function add(weight: u32): i32 {
  const n = count();
  if (n >= capCache) {
    if (capCache >= MAX_CAP) return ERR_NO_MEMORY;
    const r = grow(capCache << 1);
    if (r < 0) return r;
  }
  const i = <usize>n;
  const r = rec(n);
  store<u32>(r, 0);
  store<u32>(r, <u32>NO_LIMIT, R_LIMIT);
  store<u32>(r, weight, R_WEIGHT);
  store<u16>(r, STATE_UP, R_STATE);
  store<u16>(r, ONE, R_RAMP);
  const c = cold(n);
  store<u64>(c, 0, R_TOTAL);
  store<f64>(c, NaN, R_LAST);
  store<i64>(offCurw + (i << 3), 0);
  store<f64>(offCost + (i << 3), 0);
  store<f64>(offStamp + (i << 3), 0);
  hset(H_COUNT, n + 1);
  const f = flags();
  if (f & F_WLC_OK) wlcSet(leafBase + n, n);
  touch(n);
  clearFlags(F_ELIG_OK);
  return <i32>n;
}

/** Removes backend i; later backends move down one index. */
export function removeAt(i: u32): i32 {
  const n = count();
  if (i >= n) return ERR_RANGE;
  // The ramping list loses i, and later indices move down with the arrays.
  const r = hget(H_RAMPING);
  let kept: u32 = 0;
  for (let k: u32 = 0; k < r; k++) {
    const j = rampingAt(k);
    if (j == i) continue;
    store<u32>(offRamping + (<usize>kept << 2), j > i ? j - 1 : j);
    kept++;
  }
  hset(H_RAMPING, kept);
  const rest = <usize>(n - 1 - i);
  for (let k: u32 = 0; k < REGIONS; k++) {
    const w = slotWidth(k);
    const at = arrayAt(k, capCache) + <usize>i * w;
    memory.copy(at, at + w, rest * w);
  }
  hset(H_COUNT, n - 1);
  // Cursors keep pointing at the same next backend.
  if (hget(H_RR) > i) hset(H_RR, hget(H_RR) - 1);
  if (hget(H_ROT) > i) hset(H_ROT, hget(H_ROT) - 1);
  clearFlags(F_LC_OK | F_WLC_OK | F_ELIG_OK);
  return 0;
}

export function setState(i: u32, state: u32): i32 {
  if (i >= count() || state > <u32>STATE_EJECTED) return ERR_RANGE;
  lockOrFail();
  store<u16>(rec(i), <u16>state, R_STATE);
  clearFlags(F_ELIG_OK);
  unlock();
  touch(i);
  return 0;
}

export function setWeight(i: u32, weight: u32): i32 {
  if (i >= count()) return ERR_RANGE;
  lockOrFail();
  store<u32>(rec(i), weight, R_WEIGHT);
  store<i64>(offCurw + (<usize>i << 3), 0);
  clearFlags(F_ELIG_OK);
  unlock();
  touch(i);
  return 0;
}

/** A snapshot from outside: sets backend i's active count. */
export function setActive(i: u32, active: u32): i32 {
  if (i >= count()) return ERR_RANGE;
  if (ASC_FEATURE_THREADS) atomic.store<u32>(rec(i), active);
  else store<u32>(rec(i), active);
  touch(i);
  return 0;
}

/** Backend i takes at most `limit` requests at once (NO_LIMIT: no limit; 0: none). A count above it stays. */
export function setLimit(i: u32, limit: u32): i32 {
  if (i >= count()) return ERR_RANGE;
  store<u32>(rec(i), limit, R_LIMIT);
  touch(i);
  return 0;
}

/** Slow start: backend i's weight counts ramp/RAMP_ONE of itself (1..RAMP_ONE; RAMP_ONE = full weight). */
export function setRamp(i: u32, ramp: u32): i32 {
  if (i >= count() || ramp == 0 || ramp > ONE) return ERR_RANGE;
  lockOrFail();
  const was = rampOf(i);
  store<u16>(rec(i), <u16>ramp, R_RAMP);
  const r = hget(H_RAMPING);
  if (was == ONE && ramp != ONE) {
    store<u32>(offRamping + (<usize>r << 2), i);
    hset(H_RAMPING, r + 1);
  } else if (was != ONE && ramp == ONE) {
    // Unordered list: the last entry takes i's place.
    let k: u32 = 0;
    while (rampingAt(k) != i) k++;
    store<u32>(offRamping + (<usize>k << 2), rampingAt(r - 1));
    hset(H_RAMPING, r - 1);
  }
  unlock();
  touch(i);
  return 0;
}

/** Peak-ewma's decay time constant in ms (> 0; Infinity: no decay). */
export function setDecay(ms: f64): i32 {
  if (!(ms > 0)) return ERR_RANGE;
  store<f64>(BASE + H_DECAY, ms);
  return 0;
}

/** Picks a backend with `algorithm` and counts the request on it. Returns its index or NONE. */
export function acquire(algorithm: u32, now: f64): i32 {
  // A detached or reclaimed thread learns it from confirmLease (lock.ts), off the start of the hot path.
  clearSamples();
  let pick: u32;
  switch (algorithm) {
    case ALG_LEAST_CONN: pick = ASC_FEATURE_THREADS || count() <= SCAN_LIMIT ? scanLeastConn() : pickLeastConn(); break;
    case ALG_WEIGHTED_LEAST_CONN: pick = pickWeightedLeastConn(); break;
    case ALG_ROUND_ROBIN: pick = pickRoundRobin(); break; // the threads build moves the cursor by CAS
    case ALG_WEIGHTED_ROUND_ROBIN: lockOrFail(); pick = pickSmoothWeighted(); unlock(); break;
    case ALG_P2C: lockOrFail(); pick = pickTwoChoices(); unlock(); break;
    case ALG_RANDOM: lockOrFail(); pick = pickRandom(); unlock(); break;
    case ALG_PEAK_EWMA: lockOrFail(); pick = pickPeakEwma(now); unlock(); break;
    default: return ERR_RANGE;
  }
  if (pick == NIL) return NONE;
  if (!ASC_NO_ASSERT) assert(pick < count() && isRoutable(pick), "acquire: picked a backend that cannot take traffic");
  const r = rec(pick), c = cold(pick);
  let was = NIL;
  if (ASC_FEATURE_THREADS) {
    // Another thread may have taken the last slot below the limit since the
    // pick: count one more only from a count below it.
    const p = r;
    let a = atomic.load<u32>(p);
    while (true) {
      if (a >= limitOf(pick)) return NONE;
      const seen = atomic.cmpxchg<u32>(p, a, a + 1);
      if (seen == a) {
        // Straight on, no call or loop edge between: a kill leaves both or neither (lock.ts).
        countLease(pick);
        break;
      }
      a = seen;
    }
    atomic.add<u64>(c + R_TOTAL, 1);
    confirmLease(pick);
  } else {
    was = load<u32>(r);
    store<u32>(r, was + 1);
    store<u64>(c, load<u64>(c, R_TOTAL) + 1, R_TOTAL);
  }
  store<f64>(c, now, R_LAST);
  if (flags() & F_ROTATE) hset(H_ROT, pick + 1);
  touchIfLive(pick, was);
  return <i32>pick;
}

/**
 * Ends one request on backend i, which lasted `rtt` ms (< 0 or NaN: unknown)
 * and ended at `now`: peak-ewma observes the duration. Returns 1, or 0 when
 * the count was already 0 (it stays 0, and nothing is observed).
 */
export function release(i: u32, rtt: f64, now: f64): i32 {
  if (i >= count()) return ERR_RANGE;
  const p = rec(i);
  if (ASC_FEATURE_THREADS) {
    // A lease of this thread comes off its row and the count together; a
    // thread that was reclaimed changes nothing (lock.ts).
    const t = releaseLease(i);
    if (t == 0) return 0;
    // Untracked: decrement only from a count above zero, even when threads race.
    let a = t > 0 ? 1 : atomic.load<u32>(p);
    while (t < 0) {
      if (a == 0) return 0;
      const seen = atomic.cmpxchg<u32>(p, a, a - 1);
      if (seen == a) break;
      a = seen;
    }
  } else {
    const a = load<u32>(p);
    if (a == 0) return 0;
    store<u32>(p, a - 1);
    touchIfLive(i, a);
  }
  // Under a lock held too long by a live thread the duration goes unobserved.
  if (rtt >= 0 && lock()) {
    observe(i, rtt, now);
    unlock();
  }
  return 1;
}

/** The p2c samples of this instance's last acquire (SAMPLE_FIRST, SAMPLE_SECOND), -1 when none. */
export function sample(which: u32): i32 { return which == SAMPLE_FIRST ? sampleFirst : sampleSecond; }
export function size(): u32 { return count(); }
export function capacity(): u32 { return capCache; }

// Byte offsets in a record (hot, then from ARR_TOTAL cold) of ARR_ACTIVE..ARR_LAST, in selector order.
const FIELDS: u64 = (<u64>R_LAST << 48) | (<u64>R_TOTAL << 40) | (<u64>R_RAMP << 32) | (<u64>R_LIMIT << 24) |
  (<u64>R_STATE << 16) | (<u64>R_WEIGHT << 8);

/**
 * Byte offset of backend 0's field `which` (ARR_*), which the bindings read
 * directly: backend i's is REC_SIZE * i further for a record field (below
 * ARR_CURW), 8 * i for the arrays; 0 for an unknown selector.
 */
export function layout(which: u32): u32 {
  if (which < <u32>ARR_CURW) return <u32>(which < <u32>ARR_TOTAL ? offRec : offCold) + <u32>((FIELDS >> (<u64>which << 3)) & 0xFF);
  if (which == <u32>ARR_CURW) return <u32>offCurw;
  if (which == <u32>ARR_COST) return <u32>offCost;
  return which == <u32>ARR_STAMP ? <u32>offStamp : 0;
}
