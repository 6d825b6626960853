// The backend table in linear memory: the header, the layout of the
// per-backend arrays and the trees, and plain access to one backend's fields.
//
// Layout (from BASE, every region `cap` slots long, cap a power of two):
//   header | records (16 bytes: active u32, limit u32, weight u32, state u16,
//   ramp u16) | cold records (16 bytes: total u64, last f64) |
//   swrr current i64 | ewma cost f64 |
//   ewma stamp f64 | lc tree u32[nodes] | wlc tree u32[nodes] | eligible u32 |
//   ramping u32
// where nodes = the 4-ary trees' node count (see relayout). A pick reads a
// backend's record only (16 bytes, 16-byte aligned); acquire's total and
// last-used go to the cold record, which no pick reads; what only some
// algorithms read lives apart. (A 32-byte record holding total and last
// made the records 3.2 MB at 100,000 backends, beyond the 1 MiB L2 here,
// and random and p2c paid a miss on most picks.) The ramping list
// holds the indices whose ramp is below RAMP_ONE (slow start), unordered,
// H_RAMPING of them: least-connections compares them beside its tree.
// Nothing that counts lives in a global: the threads build (ASC_FEATURE_THREADS)
// shares this same memory between instances, so globals only cache offsets
// derived from the header (and, in picks.ts, per-call scratch).

import { RAMP_ONE, REC_SIZE, STATE_UP } from "./constants";

// ---- header fields (byte offsets from BASE) ----
export const H_COUNT: usize = 0;     // backends in the table
export const H_CAP: usize = 4;       // slots per array (power of two)
export const H_RR: usize = 8;        // round-robin cursor: next index to try
export const H_ROT: usize = 12;      // tie-rotation cursor
export const H_FLAGS: usize = 16;    // F_* bits below
export const H_ELIGIBLE: usize = 20; // length of the eligible list (when F_ELIG_OK)
export const H_RNG_STATE: usize = 24; // PCG32 state (u64)
export const H_RNG_INC: usize = 32;   // PCG32 stream (u64, odd)
export const H_LOCK: usize = 40;      // lock of the threads build: 0 free, else the owner's thread id (lock.ts)
export const H_RAMPING: usize = 44;   // length of the ramping list
export const H_DECAY: usize = 48;     // peak-ewma decay time constant, ms (f64)
export const H_THREADS: usize = 56;   // threads build: byte offset of the thread table (lock.ts), 0 = none
export const H_TMAX: usize = 60;      // threads build: slots in the thread table
export const HEADER_SIZE: usize = 64;

export const F_LC_OK: u32 = 1;    // least-connections tree is built and maintained
export const F_WLC_OK: u32 = 2;   // weighted least-connections tree likewise
export const F_ELIG_OK: u32 = 4;  // eligible list matches states and weights
export const F_ROTATE: u32 = 8;   // rotate among tied backends instead of lowest index

export const NIL: u32 = 0xFFFFFFFF;  // no backend (an empty tree leaf, no pick)
export const FULL: u32 = 0xFFFFFFFF; // an active count that cannot grow
export const MIN_CAP: u32 = 4;
export const MAX_CAP: u32 = 1 << 24;

// 64-byte aligned, so the header is one cache line and records are 16-byte
// aligned. Every region then starts 32-byte aligned (cap >= 4 slots of 8 or
// more bytes); the trees rely on 16 (see trees.ts).
export const BASE: usize = (__heap_base + 63) & ~63;

// Offsets cached per instance; recomputed from H_CAP by relayout().
export let offRec: usize = 0;
export let offCold: usize = 0;
export let offCurw: usize = 0;
export let offCost: usize = 0;
export let offStamp: usize = 0;
export let offRamping: usize = 0;
export let offLct: usize = 0;
export let offWlct: usize = 0;
export let offElig: usize = 0;
export let offEnd: usize = 0;
export let capCache: u32 = 0;
export let leafCount: u32 = 0; // leaves of each tree: the least power of 4 >= cap
export let leafBase: u32 = 0;  // node number of the first leaf: (leafCount - 1) / 3

