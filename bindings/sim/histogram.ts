// An HDR-style histogram of non-negative integers (microseconds here), exact
// in integers: values below 2048 have a bucket each; above, each power of two
// is split into 1024 buckets, so a bucket is at most 1/1024 (0.1%) of its
// value wide. Percentiles report the highest value of their bucket (as
// HdrHistogram does), capped at the largest value recorded. Written here
// rather than taken from hdr-histogram-js: it is 60 lines, has no float
// arithmetic to drift between runtimes, and adds nothing to the bundle.

const SUB = 1024;
const EXACT = 2 * SUB; // values below this are exact
const MAX_EXPONENT = 52; // values up to 2^53 - 1

export class Histogram {
  private readonly counts = new Float64Array(EXACT + (MAX_EXPONENT - 10) * SUB);
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;

  /** Records one integer value 0..2^53-1. */
  record(value: number): void {
    this.counts[bucketOf(value)]!++;
    this.count++;
    this.sum += value;
    if (value > this.max) this.max = value;
    if (value < this.min) this.min = value;
  }

  /** The mean of the recorded values (0 when empty). */
  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /**
   * The value at quantile q (0..1): the highest value of the bucket holding
   * the ceil(q * count)-th smallest value (at least the first), capped at max.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]!;
      if (seen >= rank) return Math.min(highestOf(i), this.max);
    }
    return this.max;
  }
}

function exponentOf(value: number): number {
  if (value < 4294967296) return 31 - Math.clz32(value);
  return 63 - Math.clz32(Math.floor(value / 4294967296));
}

export function bucketOf(value: number): number {
  if (value < EXACT) return value;
  const e = exponentOf(value); // >= 11
  const shift = e - 10;
  return EXACT + (e - 11) * SUB + (Math.floor(value / 2 ** shift) - SUB);
}

export function highestOf(bucket: number): number {
  if (bucket < EXACT) return bucket;
  const e = Math.floor((bucket - EXACT) / SUB) + 11;
  const shift = e - 10;
  const top = ((bucket - EXACT) % SUB) + SUB;
  return (top + 1) * 2 ** shift - 1;
}
