// The selection-and-counter core of leastconn.
//
// Owns the backend table (structure of arrays in linear memory), the six
// algorithms, the seeded generator and the selection trees. Only numbers
// cross the boundary: backends are indices, names live in TypeScript.
//
// Layout (from BASE, every array `cap` slots long, cap a power of two):
//   header | active u32 | weight u32 | state u32 | total u64 | last f64 |
//   swrr current i64 | lc tree u32[nodes] | wlc tree u32[nodes] | eligible u32
// where nodes = the 4-ary trees' node count (see relayout).
// Nothing that counts lives in a global: the threads build (ASC_FEATURE_THREADS)
// shares this same memory between instances, so globals only cache offsets
// derived from the header and per-call scratch (the p2c samples).
//
// Threads build: counters change by atomic read-modify-write, so no update is
// ever lost; least-connections and weighted picks scan (a tree updated by
// several threads at once could settle on a wrong minimum); the round-robin
// cursor, smooth-wrr weights, generator and eligible list change under a
// spinlock (not the tie-rotation cursor: a race there only skews rotation).
// Membership is fixed once the table is shared (the bindings refuse
// add/remove).

// ---- header fields (byte offsets from BASE) ----
const H_COUNT: usize = 0;     // backends in the table
const H_CAP: usize = 4;       // slots per array (power of two)
const H_RR: usize = 8;        // round-robin cursor: next index to try
const H_ROT: usize = 12;      // tie-rotation cursor
const H_FLAGS: usize = 16;    // F_* bits below
const H_ELIGIBLE: usize = 20; // length of the eligible list (when F_ELIG_OK)
const H_RNG_STATE: usize = 24; // PCG32 state (u64)
const H_RNG_INC: usize = 32;   // PCG32 stream (u64, odd)
const H_LOCK: usize = 40;      // spinlock of the threads build (0 free, 1 held)
const HEADER_SIZE: usize = 64;

const F_LC_OK: u32 = 1;    // least-connections tree is built and maintained
const F_WLC_OK: u32 = 2;   // weighted least-connections tree likewise
const F_ELIG_OK: u32 = 4;  // eligible list matches states and weights
const F_ROTATE: u32 = 8;   // rotate among tied backends instead of lowest index

// ---- backend states (mirrored in bindings/core.ts) ----
const STATE_UP: u32 = 0;
const STATE_DOWN: u32 = 1;
const STATE_DRAINING: u32 = 2;

// ---- algorithms (mirrored in bindings/algorithms.ts) ----
const ALG_LEAST_CONN: u32 = 0;
const ALG_WEIGHTED_LEAST_CONN: u32 = 1;
const ALG_ROUND_ROBIN: u32 = 2;
const ALG_WEIGHTED_ROUND_ROBIN: u32 = 3;
const ALG_P2C: u32 = 4;
const ALG_RANDOM: u32 = 5;

// ---- return codes ----
const NONE: i32 = -1;            // nothing can take traffic
const ERR_NO_MEMORY: i32 = -2;   // memory.grow failed
const ERR_RANGE: i32 = -3;       // index or value out of range

const NIL: u32 = 0xFFFFFFFF;            // an empty tree leaf
const FULL: u32 = 0xFFFFFFFF;           // an active count that cannot grow
const MIN_CAP: u32 = 4;
const SCAN_LIMIT: u32 = 32;
const MAX_CAP: u32 = 1 << 24;

const BASE: usize = (__heap_base + 63) & ~63;

// Offsets cached per instance; recomputed from H_CAP by relayout().
let offActive: usize = 0;
let offWeight: usize = 0;
let offState: usize = 0;
let offTotal: usize = 0;
let offLast: usize = 0;
let offCurw: usize = 0;
let offLct: usize = 0;
let offWlct: usize = 0;
let offElig: usize = 0;
let offEnd: usize = 0;
let capCache: u32 = 0;
let leafCount: u32 = 0; // leaves of each tree: the least power of 4 >= cap
let leafBase: u32 = 0;  // node number of the first leaf: (leafCount - 1) / 3

// p2c samples of the last acquire on this instance (scratch, not shared).
let sampleFirst: i32 = -1;
let sampleSecond: i32 = -1;

