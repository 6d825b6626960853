// Seeded randomness for the simulator: a xoshiro128** generator (32-bit
// integer operations only, so every engine draws the same numbers) and the
// service-time and interarrival distributions over it. The logarithm and
// exponential are computed here from + - * / alone, whose IEEE results are
// exact in every runtime, instead of Math.log/Math.exp, which ECMAScript
// leaves "implementation-approximated".

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
// Which half of a float64 holds the sign and exponent on this machine.
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;
const LN2 = Math.LN2;
const SQRT2 = Math.SQRT2;
const LN2_HI = 0.6931471803691238; // 0x3fe62e42fee00000
const LN2_LO = 1.9082149292705877e-10; // 0x3dea39ef35793c76

/** Natural logarithm of x > 0 (finite), deterministic across runtimes. */
export function ln(x: number): number {
  F64[0] = x;
  let e = ((U32[HI]! >>> 20) & 0x7ff) - 1023;
  if (e === -1023) {
    // Subnormal: scale up exactly first.
    F64[0] = x * 18014398509481984; // 2^54
    e = ((U32[HI]! >>> 20) & 0x7ff) - 1023 - 54;
  }
  U32[HI] = (U32[HI]! & 0x800fffff) | (1023 << 20);
  let m = F64[0]!;
  if (m > SQRT2) {
    m /= 2;
    e += 1;
  }
  // ln m = 2 atanh(z), z = (m-1)/(m+1), |z| <= 0.1716: twelve odd terms reach double precision.
  const z = (m - 1) / (m + 1);
  const z2 = z * z;
  let sum = 1 / 25;
  for (let k = 23; k >= 1; k -= 2) sum = 1 / k + z2 * sum;
  return e * LN2 + 2 * z * sum;
}

/** e^x, deterministic across runtimes; 0 below -745, Infinity above 709. */
export function exp(x: number): number {
  if (x < -745) return 0;
  if (x > 709) return Number.POSITIVE_INFINITY;
  const k = Math.round(x / LN2);
  // Cody and Waite's split of ln 2 (as fdlibm): k * LN2_HI is exact, so r keeps its low bits.
  const r = x - k * LN2_HI - k * LN2_LO;
  // Taylor series of e^r, |r| <= 0.35: 20 terms are beyond double precision.
  let sum = 1;
  for (let n = 20; n >= 1; n--) sum = 1 + (r / n) * sum;
  return sum * pow2(k);
}

function pow2(k: number): number {
  if (k < -1022) return pow2(k + 54) / 18014398509481984;
  U32[LO] = 0;
  U32[HI] = (k + 1023) << 20;
  return F64[0]!;
}

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [state, (z ^ (z >>> 16)) >>> 0];
}

/** xoshiro128**, seeded from (seed, stream) through splitmix32. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream: number) {
    let s = ((seed % 4294967296) >>> 0) ^ Math.imul(Math.floor(seed / 4294967296), 0x27d4eb2f) ^ Math.imul(stream + 1, 0x165667b1);
    const out: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, value] = splitmix32(s);
      s = next;
      out.push(value);
    }
    [this.a, this.b, this.c, this.d] = out as [number, number, number, number];
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** A uniform 32-bit unsigned integer. */
  next32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.next32() >>> 5) * 67108864 + (this.next32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, n), 1 <= n <= 2^21, without modulo bias (Lemire; x*n stays below 2^53, so exact). */
  below(n: number): number {
    const threshold = 4294967296 % n;
    for (;;) {
      const m = this.next32() * n;
      if (m % 4294967296 >= threshold) return Math.floor(m / 4294967296);
    }
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -mean * ln(1 - this.uniform());
  }

  /** Standard normal (Marsaglia's polar method: no trigonometry). */
  normal(): number {
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) return u * Math.sqrt((-2 * ln(s)) / s);
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
