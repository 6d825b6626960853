// The seeded generator that random and power-of-two-choices draw from:
// PCG32 (O'Neill), seeded like pcg32_srandom. Its state lives in the table
// header, not in globals, so threads sharing a table share one stream.

import { BASE, H_RNG_STATE, H_RNG_INC } from "./table";

@inline export function rngNext(): u32 {
  const old = load<u64>(BASE + H_RNG_STATE);
  store<u64>(BASE + H_RNG_STATE, old * 6364136223846793005 + load<u64>(BASE + H_RNG_INC));
  const xorshifted = <u32>(((old >> 18) ^ old) >> 27);
  const rot = <u32>(old >> 59);
  return rotr<u32>(xorshifted, rot);
}

// Uniform in [0, n) without modulo bias (Lemire's multiply-and-reject).
export function rngBelow(n: u32): u32 {
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
export function seed(s: f64): void {
  store<u64>(BASE + H_RNG_STATE, 0);
  store<u64>(BASE + H_RNG_INC, (<u64>0xDA3E39CB94B95BDB << 1) | 1);
  rngNext();
  store<u64>(BASE + H_RNG_STATE, load<u64>(BASE + H_RNG_STATE) + <u64>s);
  rngNext();
}