// ---- header access ----
@inline function hget(field: usize): u32 { return load<u32>(BASE + field); }
@inline function hset(field: usize, v: u32): void { store<u32>(BASE + field, v); }
@inline function count(): u32 { return hget(H_COUNT); }
@inline function flags(): u32 { return hget(H_FLAGS); }
@inline function clearFlags(bits: u32): void {
  if (ASC_FEATURE_THREADS) atomic.and<u32>(BASE + H_FLAGS, ~bits);
  else hset(H_FLAGS, flags() & ~bits);
}
@inline function setFlags(bits: u32): void {
  if (ASC_FEATURE_THREADS) atomic.or<u32>(BASE + H_FLAGS, bits);
  else hset(H_FLAGS, flags() | bits);
}

// Guards selection state shared by threads (cursors, smooth weights, the
// generator, the eligible list). Free in the single-threaded build.
@inline function lock(): void {
  if (ASC_FEATURE_THREADS) {
    while (atomic.cmpxchg<u32>(BASE + H_LOCK, 0, 1) != 0) {}
  }
}
@inline function unlock(): void {
  if (ASC_FEATURE_THREADS) atomic.store<u32>(BASE + H_LOCK, 0);
}

// ---- per-backend access ----
@inline function activeOf(i: u32): u32 {
  if (ASC_FEATURE_THREADS) return atomic.load<u32>(offActive + (<usize>i << 2));
  return load<u32>(offActive + (<usize>i << 2));
}
@inline function weightOf(i: u32): u32 { return load<u32>(offWeight + (<usize>i << 2)); }
@inline function stateOf(i: u32): u32 { return load<u32>(offState + (<usize>i << 2)); }
@inline function eligAt(k: u32): u32 { return load<u32>(offElig + (<usize>k << 2)); }

// A backend can be picked when it is up, has weight and its count can grow.
@inline function routable(i: u32): bool {
  return stateOf(i) == STATE_UP && weightOf(i) != 0 && activeOf(i) != FULL;
}
// The same, kept out of line for the colder paths: the release build must fit 4 KiB.
function isRoutable(i: u32): bool { return routable(i); }

// The six per-backend arrays in layout order: active, weight, state (4 bytes
// a slot), then total, last, swrr current (8 bytes a slot).
@inline function slotWidth(k: u32): usize { return k < 3 ? 4 : 8; }
@inline function arrayAt(k: u32, cap: u32): usize {
  const before: usize = k < 3 ? <usize>k << 2 : 12 + (<usize>(k - 3) << 3);
  return BASE + HEADER_SIZE + <usize>cap * before;
}

function relayout(cap: u32): void {
  const c = <usize>cap;
  offActive = arrayAt(0, cap);
  offWeight = arrayAt(1, cap);
  offState = arrayAt(2, cap);
  offTotal = arrayAt(3, cap);
  offLast = arrayAt(4, cap);
  offCurw = arrayAt(5, cap);
  leafCount = 1;
  while (leafCount < cap) leafCount <<= 2;
  leafBase = (leafCount - 1) / 3;
  // + 3 alignment slots, rounded up to 4 so the weighted tree's groups align too.
  const nodes = <usize>((leafBase + leafCount + 6) & ~3);
  offLct = offCurw + (c << 3);
  offWlct = offLct + (nodes << 2);
  offElig = offWlct + (nodes << 2);
  offEnd = offElig + (c << 2);
  capCache = cap;
}

function ensureMemory(end: usize): bool {
  const have = <usize>memory.size() << 16;
  if (end <= have) return true;
  const pages = <i32>((end - have + 0xFFFF) >> 16);
  return memory.grow(pages) >= 0;
}

// ---- the generator: PCG32 (O'Neill), seeded like pcg32_srandom ----
function rngNext(): u32 {
  const old = load<u64>(BASE + H_RNG_STATE);
  store<u64>(BASE + H_RNG_STATE, old * 6364136223846793005 + load<u64>(BASE + H_RNG_INC));
  const xorshifted = <u32>(((old >> 18) ^ old) >> 27);
  const rot = <u32>(old >> 59);
  return rotr<u32>(xorshifted, rot);
}

// Uniform in [0, n) without modulo bias (Lemire's multiply-and-reject).
function rngBelow(n: u32): u32 {
  let m = <u64>rngNext() * <u64>n;
  let low = <u32>m;
  if (low < n) {
    const threshold: u32 = (<u32>0 - n) % n;
    while (low < threshold) {
      m = <u64>rngNext() * <u64>n;
      low = <u32>m;
    }
  }
  return <u32>(m >> 32);
}

