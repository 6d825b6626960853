// The seven algorithms' picks. Each returns a routable backend's index, or
// NIL when nothing can take traffic; acquire (index.ts) counts the pick.
// Least-connections and the weighted pick use the trees (trees.ts) above
// SCAN_LIMIT backends; random, power-of-two-choices and peak-ewma draw from
// the eligible list (up, weight > 0), rebuilt lazily after a state or weight
// change. The threads build scans instead of keeping trees: a tree updated
// by several threads at once could settle on a wrong minimum.
//
// Slow start: a ramping backend (ramp < RAMP_ONE) is compared by
// active/ramp (least-connections, power-of-two-choices), by active/(weight *
// ramp) (weighted least-connections), by load/ramp (peak-ewma) and with
// weight max(1, weight * ramp / RAMP_ONE) (smooth weighted round-robin).
// Round-robin and random ignore it. The lc tree leaves ramping backends out;
// its picks compare the ramping list beside it: O(log n + r).

import { STATE_UP } from "./constants";
import { ewmaLoad } from "./ewma";
import { rngBelow } from "./generator";
import {
  BASE, F_ELIG_OK, F_LC_OK, F_ROTATE, F_WLC_OK, FULL, H_ELIGIBLE, H_RAMPING, H_ROT, H_RR, NIL, ONE, activeOf, count, eligAt,
  flags, hget, hset, isRoutable, leafBase, offCurw, offElig, rampOf, rampingAt, routable, setFlags, stateOf, weightOf,
} from "./table";
import {
  MATCH_ACTIVE, MATCH_RATIO, MATCH_ROUTABLE, buildTrees, effWeight, findFrom, lcAt, rotateFrom, wlcLess, wlctAt,
} from "./trees";

export const SCAN_LIMIT: u32 = 32;

// p2c samples of the last acquire on this instance (scratch, not shared).
export let sampleFirst: i32 = -1;
export let sampleSecond: i32 = -1;
@inline export function clearSamples(): void {
  sampleFirst = -1;
  sampleSecond = -1;
}

// Small tables scan: up to SCAN_LIMIT a scan beats keeping the tree, whose
// upkeep every acquire and release would pay. The lc tree is only ever built
// for larger tables (removeAt drops it when a table shrinks). Keys are
// active/ramp, compared as a_i * r_j < a_j * r_i; without slow start every
// ramp is RAMP_ONE and this is a comparison of counts.
export function scanLeastConn(): u32 {
  const n = count();
  let best: u32 = NIL;
  // Worse than any key (a < 2^32, r >= 1), so the first routable backend wins;
  // the key is compared first, routability only for a better key.
  let bestA: u64 = <u64>FULL + 1;
  let bestR: u64 = 1;
  if (hget(H_RAMPING) == 0) {
    // Nothing ramps: every key is a count (the common case, kept cheap).
    let least = FULL;
    for (let i: u32 = 0; i < n; i++) {
      const a = activeOf(i);
      if (a < least && routable(i)) {
        best = i;
        least = a;
      }
    }
    bestA = <u64>least;
    bestR = <u64>ONE;
  } else {
    for (let i: u32 = 0; i < n; i++) {
      const a = <u64>activeOf(i), r = <u64>rampOf(i);
      if (a * bestR < bestA * r && routable(i)) {
        best = i;
        bestA = a;
        bestR = r;
      }
    }
  }
  if (best == NIL || !(flags() & F_ROTATE)) return best;
  for (let i = hget(H_ROT); i < n; i++) {
    if (isRoutable(i) && <u64>activeOf(i) * bestR == bestA * <u64>rampOf(i)) return i;
  }
  return best;
}