// ---- header access ----
@inline export function hget(field: usize): u32 { return load<u32>(BASE + field); }
@inline export function hset(field: usize, v: u32): void { store<u32>(BASE + field, v); }
@inline export function count(): u32 { return hget(H_COUNT); }
@inline export function flags(): u32 { return hget(H_FLAGS); }
@inline export function clearFlags(bits: u32): void {
  if (ASC_FEATURE_THREADS) atomic.and<u32>(BASE + H_FLAGS, ~bits);
  else hset(H_FLAGS, flags() & ~bits);
}
@inline export function setFlags(bits: u32): void {
  if (ASC_FEATURE_THREADS) atomic.or<u32>(BASE + H_FLAGS, bits);
  else hset(H_FLAGS, flags() | bits);
}

// ---- per-backend access ----
// Byte offsets of the fields in a record (REC_SIZE bytes, 16-byte aligned).
export const R_ACTIVE: usize = 0;
export const R_LIMIT: usize = 4;
export const R_WEIGHT: usize = 8;
export const R_STATE: usize = 12; // u16
export const R_RAMP: usize = 14;  // u16
// The cold record, in its own region: written by acquire, read by no pick.
export const R_TOTAL: usize = 0;
export const R_LAST: usize = 8;
@inline export function rec(i: u32): usize { return offRec + (<usize>i << 4); }
@inline export function cold(i: u32): usize { return offCold + (<usize>i << 4); }
@inline export function activeOf(i: u32): u32 {
  if (ASC_FEATURE_THREADS) return atomic.load<u32>(rec(i));
  return load<u32>(rec(i));
}
@inline export function weightOf(i: u32): u32 { return load<u32>(rec(i), R_WEIGHT); }
@inline export function stateOf(i: u32): u32 { return <u32>load<u16>(rec(i), R_STATE); }
@inline export function limitOf(i: u32): u32 { return load<u32>(rec(i), R_LIMIT); }
@inline export function rampOf(i: u32): u32 { return <u32>load<u16>(rec(i), R_RAMP); }
@inline export function eligAt(k: u32): u32 { return load<u32>(offElig + (<usize>k << 2)); }
@inline export function rampingAt(k: u32): u32 { return load<u32>(offRamping + (<usize>k << 2)); }
export const ONE: u32 = <u32>RAMP_ONE;

// A backend can be picked when it is up, has weight and its count is below
// its limit (NO_LIMIT = FULL by default: a count that cannot grow).
@inline export function routable(i: u32): bool {
  return stateOf(i) == STATE_UP && weightOf(i) != 0 && activeOf(i) < limitOf(i);
}
// The same, kept out of line for the colder paths: the release build must fit its 6 KiB.
export function isRoutable(i: u32): bool { return routable(i); }

// The per-backend regions in layout order: the records and the cold records
// (REC_SIZE a slot), then the swrr current weights, ewma costs and stamps
// (8 bytes a slot).
export const REGIONS: u32 = 5;
// Both record regions have 16-byte slots, the rest 8 (written out: smaller).
if (REC_SIZE != 16) ERROR("table.ts: slotWidth and arrayAt assume 16-byte records");
@inline export function slotWidth(k: u32): usize { return <usize>8 << <usize>(k < 2); }
@inline export function arrayAt(k: u32, cap: u32): usize {
  const before: usize = <usize>(k + min(k, 2)) << 3;
  return BASE + HEADER_SIZE + <usize>cap * before;
}

export function relayout(cap: u32): void {
  const c = <usize>cap;
  offRec = arrayAt(0, cap);
  offCold = arrayAt(1, cap);
  offCurw = arrayAt(2, cap);
  offCost = arrayAt(3, cap);
  offStamp = arrayAt(4, cap);
  leafCount = 1;
  while (leafCount < cap) leafCount <<= 2;
  leafBase = (leafCount - 1) / 3;
  // Node k lives in slot k + 3 (see trees.ts); + 3 for that shift, then
  // rounded up to a multiple of 4 slots so the weighted tree starts 16-byte
  // aligned like the first.
  const nodes = <usize>((leafBase + leafCount + 6) & ~3);
  offLct = arrayAt(REGIONS, cap);
  offWlct = offLct + (nodes << 2);
  offElig = offWlct + (nodes << 2);
  offRamping = offElig + (c << 2);
  offEnd = offRamping + (c << 2);
  capCache = cap;
}

export function ensureMemory(end: usize): bool {
  const have = <usize>memory.size() << 16;
  if (end <= have) return true;
  const pages = <i32>((end - have + 0xFFFF) >> 16);
  return memory.grow(pages) >= 0;
}