// Seeds the generator; `s` is a non-negative integer below 2^53.
function seed(s: f64): void {
  store<u64>(BASE + H_RNG_STATE, 0);
  store<u64>(BASE + H_RNG_INC, (<u64>0xDA3E39CB94B95BDB << 1) | 1);
  rngNext();
  store<u64>(BASE + H_RNG_STATE, load<u64>(BASE + H_RNG_STATE) + <u64>s);
  rngNext();
}

/** Next raw 32-bit output, for conformance hashing across runtimes. */
export function random32(): u32 { return rngNext(); }

// ---- selection trees ----
// Both trees are 4-ary (half the levels of a binary tree, and a node's four
// children share a cache line): node 0 is the root, node k's children are
// 4k+1..4k+4, leaves start at node `leafBase`, and node k is stored in slot
// k + 3 so that every group of siblings is 32-byte aligned.
//
// The least-connections tree holds counts only: each node the least count
// below it (FULL for unroutable or empty leaves). The pick descends from the
// root to the leftmost leaf holding the root's count, which is exactly what a
// scan from index 0 with strict `<` returns. An update climbs from the leaf
// and stops at the first node whose minimum did not change: a +1 or -1 on a
// backend among several at the minimum stops after one level. (Keys that
// also packed the index would change every ancestor of the pick, every time.)
//
// The weighted tree holds backend indices (NIL for empty leaves) because
// active/weight has no exact packed form; the earliest child wins ties.

@inline function lcLeaf(i: u32): u32 { return routable(i) ? activeOf(i) : FULL; }
@inline function lcAt(node: u32): u32 { return load<u32>(offLct + (<usize>(node + 3) << 2)); }
@inline function lcSet(node: u32, v: u32): void { store<u32>(offLct + (<usize>(node + 3) << 2), v); }
@inline function wlctAt(node: u32): u32 { return load<u32>(offWlct + (<usize>(node + 3) << 2)); }
@inline function wlcSet(node: u32, v: u32): void { store<u32>(offWlct + (<usize>(node + 3) << 2), v); }

// Strictly better for weighted least-connections: active/weight smaller,
// compared by cross-multiplication (both factors < 2^32, so no overflow).
function wlcLess(i: u32, j: u32): bool {
  const ri = i != NIL && isRoutable(i);
  const rj = j != NIL && isRoutable(j);
  if (!rj) return ri;
  if (!ri) return false;
  return <u64>activeOf(i) * <u64>weightOf(j) < <u64>activeOf(j) * <u64>weightOf(i);
}

@inline function lcMinOfChildren(k: u32): u32 {
  const c = (k << 2) + 1;
  return min(min(lcAt(c), lcAt(c + 1)), min(lcAt(c + 2), lcAt(c + 3)));
}

function wlcBestOfChildren(k: u32): u32 {
  const c = (k << 2) + 1;
  let best = wlctAt(c);
  for (let j: u32 = 1; j < 4; j++) {
    const w = wlctAt(c + j);
    if (wlcLess(w, best)) best = w;
  }
  return best;
}

function buildTrees(bits: u32): void {
  const n = count();
  for (let i: u32 = 0; i < leafCount; i++) {
    if (bits & F_LC_OK) lcSet(leafBase + i, i < n ? lcLeaf(i) : FULL);
    if (bits & F_WLC_OK) wlcSet(leafBase + i, i < n ? i : NIL);
  }
  for (let k = <i32>leafBase - 1; k >= 0; k--) {
    if (bits & F_LC_OK) lcSet(k, lcMinOfChildren(k));
    if (bits & F_WLC_OK) wlcSet(k, wlcBestOfChildren(k));
  }
  setFlags(bits);
}

// Brings backend i's leaf and its ancestors up to date in each live tree.
@inline function touch(i: u32): void {
  if (flags() & (F_LC_OK | F_WLC_OK)) touchTrees(i);
}

function touchTrees(i: u32): void {
  if (!ASC_NO_ASSERT) assert(i < count(), "touch: index out of range");
  const f = flags();
  if (f & F_LC_OK) {
    let node = leafBase + i;
    lcSet(node, lcLeaf(i));
    while (node != 0) {
      node = (node - 1) >> 2;
      const m = lcMinOfChildren(node);
      if (lcAt(node) == m) break;
      lcSet(node, m);
    }
  }
  if (f & F_WLC_OK) {
    let node = leafBase + i;
    while (node != 0) {
      node = (node - 1) >> 2;
      wlcSet(node, wlcBestOfChildren(node));
    }
  }
}

