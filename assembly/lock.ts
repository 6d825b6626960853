// The spinlock of the threads build. It guards the selection state that
// threads share and that no single atomic operation can update: the
// round-robin cursor, smooth-wrr weights, the generator and the eligible
// list (not the tie-rotation cursor: a race there only skews rotation).
// Counters need no lock: they change by atomic read-modify-write, so no
// update is ever lost. In the single-threaded build both calls compile to
// nothing.

import { BASE, H_LOCK } from "./table";

@inline export function lock(): void {
  if (ASC_FEATURE_THREADS) {
    while (atomic.cmpxchg<u32>(BASE + H_LOCK, 0, 1) != 0) {}
  }
}
@inline export function unlock(): void {
  if (ASC_FEATURE_THREADS) atomic.store<u32>(BASE + H_LOCK, 0);
}
