// Peak-EWMA cost of each backend (Finagle's PeakEwma, as Linkerd uses it):
// a moving average of lease durations that jumps up to any longer duration
// at once and decays towards shorter ones with the time constant H_DECAY.
// Everything is computed here, with an exp of its own (IEEE f64 operations
// only, within one unit in the last place of Math.exp), so every runtime
// computes the same costs. AssemblyScript's Math.exp cost about 500 bytes
// of the 6 KiB module; this one about 130.

import { EWMA_PENALTY } from "./constants";
import { BASE, H_DECAY, ONE, activeOf, offCost, offStamp, rampOf } from "./table";

// Observes a duration `rtt` (ms) at time `now` (ms) on backend i:
//   td = max(now - stamp, 0); w = exp(-td / decay)
//   cost = rtt > cost ? rtt : cost * w + rtt * (1 - w); stamp = now
// With td = 0 (w = 1) the average keeps its value, so exp is skipped.
export function observe(i: u32, rtt: f64, now: f64): f64 {
  const cp = offCost + (<usize>i << 3);
  const sp = offStamp + (<usize>i << 3);
  let cost = load<f64>(cp);
  if (rtt > cost) cost = rtt;
  else {
    const td = now - load<f64>(sp);
    if (td > 0) {
      const w = expNeg(-td / load<f64>(BASE + H_DECAY));
      cost = cost * w + rtt * (1 - w);
    }
  }
  store<f64>(cp, cost);
  store<f64>(sp, now);
  return cost;
}

// The load peak-ewma compares: the cost decayed to `now` (observing 0, as
// Finagle's get() does) times (active + 1). No cost yet: 0 when idle, so a
// new backend is tried; a large penalty plus the count when requests are
// open on it. A ramping backend's load is divided by ramp / RAMP_ONE.
export function ewmaLoad(i: u32, now: f64): f64 {
  const cost = observe(i, 0, now);
  const a = <f64>activeOf(i);
  let l = cost == 0 ? (a == 0 ? 0 : <f64>EWMA_PENALTY + a) : cost * (a + 1);
  const r = rampOf(i);
  if (r != ONE) l = l * <f64>ONE / <f64>r;
  return l;
}

// exp(x) for x <= 0: x = k ln2 + r with |r| <= ln2 / 2 (ln2 split in two
// parts so k ln2 is exact), e^r by its Taylor series to r^13 (error below
// 2^-60 of the result), times 2^k built in the exponent bits. Below -708
// the weight is 0 (e^-708 is 3e-308: nothing of the old cost is left).
function expNeg(x: f64): f64 {
  if (x < -708) return 0;
  const k = Math.floor(x * 1.4426950408889634 + 0.5);
  const r = x - k * 6.93147180369123816490e-01 - k * 1.90821492927058770002e-10;
  let p: f64 = 1;
  for (let j = 13; j > 0; j--) p = 1 + (p * r) / <f64>j;
  return p * reinterpret<f64>(<i64>(<i32>k + 1023) << 52);
}