// Does the subtree at `node` hold a leaf that matches? `mode` 0: any
// routable leaf (lc tree); 1: active count equal to `target`; 2: weighted
// ratio equal to that of backend `target`. Each holds of a subtree exactly
// when it holds of the subtree's minimum, which keeps the descent logarithmic.
function nodeMatches(node: u32, mode: u32, target: u32): bool {
  if (mode == 2) {
    const w = wlctAt(node);
    return w != NIL && isRoutable(w) &&
      <u64>activeOf(w) * <u64>weightOf(target) == <u64>activeOf(target) * <u64>weightOf(w);
  }
  const least = lcAt(node);
  return mode == 0 ? least != FULL : least == target;
}

// First backend index >= start whose leaf matches, or NIL: climb until a
// later sibling matches, then descend to its earliest matching leaf.
function findFrom(start: u32, mode: u32, target: u32): u32 {
  if (start >= count()) return NIL;
  let node = leafBase + start;
  if (nodeMatches(node, mode, target)) return start;
  while (node != 0) {
    const last = (((node - 1) >> 2) << 2) + 4;
    for (let sib = node + 1; sib <= last; sib++) {
      if (nodeMatches(sib, mode, target)) {
        let at = sib;
        while (at < leafBase) {
          at = (at << 2) + 1;
          while (!nodeMatches(at, mode, target)) at++;
        }
        return at - leafBase;
      }
    }
    node = (node - 1) >> 2;
  }
  return NIL;
}

// Among the backends tied with `best`, the first at or after the rotation
// cursor, wrapping to `best` (the lowest tied index).
function rotateFrom(best: u32, mode: u32, target: u32): u32 {
  const next = findFrom(hget(H_ROT), mode, target);
  return next != NIL ? next : best;
}

// Small tables scan: up to SCAN_LIMIT a scan beats keeping the tree, whose
// upkeep every acquire and release would pay. The lc tree is only ever built
// for larger tables (removeAt drops it when a table shrinks).
function scanLeastConn(): u32 {
  const n = count();
  let best: u32 = NIL;
  let bestActive: u32 = FULL;
  for (let i: u32 = 0; i < n; i++) {
    const a = activeOf(i);
    if (a < bestActive && stateOf(i) == STATE_UP && weightOf(i) != 0) {
      best = i;
      bestActive = a;
    }
  }
  if (best == NIL || !(flags() & F_ROTATE)) return best;
  for (let i = hget(H_ROT); i < n; i++) {
    if (activeOf(i) == bestActive && stateOf(i) == STATE_UP && weightOf(i) != 0) return i;
  }
  return best;
}

function pickLeastConn(): u32 {
  if (ASC_FEATURE_THREADS || count() <= SCAN_LIMIT) return scanLeastConn();
  if (!(flags() & F_LC_OK)) buildTrees(F_LC_OK);
  const least = lcAt(0);
  if (least == FULL) return NIL;
  if (flags() & F_ROTATE) {
    const next = findFrom(hget(H_ROT), 1, least);
    if (next != NIL) return next;
  }
  // The leftmost leaf holding the least count.
  let node: u32 = 0;
  while (node < leafBase) {
    node = (node << 2) + 1;
    while (lcAt(node) != least) node++;
  }
  return node - leafBase;
}

// The weighted pick by scan (threads build), same order as the tree's.
function scanWeighted(): u32 {
  const n = count();
  let best: u32 = NIL;
  for (let i: u32 = 0; i < n; i++) if (wlcLess(i, best)) best = i;
  if (best == NIL || !(flags() & F_ROTATE)) return best;
  const a = <u64>activeOf(best), w = <u64>weightOf(best);
  for (let i = hget(H_ROT); i < n; i++) {
    if (isRoutable(i) && <u64>activeOf(i) * w == a * <u64>weightOf(i)) return i;
  }
  return best;
}

function pickWeightedLeastConn(): u32 {
  if (ASC_FEATURE_THREADS) return scanWeighted();
  if (!(flags() & F_WLC_OK)) buildTrees(F_WLC_OK);
  const best = wlctAt(0);
  if (best == NIL || !isRoutable(best)) return NIL;
  return flags() & F_ROTATE ? rotateFrom(best, 2, best) : best;
}