// Above SCAN_LIMIT (acquire scans below it, saving a call at small sizes).
export function pickLeastConn(): u32 {
  if (!(flags() & F_LC_OK)) buildTrees(F_LC_OK);
  const least = lcAt(0);
  let best: u32 = NIL;
  let bestA: u64 = 0;
  let bestR: u64 = ONE;
  if (least != FULL) {
    // The leftmost leaf holding the least count.
    let node: u32 = 0;
    while (node < leafBase) {
      node = (node << 2) + 1;
      while (lcAt(node) != least) node++;
    }
    best = node - leafBase;
    bestA = least;
  }
  // Ramping backends, compared by active/ramp (earlier index on ties).
  const r = hget(H_RAMPING);
  for (let k: u32 = 0; k < r; k++) {
    const i = rampingAt(k);
    if (!isRoutable(i)) continue;
    const a = <u64>activeOf(i), ri = <u64>rampOf(i);
    const x = a * bestR, y = bestA * ri;
    if (best == NIL || x < y || (x == y && i < best)) {
      best = i;
      bestA = a;
      bestR = ri;
    }
  }
  if (best == NIL || !(flags() & F_ROTATE)) return best;
  // The first tied backend at or after the rotation cursor: in the tree when
  // the least count ties, and in the ramping list.
  const rot = hget(H_ROT);
  let next: u32 = NIL;
  if (least != FULL && <u64>least * bestR == bestA * <u64>ONE) next = findFrom(rot, MATCH_ACTIVE, least);
  for (let k: u32 = 0; k < r; k++) {
    const i = rampingAt(k);
    if (i >= rot && i < next && isRoutable(i) && <u64>activeOf(i) * bestR == bestA * <u64>rampOf(i)) next = i;
  }
  return next != NIL ? next : best;
}

// The weighted pick by scan (threads build), same order as the tree's.
function scanWeighted(): u32 {
  const n = count();
  let best: u32 = NIL;
  for (let i: u32 = 0; i < n; i++) if (wlcLess(i, best)) best = i;
  if (best == NIL || !(flags() & F_ROTATE)) return best;
  const a = <u64>activeOf(best), w = effWeight(best);
  for (let i = hget(H_ROT); i < n; i++) {
    if (isRoutable(i) && <u64>activeOf(i) * w == a * effWeight(i)) return i;
  }
  return best;
}

export function pickWeightedLeastConn(): u32 {
  if (ASC_FEATURE_THREADS) return scanWeighted();
  if (!(flags() & F_WLC_OK)) buildTrees(F_WLC_OK);
  const best = wlctAt(0);
  if (best == NIL || !isRoutable(best)) return NIL;
  return flags() & F_ROTATE ? rotateFrom(best, MATCH_RATIO, best) : best;
}

// First routable backend at or after `start`, or NIL. (The lc tree leaves
// ramping backends out, so the ramping list is searched beside it.)
function nextRoutable(start: u32): u32 {
  const n = count();
  if (!ASC_FEATURE_THREADS && n > SCAN_LIMIT) {
    if (!(flags() & F_LC_OK)) buildTrees(F_LC_OK);
    let next = findFrom(start, MATCH_ROUTABLE, 0);
    const r = hget(H_RAMPING);
    for (let k: u32 = 0; k < r; k++) {
      const i = rampingAt(k);
      if (i >= start && i < next && isRoutable(i)) next = i;
    }
    return next;
  }
  for (let i = start; i < n; i++) if (isRoutable(i)) return i;
  return NIL;
}

export function pickRoundRobin(): u32 {
  if (ASC_FEATURE_THREADS) {
    // Off the lock: the cursor moves by compare-and-swap from the value the
    // pick started at; a thread that lost the race picks again from the new one.
    const at = BASE + H_RR;
    while (true) {
      const rr = atomic.load<u32>(at);
      let next = nextRoutable(rr);
      if (next == NIL) next = nextRoutable(0);
      if (next == NIL) return NIL;
      if (atomic.cmpxchg<u32>(at, rr, next + 1) == rr) return next;
    }
  }
  let pick = nextRoutable(hget(H_RR));
  if (pick == NIL) pick = nextRoutable(0);
  if (pick != NIL) hset(H_RR, pick + 1);
  return pick;
}

