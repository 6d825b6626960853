// The default clock: a cached Date.now() per job (HAProxy's now_ms).

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
  // biome-ignore lint/suspicious/noSelfCompare: the cheapest NaN test, on every pick.
  if (turnNow !== turnNow) {
    turnNow = Date.now();
    queueMicrotask(clearTurnNow);
  }
  return turnNow;
}
