// The cross-runtime conformance scenario: one seeded sequence of 120,000
// mixed operations over every algorithm, applied to the library it is given,
// reduced to a text report whose last line is an FNV-1a digest of every pick,
// every p2c sample, every release result and error code, and every phase's
// final snapshot. Node, Deno and Chromium run this same module and must
// print the same bytes (test/runtimes/scenario.golden.txt).
//
// It imports no runtime API and no value: the caller passes the library
// (dist/index.js and dist/shared.js), so each runtime tests the shipped
// bundle. Its operation mix comes from its own PRNG, never Math.random, and
// time from a manual clock, so nothing in the report depends on the host.
// Resilience is in the mix: per-backend limits, the wait queue (through the
// synchronous _enqueue: grants, refusals, cancels), failed outcomes with
// ejection, slow start and peak-ewma, with options varying by phase.

import type { Balancer, BalancerOptions, Lease } from "../../bindings/index.js";
import type { SharedHandle } from "../../bindings/shared.js";

export interface ScenarioLibrary {
  Balancer: new (options?: BalancerOptions) => Balancer;
  createShared: (options?: BalancerOptions) => { balancer: Balancer; handle: SharedHandle };
  ALGORITHMS: readonly string[];
  algorithmId: (name: unknown) => number;
}

export interface ScenarioResult {
  /** The whole report, one line per phase, counters, the digest last; ends with "\n". */
  text: string;
  digest: string;
  /** Operations applied, by kind (errors included). */
  ops: Record<string, number>;
  /** Picks attempted, by resolved algorithm name. */
  algorithms: Record<string, number>;
}

export const SCENARIO_SEED = 0x1ea57c0;
export const OPS_PER_PHASE = 10_000;

// Backend count, tie-break and table kind of each phase. 32/33 straddle the
// core's switch from scans to selection trees; "shared" runs the threads
// build of the core (one thread here), whose membership is fixed.
const PHASES: ReadonlyArray<{ size: number; tie: "first" | "rotate"; table: "private" | "shared" }> = [
  { size: 3, tie: "first", table: "private" },
  { size: 8, tie: "rotate", table: "private" },
  { size: 0, tie: "first", table: "private" },
  { size: 1, tie: "rotate", table: "private" },
  { size: 32, tie: "first", table: "private" },
  { size: 33, tie: "rotate", table: "private" },
  { size: 70, tie: "first", table: "private" },
  { size: 5, tie: "rotate", table: "private" },
  { size: 17, tie: "first", table: "private" },
  { size: 130, tie: "rotate", table: "private" },
  { size: 6, tie: "first", table: "shared" },
  { size: 40, tie: "rotate", table: "shared" },
];

// Spellings the bindings must accept (case, "_" for "-", aliases) and one
// they must refuse.
// biome-ignore format: one line per algorithm
const SPELLINGS = [
  "least-connections", "leastconn", "LEAST_CONN",
  "weighted-least-connections", "Weighted_Least_Connections",
  "round-robin", "ROUND_ROBIN",
  "weighted-round-robin", "weighted_round_robin",
  "power-of-two-choices", "p2c", "P2C",
  "random", "Random",
  "peak-ewma", "PEAK_EWMA",
  "fastest",
];

// Names that trip up code keyed by plain objects or that sort numerically.
const SPECIAL_NAMES = ["__proto__", "constructor", "10", "0", "toString", "é ü", "api-1"];

/** FNV-1a, 32 bits, over UTF-16 code units: the same on every engine. */
export class Fnv1a {
  private h = 0x811c9dc5;
  add(text: string): void {
    let h = this.h;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    // A separator, so "ab"+"c" and "a"+"bc" differ.
    this.h = Math.imul(h ^ 0x0a, 0x01000193);
  }
  hex(): string {
    return (this.h >>> 0).toString(16).padStart(8, "0");
  }
}

/** mulberry32: a small 32-bit PRNG built from integer ops only. */
export class Prng {
  constructor(private state: number) {}
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return this.next() % n;
  }
  pick<T>(list: readonly T[]): T {
    return list[this.below(list.length)]!;
  }
}