// nginx's smooth weighted round-robin (ngx_http_upstream_get_peer): every
// routable backend gains its weight, the largest current weight wins (the
// earliest on ties) and pays back the total. A ramping backend's weight is
// max(1, weight * ramp / RAMP_ONE), rounded down.
export function pickSmoothWeighted(): u32 {
  const n = count();
  let best: u32 = NIL;
  let bestCur: i64 = 0;
  let total: i64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (!isRoutable(i)) continue;
    const p = offCurw + (<usize>i << 3);
    let w = <i64>weightOf(i);
    const r = rampOf(i);
    if (r != ONE) w = max<i64>(1, (w * <i64>r) >> 10);
    const cur = load<i64>(p) + w;
    store<i64>(p, cur);
    total += w;
    if (best == NIL || cur > bestCur) { best = i; bestCur = cur; }
  }
  if (best != NIL) store<i64>(offCurw + (<usize>best << 3), bestCur - total);
  return best;
}

// The eligible list's length, rebuilding it first when a change dropped it
// (the check is inline: random and p2c call this on every pick).
@inline function ensureEligible(): u32 {
  return flags() & F_ELIG_OK ? hget(H_ELIGIBLE) : buildEligible();
}

function buildEligible(): u32 {
  const n = count();
  let k: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (stateOf(i) == STATE_UP && weightOf(i) != 0) {
      store<u32>(offElig + (<usize>k << 2), i);
      k++;
    }
  }
  hset(H_ELIGIBLE, k);
  setFlags(F_ELIG_OK);
  return k;
}

// The eligible backend at list position r or, when its count cannot grow,
// the next one after it (cyclically) that can, other than `skip`; NIL if none.
// Without full backends this is simply the backend at position r. When every
// backend is eligible the list is 0..n-1, and is not read: at 100,000
// backends its entry is a cache miss before the record's.
function probe(r: u32, e: u32, skip: u32): u32 {
  const all = e == count();
  // Every position once, from r (< e) round to r - 1: the wrap is a
  // comparison, where a modulo cost a division per probe.
  let at = r;
  do {
    const i = all ? at : eligAt(at);
    if (i != skip && routable(i)) return i;
    at++;
    at = at < e ? at : 0;
  } while (at != r);
  return NIL;
}

export function pickRandom(): u32 {
  const e = ensureEligible();
  return e == 0 ? NIL : probe(rngBelow(e), e, NIL);
}

// Two distinct samples from the eligible list, kept for sample(); NIL in
// *second when there is only one routable backend to sample.
function twoSamples(): u32 {
  const e = ensureEligible();
  if (e == 0) return NIL;
  if (e == 1) {
    const only = probe(0, 1, NIL);
    sampleFirst = <i32>only;
    return only;
  }
  const r1 = rngBelow(e);
  let r2 = rngBelow(e - 1);
  if (r2 >= r1) r2++;
  const a = probe(r1, e, NIL);
  if (a == NIL) return NIL;
  sampleFirst = <i32>a;
  const b = probe(r2, e, a);
  if (b != NIL) sampleSecond = <i32>b;
  return a;
}

// Power-of-two-choices: of two samples, fewer active (over ramp) wins, the
// earlier backend on ties.
export function pickTwoChoices(): u32 {
  const a = twoSamples();
  if (sampleSecond < 0) return a;
  const b = <u32>sampleSecond;
  const x = <u64>activeOf(a) * <u64>rampOf(b), y = <u64>activeOf(b) * <u64>rampOf(a);
  if (x != y) return x < y ? a : b;
  return a < b ? a : b;
}

// Peak-ewma: of two samples, the lower load (ewma.ts) wins, the earlier
// backend on ties.
export function pickPeakEwma(now: f64): u32 {
  const a = twoSamples();
  if (sampleSecond < 0) return a;
  const b = <u32>sampleSecond;
  const la = ewmaLoad(a, now), lb = ewmaLoad(b, now);
  if (la != lb) return la < lb ? a : b;
  return a < b ? a : b;
}