// First routable backend at or after `start`, or NIL.
function nextRoutable(start: u32): u32 {
  const n = count();
  if (!ASC_FEATURE_THREADS && n > SCAN_LIMIT) {
    if (!(flags() & F_LC_OK)) buildTrees(F_LC_OK);
    return findFrom(start, 0, 0);
  }
  for (let i = start; i < n; i++) if (isRoutable(i)) return i;
  return NIL;
}

function pickRoundRobin(): u32 {
  let pick = nextRoutable(hget(H_RR));
  if (pick == NIL) pick = nextRoutable(0);
  if (pick != NIL) hset(H_RR, pick + 1);
  return pick;
}

// nginx's smooth weighted round-robin (ngx_http_upstream_get_peer): every
// routable backend gains its weight, the largest current weight wins (the
// earliest on ties) and pays back the total.
function pickSmoothWeighted(): u32 {
  const n = count();
  let best: u32 = NIL;
  let bestCur: i64 = 0;
  let total: i64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (!isRoutable(i)) continue;
    const p = offCurw + (<usize>i << 3);
    const w = <i64>weightOf(i);
    const cur = load<i64>(p) + w;
    store<i64>(p, cur);
    total += w;
    if (best == NIL || cur > bestCur) { best = i; bestCur = cur; }
  }
  if (best != NIL) store<i64>(offCurw + (<usize>best << 3), bestCur - total);
  return best;
}

