// The selection trees of least-connections and weighted least-connections,
// and the searches over them that round-robin and tie rotation share.
//
// Both trees are 4-ary (half the levels of a binary tree): node 0 is the
// root, node k's children are 4k+1..4k+4, leaves start at node `leafBase`,
// and node k is stored in slot k + 3. The shift puts children 4k+1..4k+4 in
// slots 4(k+1)..4(k+1)+3: a group of four siblings is 16 bytes, 16-byte
// aligned (the trees start 16-byte aligned, see table.ts), so it never
// straddles a 64-byte cache line.
//
// The least-connections tree holds counts only: each node the least count
// below it (FULL for unroutable or empty leaves, and for ramping backends,
// whose key active/ramp is no count: the picks compare the ramping list
// beside the tree, see picks.ts). The pick descends from the
// root to the leftmost leaf holding the root's count, which is exactly what a
// scan from index 0 with strict `<` returns. An update climbs from the leaf
// and stops at the first node whose minimum did not change: a +1 or -1 on a
// backend among several at the minimum stops after one level. (Keys that
// also packed the index would change every ancestor of the pick, every time.)
//
// The weighted tree holds backend indices (NIL when no leaf below is
// routable) because active/weight has no exact packed form (the weight is the
// effective weight, weight * ramp: slow start changes a leaf through touch); the earliest
// child wins ties, so the root is the pick. An update stops at the first
// node whose winner is unchanged and is not the touched backend, and stops
// comparing at the first node whose key (its winner's ratio) is unchanged:
// from there only the new index passes up (touchTrees). A release, whose
// key only falls, compares the backend with each ancestor's winner alone;
// a rise of key all the way up still compares four children at every level
// (docs/CORE.md, "Speed at n = 100,000").

import {
  F_LC_OK, F_WLC_OK, FULL, NIL, ONE, activeOf, count, flags, hget, H_ROT, isRoutable, leafBase, leafCount,
  offLct, offWlct, rampOf, routable, setFlags, weightOf,
} from "./table";

// What findFrom looks for (nodeMatches' `mode`).
export const MATCH_ROUTABLE: u32 = 0;   // any routable leaf (lc tree)
export const MATCH_ACTIVE: u32 = 1;     // active count equal to `target` (lc tree)
export const MATCH_RATIO: u32 = 2;      // active/weight equal to backend `target`'s (wlc tree)

@inline function lcLeaf(i: u32): u32 { return routable(i) && rampOf(i) == ONE ? activeOf(i) : FULL; }
// Weight after slow start, times RAMP_ONE: weight < 2^20, ramp <= 2^10, so
// active * effWeight < 2^62 and cross-multiplications cannot overflow.
@inline export function effWeight(i: u32): u64 { return <u64>weightOf(i) * <u64>rampOf(i); }
@inline export function lcAt(node: u32): u32 { return load<u32>(offLct + (<usize>(node + 3) << 2)); }
@inline function lcSet(node: u32, v: u32): void { store<u32>(offLct + (<usize>(node + 3) << 2), v); }
@inline export function wlctAt(node: u32): u32 { return load<u32>(offWlct + (<usize>(node + 3) << 2)); }
@inline export function wlcSet(node: u32, v: u32): void { store<u32>(offWlct + (<usize>(node + 3) << 2), v); }

// Strictly better for weighted least-connections: active/effWeight smaller,
// compared by cross-multiplication (no overflow, see effWeight).
export function wlcLess(i: u32, j: u32): bool {
  const ri = i != NIL && isRoutable(i);
  const rj = j != NIL && isRoutable(j);
  if (!rj) return ri;
  if (!ri) return false;
  return <u64>activeOf(i) * effWeight(j) < <u64>activeOf(j) * effWeight(i);
}

@inline function lcMinOfChildren(k: u32): u32 {
  const c = (k << 2) + 1;
  return min(min(lcAt(c), lcAt(c + 1)), min(lcAt(c + 2), lcAt(c + 3)));
}

// The best of node k's four children, the earliest on ties; NIL when none
// is routable. Each child's count and weight are read once (wlcLess would
// read the running best's again for every comparison).
// Only leaves need the routability test: a node above them holds a winner,
// which is routable (every change of routability touches the backend's
// path), or NIL.
function wlcBestOfChildren(k: u32): u32 {
  const c = (k << 2) + 1;
  const leaves = c >= leafBase;
  let best = NIL;
  let bestActive: u64 = 0;
  let bestWeight: u64 = 0;
  for (let j: u32 = 0; j < 4; j++) {
    const w = wlctAt(c + j);
    if (w == NIL || (leaves && !routable(w))) continue;
    const a = <u64>activeOf(w);
    const wt = effWeight(w);
    if (best == NIL || a * bestWeight < bestActive * wt) {
      best = w;
      bestActive = a;
      bestWeight = wt;
    }
  }
  return best;
}