export function runScenario(lib: ScenarioLibrary, seed: number = SCENARIO_SEED): ScenarioResult {
  const rng = new Prng(seed);
  const all = new Fnv1a();
  const ops: Record<string, number> = {};
  const algorithms: Record<string, number> = {};
  const lines: string[] = [`leastconn conformance scenario seed=${seed} phases=${PHASES.length} ops/phase=${OPS_PER_PHASE}`];
  const count = (table: Record<string, number>, key: string): void => {
    table[key] = (table[key] ?? 0) + 1;
  };

  PHASES.forEach((phase, p) => {
    const hash = new Fnv1a();
    const record = (event: string): void => {
      hash.add(event);
      all.add(event);
    };
    let now = 1_700_000_000_000 + p * 1_000_000;
    const pool = namePool(phase.size + 12);
    const backends = pool.slice(0, phase.size).map((name) => ({
      name,
      weight: rng.below(8) === 0 ? 0 : 1 + rng.below(5),
      connections: rng.below(4) === 0 ? rng.below(3) : 0,
      maxConnections: rng.below(3) === 0 ? 1 + rng.below(4) : undefined,
    }));
    const options: BalancerOptions = {
      backends,
      algorithm: SPELLINGS[(p * 2) % (SPELLINGS.length - 1)]!,
      seed: rng.next() * 2048 + rng.below(2048),
      tieBreak: phase.tie,
      clock: () => now,
      queue: { limit: rng.below(20) },
      decayMs: 100 + rng.below(10_000),
    };
    if (p % 3 !== 2) {
      options.ejection = { consecutiveFailures: 1 + rng.below(3), baseMs: 20 + rng.below(200), maxMs: 1000, maxPercent: rng.below(101) };
    }
    if (p % 2 === 0) options.slowStart = { windowMs: 50 + rng.below(1000), minPercent: 1 + rng.below(100) };
    const balancer = phase.table === "shared" ? lib.createShared(options).balancer : new lib.Balancer(options);
    // Open leases; a released one sometimes stays listed so a second release is tried.
    const leases: Lease[] = [];
    const someName = (): string => (rng.below(25) === 0 ? `missing-${rng.below(3)}` : rng.pick(pool));
    // Queued waiters: what they are told is recorded when it happens.
    let waiterId = 0;
    const cancels: Array<() => boolean> = [];

    const attempt = (kind: string, action: () => string): void => {
      count(ops, kind);
      let outcome: string;
      try {
        outcome = action();
      } catch (err) {
        // Only the library's coded errors are expected; anything else is a bug.
        const code = (err as { code?: unknown }).code;
        if (typeof code !== "string" || !code.startsWith("LC_ERR_")) throw err;
        outcome = `err ${code}`;
      }
      record(`${kind} ${outcome}`);
    };

    const acquire = (spelling: string | undefined): string => {
      const lease = spelling === undefined ? balancer.acquire() : balancer.acquire({ algorithm: spelling });
      // Resolved after acquire, so a refused spelling counts nowhere.
      const algorithm = spelling === undefined ? balancer.algorithm : lib.ALGORITHMS[lib.algorithmId(spelling)]!;
      count(algorithms, algorithm);
      if (lease === null) return "-";
      leases.push(lease);
      if ("sampled" in lease) {
        const choice = lease as Lease & { sampled: readonly string[]; sampledActive: readonly number[] };
        return `${lease.backend} sampled=${choice.sampled.join("|")} at=${choice.sampledActive.join("|")}`;
      }
      return lease.backend;
    };

    for (let i = 0; i < OPS_PER_PHASE; i++) {
      now += rng.below(4);
      const r = rng.below(1100);
      if (r < 300) {
        attempt("acquire", () => acquire(undefined));
      } else if (r < 420) {
        attempt("acquireWith", () => acquire(rng.pick(SPELLINGS)));
      } else if (r < 700) {
        attempt("leaseRelease", () => {
          if (leases.length === 0) return "none";
          const k = rng.below(leases.length);
          const lease = leases[k]!;
          if (rng.below(20) !== 0) {
            leases[k] = leases[leases.length - 1]!;
            leases.pop();
          }
          const ok = rng.below(4) !== 0;
          return `${lease.backend} ${ok} ${lease.release({ ok })}`;
        });
      } else if (r < 720) {
        attempt("release", () => {
          const name = someName();
          balancer.release(name);
          return name;
        });
      } else if (r < 750) {
        attempt("setActive", () => {
          const name = someName();
          const n = rng.below(50) === 0 ? -1 : rng.below(7);
          balancer.setActive(name, n);
          return `${name} ${n}`;
        });
      } else if (r < 790) {
        attempt("add", () => {
          const name = someName();
          const weight = rng.below(4) === 0 ? undefined : rng.below(6);
          const connections = rng.below(3) === 0 ? rng.below(4) : undefined;
          balancer.add(name, { weight, connections });
          return `${name} ${weight} ${connections}`;
        });
      } else if (r < 815) {
        attempt("remove", () => {
          const name = someName();
          balancer.remove(name);
          return `${name} ${balancer.has(name)}`;
        });
      } else if (r < 855) {
        attempt("markDown", () => {
          const name = someName();
          balancer.markDown(name);
          return name;
        });
      } else if (r < 905) {
        attempt("markUp", () => {
          const name = someName();
          balancer.markUp(name);
          return name;
        });
      } else if (r < 950) {
        attempt("setWeight", () => {
          const name = someName();
          const w = rng.below(40) === 0 ? 1.5 : rng.below(30) === 0 ? 1_000_000 : rng.below(5);
          balancer.setWeight(name, w);
          return `${name} ${w}`;
        });
      } else if (r < 965) {
        attempt("setAlgorithm", () => {
          balancer.algorithm = rng.pick(SPELLINGS);
          return balancer.algorithm;
        });
      } else if (r < 995) {
        attempt("get", () => JSON.stringify(balancer.get(someName())));
      } else if (r < 1000) {
        attempt("snapshot", () => {
          const snap = balancer.snapshot();
          return `${JSON.stringify(snap)} queue=${snap.queue.length}/${snap.queue.oldestWaitMs}`;
        });
      } else if (r < 1040) {
        attempt("enqueue", () => {
          const id = waiterId++;
          const spelling = rng.below(3) === 0 ? rng.pick(SPELLINGS) : undefined;
          const cancel = balancer._enqueue(
            {
              grant: (lease) => {
                leases.push(lease);
                record(`grant ${id} ${lease.backend}`);
              },
              fail: (err) => record(`fail ${id} ${(err as { code?: string }).code}`),
            },
            spelling,
          );
          cancels.push(cancel);
          return `${id} ${spelling}`;
        });
      } else if (r < 1060) {
        attempt("cancel", () => {
          if (cancels.length === 0) return "none";
          return String(cancels[cancels.length - 1 - rng.below(Math.min(3, cancels.length))]!());
        });
      } else if (r < 1080) {
        attempt("setMaxConnections", () => {
          const name = someName();
          const n = rng.below(5) === 0 ? undefined : rng.below(30) === 0 ? 0 : 1 + rng.below(4);
          balancer.setMaxConnections(name, n);
          return `${name} ${n}`;
        });
      } else if (r < 1090) {
        attempt("tick", () => {
          balancer.tick();
          return String(now);
        });
      } else {
        attempt("releaseFailed", () => {
          const name = someName();
          balancer.release(name, { ok: false });
          return name;
        });
      }
    }

    // Waiters still queued give up, so no wake-up timer outlives the phase.
    for (const cancel of cancels) cancel();
    record(`final ${JSON.stringify(balancer.snapshot())} queue=${balancer.snapshot().queue.length}`);
    for (const lease of leases) record(`drain ${lease.backend} ${lease.release()}`);
    record(`drained ${JSON.stringify(balancer.snapshot())}`);
    lines.push(
      `phase ${p} table=${phase.table} tie=${phase.tie} start=${phase.size} end=${balancer.size} ` +
        `algorithm=${balancer.algorithm} digest=${hash.hex()}`,
    );
  });

  const counts = (tally: Record<string, number>): string =>
    Object.keys(tally)
      .sort()
      .map((k) => `${k}=${tally[k]}`)
      .join(" ");
  lines.push(`ops ${counts(ops)}`);
  lines.push(`algorithms ${counts(algorithms)}`);
  const digest = all.hex();
  lines.push(`digest ${digest}`);
  return { text: lines.join("\n") + "\n", digest, ops, algorithms };
}

function namePool(size: number): string[] {
  const pool: string[] = [];
  for (let i = 0, s = 0; pool.length < size; i++) {
    pool.push(i % 9 === 4 && s < SPECIAL_NAMES.length ? SPECIAL_NAMES[s++]! : `b${i}`);
  }
  return pool;
}