function ensureEligible(): u32 {
  if (flags() & F_ELIG_OK) return hget(H_ELIGIBLE);
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
// Without full backends this is simply the backend at position r.
function probe(r: u32, e: u32, skip: u32): u32 {
  for (let k: u32 = 0; k < e; k++) {
    const i = eligAt((r + k) % e);
    if (i != skip && isRoutable(i)) return i;
  }
  return NIL;
}

function pickRandom(): u32 {
  const e = ensureEligible();
  return e == 0 ? NIL : probe(rngBelow(e), e, NIL);
}

// Two distinct samples from the eligible list; fewer active wins, the
// earlier backend on ties. The samples are kept for sample().
function pickTwoChoices(): u32 {
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
  if (b == NIL) return a;
  sampleSecond = <i32>b;
  const ca = activeOf(a);
  const cb = activeOf(b);
  if (ca != cb) return ca < cb ? a : b;
  return a < b ? a : b;
}

// ---- the public surface ----

/** Empties the table and sizes it for `capacity` backends. Returns 0 or an ERR_*. */
export function reset(capacity: u32, seedValue: f64, rotateTies: bool): i32 {
  let cap = MIN_CAP;
  while (cap < capacity && cap < MAX_CAP) cap <<= 1;
  const old = capCache;
  relayout(cap);
  if (!ensureMemory(offEnd)) {
    relayout(old);
    return ERR_NO_MEMORY;
  }
  memory.fill(BASE, 0, HEADER_SIZE);
  hset(H_CAP, cap);
  hset(H_FLAGS, rotateTies ? F_ROTATE : 0);
  seed(seedValue);
  return 0;
}

/** Re-reads the layout from the header (another instance may have grown it). */
export function attach(): void {
  relayout(hget(H_CAP));
}

// Moves the per-backend arrays to a layout for a larger capacity. Every array
// moves up, so copying the last one first never overwrites unread data.
function grow(cap: u32): i32 {
  const n = <usize>count();
  const old = capCache;
  relayout(cap);
  if (!ensureMemory(offEnd)) {
    relayout(old);
    return ERR_NO_MEMORY;
  }
  for (let k: i32 = 5; k >= 0; k--) {
    memory.copy(arrayAt(k, cap), arrayAt(k, old), n * slotWidth(k));
  }
  hset(H_CAP, cap);
  clearFlags(F_LC_OK | F_WLC_OK | F_ELIG_OK);
  return 0;
}

/** Appends a backend (up, no connections). Returns its index or an ERR_*. */
export function add(weight: u32): i32 {
  const n = count();
  if (n >= capCache) {
    if (capCache >= MAX_CAP) return ERR_NO_MEMORY;
    const r = grow(capCache << 1);
    if (r < 0) return r;
  }
  const i = <usize>n;
  store<u32>(offActive + (i << 2), 0);
  store<u32>(offWeight + (i << 2), weight);
  store<u32>(offState + (i << 2), STATE_UP);
  store<u64>(offTotal + (i << 3), 0);
  store<f64>(offLast + (i << 3), NaN);
  store<i64>(offCurw + (i << 3), 0);
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
  const rest = <usize>(n - 1 - i);
  for (let k: u32 = 0; k < 6; k++) {
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
  if (i >= count() || state > STATE_DRAINING) return ERR_RANGE;
  lock();
  store<u32>(offState + (<usize>i << 2), state);
  clearFlags(F_ELIG_OK);
  unlock();
  touch(i);
  return 0;
}

export function setWeight(i: u32, weight: u32): i32 {
  if (i >= count()) return ERR_RANGE;
  lock();
  store<u32>(offWeight + (<usize>i << 2), weight);
  store<i64>(offCurw + (<usize>i << 3), 0);
  clearFlags(F_ELIG_OK);
  unlock();
  touch(i);
  return 0;
}

/** A snapshot from outside: sets backend i's active count. */
export function setActive(i: u32, active: u32): i32 {
  if (i >= count()) return ERR_RANGE;
  if (ASC_FEATURE_THREADS) atomic.store<u32>(offActive + (<usize>i << 2), active);
  else store<u32>(offActive + (<usize>i << 2), active);
  touch(i);
  return 0;
}

/** Picks a backend with `algorithm` and counts the request on it. Returns its index or NONE. */
export function acquire(algorithm: u32, now: f64): i32 {
  sampleFirst = -1;
  sampleSecond = -1;
  let pick: u32;
  switch (algorithm) {
    case ALG_LEAST_CONN: pick = pickLeastConn(); break;
    case ALG_WEIGHTED_LEAST_CONN: pick = pickWeightedLeastConn(); break;
    case ALG_ROUND_ROBIN: lock(); pick = pickRoundRobin(); unlock(); break;
    case ALG_WEIGHTED_ROUND_ROBIN: lock(); pick = pickSmoothWeighted(); unlock(); break;
    case ALG_P2C: lock(); pick = pickTwoChoices(); unlock(); break;
    case ALG_RANDOM: lock(); pick = pickRandom(); unlock(); break;
    default: return ERR_RANGE;
  }
  if (pick == NIL) return NONE;
  if (!ASC_NO_ASSERT) assert(pick < count() && isRoutable(pick), "acquire: picked a backend that cannot take traffic");
  const at = <usize>pick;
  if (ASC_FEATURE_THREADS) {
    // Another thread may have filled the last slot since the pick.
    if (atomic.add<u32>(offActive + (at << 2), 1) == FULL) {
      atomic.sub<u32>(offActive + (at << 2), 1);
      return NONE;
    }
    atomic.add<u64>(offTotal + (at << 3), 1);
  } else {
    store<u32>(offActive + (at << 2), activeOf(pick) + 1);
    store<u64>(offTotal + (at << 3), load<u64>(offTotal + (at << 3)) + 1);
  }
  store<f64>(offLast + (at << 3), now);
  if (flags() & F_ROTATE) hset(H_ROT, pick + 1);
  touch(pick);
  return <i32>pick;
}

/** Ends one request on backend i. Returns 1, or 0 when the count was already 0 (it stays 0). */
export function release(i: u32): i32 {
  if (i >= count()) return ERR_RANGE;
  const p = offActive + (<usize>i << 2);
  if (ASC_FEATURE_THREADS) {
    // Decrement only from a count above zero, even when threads race.
    let a = atomic.load<u32>(p);
    while (true) {
      if (a == 0) return 0;
      const seen = atomic.cmpxchg<u32>(p, a, a - 1);
      if (seen == a) return 1;
      a = seen;
    }
  }
  const a = load<u32>(p);
  if (a == 0) return 0;
  store<u32>(p, a - 1);
  touch(i);
  return 1;
}

/** The p2c samples of this instance's last acquire (0 first, 1 second), -1 when none. */
export function sample(which: u32): i32 { return which ? sampleSecond : sampleFirst; }
export function size(): u32 { return count(); }
export function capacity(): u32 { return capCache; }

/** Byte offsets of the arrays the bindings read directly (0 active, 1 weight, 2 state, 3 total, 4 last). */
export function layout(which: u32): u32 {
  return which < 5 ? <u32>arrayAt(which, capCache) : 0;
}