export function buildTrees(bits: u32): void {
  const n = count();
  for (let i: u32 = 0; i < leafCount; i++) {
    if (bits & F_LC_OK) lcSet(leafBase + i, i < n && isRoutable(i) && rampOf(i) == ONE ? activeOf(i) : FULL);
    if (bits & F_WLC_OK) wlcSet(leafBase + i, i < n ? i : NIL);
  }
  for (let k = <i32>leafBase - 1; k >= 0; k--) {
    if (bits & F_LC_OK) lcSet(k, lcMinOfChildren(k));
    if (bits & F_WLC_OK) wlcSet(k, wlcBestOfChildren(k));
  }
  setFlags(bits);
}

// Brings backend i's leaf and its ancestors up to date in each live tree.
// `was`: i's active count before the change when only the count changed
// (acquire, release), else NIL.
// The flag test is in touchTrees, one call per site (smaller), except on the
// hot paths (acquire, release), which skip the call while no tree is live.
@inline export function touch(i: u32, was: u32 = NIL): void {
  touchTrees(i, was);
}
@inline export function touchIfLive(i: u32, was: u32): void {
  if (flags() & (F_LC_OK | F_WLC_OK)) touchTrees(i, was);
}

function touchTrees(i: u32, was: u32): void {
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
    if (was != NIL && activeOf(i) < was) {
      // A release: only i's key fell. Each subtree's winner is its least
      // (ratio, index), so at each ancestor i either already wins, now beats
      // the winner (one comparison, no siblings read), or loses, and then
      // nothing above changes. A backend that cannot take traffic after a
      // release could not before either: its path holds it nowhere.
      if (!isRoutable(i)) return;
      // `beaten`: the winner i replaced one level down; i beats it again
      // without a comparison (an acquire's tie shortcut leaves one such
      // winner all the way up).
      const ai = <u64>activeOf(i), ei = effWeight(i);
      let beaten = NIL;
      while (node != 0) {
        node = (node - 1) >> 2;
        const old = wlctAt(node);
        if (old != beaten && old != NIL) {
          const x = ai * effWeight(old), y = <u64>activeOf(old) * ei;
          if (x != y ? x > y : i > old) break;
        }
        beaten = old;
        wlcSet(node, i);
      }
      return;
    }
    // Stop at a node whose winner is unchanged and is not i: that winner's
    // ratio did not change, so no ancestor's input did. When the winner
    // changed but its ratio equals the old winner's before the change (i
    // took or gave up a node tied with a sibling), the node's key is
    // unchanged: every ancestor picks the same child as before, so only the
    // new index passes up, through the ancestors the old winner held.
    while (node != 0) {
      node = (node - 1) >> 2;
      const old = wlctAt(node);
      const best = wlcBestOfChildren(node);
      if (best == old && best != i) break;
      wlcSet(node, best);
      // (A node's winner is routable, so `old` was before the change.)
      if (best != old && best != NIL && old != NIL && was != NIL &&
        <u64>activeOf(best) * effWeight(old) == <u64>(old == i ? was : activeOf(old)) * effWeight(best)) {
        while (node != 0) {
          node = (node - 1) >> 2;
          if (wlctAt(node) != old) break;
          wlcSet(node, best);
        }
        break;
      }
    }
  }
}

// Does the subtree at `node` hold a leaf that matches (MATCH_*)? Each holds
// of a subtree exactly when it holds of the subtree's minimum, which keeps
// the descent logarithmic.
function nodeMatches(node: u32, mode: u32, target: u32): bool {
  if (mode == MATCH_RATIO) {
    const w = wlctAt(node);
    return w != NIL && isRoutable(w) &&
      <u64>activeOf(w) * effWeight(target) == <u64>activeOf(target) * effWeight(w);
  }
  const least = lcAt(node);
  return mode == MATCH_ROUTABLE ? least != FULL : least == target;
}

// First backend index >= start whose leaf matches, or NIL: climb until a
// later sibling matches, then descend to its earliest matching leaf.
export function findFrom(start: u32, mode: u32, target: u32): u32 {
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
export function rotateFrom(best: u32, mode: u32, target: u32): u32 {
  const next = findFrom(hget(H_ROT), mode, target);
  return next != NIL ? next : best;
}
