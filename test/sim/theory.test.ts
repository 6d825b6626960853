// The simulator against queueing theory and its own exact promises: M/M/1
// and M/M/c means, processor sharing's insensitivity, a closed loop's exact
// latencies, round-robin's exact split, determinism, and the deterministic
// ln/exp and the histogram it is built on. Each run is seeded, so each figure
// is fixed; seeds 1, 2 and 3 were all within the 2% bounds when written.

import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../bindings/errors.js";
import {
  configFromFlags,
  exp,
  flagsFromQuery,
  flagsToArgs,
  formatTable,
  Histogram,
  ln,
  normalize,
  parseService,
  type SimConfig,
  simulate,
} from "../../bindings/sim/index.js";

const EXP_1MS = parseService("exp:1ms");

function one(config: Partial<SimConfig>) {
  const [r] = simulate({ backends: 1, service: EXP_1MS, algorithms: ["least-connections"], requests: 100_000, seed: 1, ...config });
  return r!;
}

function erlangC(c: number, a: number): number {
  let sum = 0;
  let term = 1;
  for (let k = 0; k < c; k++) {
    if (k > 0) term *= a / k;
    sum += term;
  }
  const top = ((term * a) / c) * (c / (c - a));
  return top / (sum + top);
}

describe("against queueing theory", () => {
  it.each([
    [0.5, 500_000],
    [0.9, 2_000_000],
  ])("M/M/1 at rho %f (%i requests): mean time in system within 2 percent of 1/(mu - lambda)", (rho, requests) => {
    const r = one({ utilization: rho, requests });
    const expected = 1 / (1 - rho); // ms, with mu = 1/ms
    expect(Math.abs(r.mean_ms / expected - 1)).toBeLessThan(0.02);
    expect(Math.abs(r.backends[0]!.utilization - rho)).toBeLessThan(0.01);
    expect(r.completed).toBe(requests);
  });

  it("M/M/c (c = 4, rho = 0.8): mean within 2% of Erlang C", () => {
    const c = 4;
    const a = 3.2;
    const r = one({ servers: c, utilization: 0.8, requests: 500_000 });
    const expected = erlangC(c, a) / (c - a) + 1;
    expect(expected).toBeCloseTo(1.7455, 4);
    expect(Math.abs(r.mean_ms / expected - 1)).toBeLessThan(0.02);
  });

  it("M/D/1 FIFO gives Pollaczek-Khinchine's 3 ms, processor sharing the insensitive 5 ms (rho = 0.8)", () => {
    const fixed = parseService("fixed:1ms");
    const fifo = one({ service: fixed, utilization: 0.8, requests: 500_000 });
    const ps = one({ service: fixed, utilization: 0.8, requests: 500_000, discipline: "ps" });
    expect(Math.abs(fifo.mean_ms / 3 - 1)).toBeLessThan(0.02);
    expect(Math.abs(ps.mean_ms / 5 - 1)).toBeLessThan(0.03);
  });

  it("closed loop: 4 clients, no think time, fixed 1 ms: every reply after the first round takes exactly 4 ms", () => {
    const r = one({ service: parseService("fixed:1ms"), clients: 4, thinkMs: 0, requests: 10_000 });
    expect(r.completed).toBe(10_000);
    expect([r.p50_ms, r.p99_ms, r.max_ms]).toEqual([4, 4, 4]);
    expect(r.duration_ms).toBe(10_000);
    expect(r.backends[0]!.utilization).toBe(1);
  });
});

describe("the Balancer's limits, queue and ejection", () => {
  it("M/M/1 through maxConnections 1 and the Balancer's queue gives the same latencies as the backend's own queue", () => {
    const plain = one({ utilization: 0.8, requests: 50_000 });
    const queued = one({ utilization: 0.8, requests: 50_000, maxConnections: 1, queue: { limit: 100_000, timeoutMs: 1_000_000 } });
    expect([queued.mean_ms, queued.p50_ms, queued.p99_ms, queued.max_ms, queued.shed]).toEqual([
      plain.mean_ms,
      plain.p50_ms,
      plain.p99_ms,
      plain.max_ms,
      0,
    ]);
    expect(queued.backends[0]!.max_queue).toBe(0); // the waiting happened in the Balancer
    expect(plain.backends[0]!.max_queue).toBeGreaterThan(10);
  });

  it("M/M/1/1 (maxConnections 1, no room to wait): Erlang B sheds rho/(1+rho) of the requests", () => {
    const r = one({ utilization: 0.5, requests: 200_000, maxConnections: 1, queue: { limit: 0, timeoutMs: 1000 } });
    expect(Math.abs(r.shed / r.requests / (1 / 3) - 1)).toBeLessThan(0.02);
    expect(r.completed + r.shed).toBe(r.requests);
    expect([r.timeouts, r.p99_ms >= r.p50_ms]).toEqual([0, true]);
  });

  it("queue timeouts are simulated time: a wait never exceeds the timeout", () => {
    const r = one({
      utilization: 1.2,
      service: parseService("fixed:1ms"),
      requests: 20_000,
      maxConnections: 1,
      queue: { limit: 1000, timeoutMs: 5 },
    });
    expect(r.timeouts).toBeGreaterThan(2000);
    expect(r.shed).toBe(r.timeouts);
    expect(r.max_ms).toBeLessThanOrEqual(6); // at most 5 ms waiting + 1 ms of service
  });

  it("ejection steers away from a failing backend (round-robin, 2 backends, one failing all run)", () => {
    const base: SimConfig = {
      backends: 2,
      service: EXP_1MS,
      utilization: 0.3,
      failures: [{ index: 0, startMs: 0, endMs: 1e9 }],
      algorithms: ["round-robin"],
      requests: 20_000,
      seed: 1,
    };
    const [without] = simulate(base);
    const [withEjection] = simulate({ ...base, ejection: { consecutiveFailures: 5, baseMs: 1000, maxPercent: 50 } });
    expect(without!.failed).toBe(10_000);
    expect(withEjection!.ejections).toBeGreaterThan(3);
    expect(withEjection!.failed).toBe(5 * withEjection!.ejections); // five failures in a row before each ejection
  });
});

describe("exact promises", () => {
  it("round-robin over identical backends spreads requests exactly evenly", () => {
    const [r] = simulate({ backends: 8, service: EXP_1MS, utilization: 0.9, algorithms: ["round-robin"], requests: 80_000, seed: 3 });
    expect(r!.backends.map((b) => b.requests)).toEqual(Array(8).fill(10_000));
    expect(r!.backends.map((b) => b.share)).toEqual(Array(8).fill(0.125));
  });

  it("fixed seeds give the same table twice; another seed another digest", () => {
    const config: SimConfig = {
      backends: 6,
      service: parseService("bimodal:1ms:100ms:0.1"),
      slow: [{ index: 1, factor: 5 }],
      failures: [{ index: 2, startMs: 100, endMs: 300 }],
      utilization: 0.8,
      algorithms: ["least-connections", "p2c", "round-robin", "random", "weighted-round-robin", "weighted-least-connections"],
      requests: 20_000,
      seed: 7,
      balancers: 2,
      staleMs: 1,
    };
    const model = normalize(config);
    const first = formatTable(model, simulate(config));
    expect(formatTable(model, simulate(config))).toBe(first);
    expect(formatTable(normalize({ ...config, seed: 8 }), simulate({ ...config, seed: 8 }))).not.toBe(first.replace("seed 7", "seed 8"));
    expect(first).toMatch(/^digest [0-9a-f]{8}$/m);
  });

  it("a failure window fails exactly the requests routed to that backend inside it", () => {
    const [r] = simulate({
      backends: 2,
      service: EXP_1MS,
      utilization: 0.5,
      failures: [{ index: 0, startMs: 0, endMs: 1e9 }],
      algorithms: ["round-robin"],
      requests: 1000,
      seed: 1,
    });
    expect(r!.failed).toBe(500);
    expect(r!.completed).toBe(500);
  });

  it("least-connections sends a failing (fast-failing) backend more than its share", () => {
    const [r] = simulate({
      backends: 4,
      service: EXP_1MS,
      utilization: 0.8,
      failures: [{ index: 0, startMs: 0, endMs: 1e9 }],
      algorithms: ["least-connections"],
      requests: 20_000,
      seed: 1,
    });
    expect(r!.backends[0]!.share).toBeGreaterThan(0.25);
    expect(r!.failed).toBe(r!.backends[0]!.requests);
  });

  it("K balancers and stale counts complete every request, with a worse p99 for stale least-connections", () => {
    const base: SimConfig = {
      backends: 8,
      service: EXP_1MS,
      utilization: 0.8,
      algorithms: ["least-connections"],
      requests: 50_000,
      seed: 1,
    };
    const [fresh] = simulate(base);
    const [stale] = simulate({ ...base, staleMs: 5 });
    const [many] = simulate({ ...base, balancers: 8 });
    for (const r of [fresh!, stale!, many!]) expect(r.completed).toBe(50_000);
    expect(stale!.p99_ms).toBeGreaterThan(2 * fresh!.p99_ms);
    expect(many!.p99_ms).toBeGreaterThan(fresh!.p99_ms);
  });

  it("rejects bad settings with the field named", () => {
    expect(() => parseService("exp:1")).toThrow(/service: expected a duration/);
    expect(() => parseService("gamma:1ms")).toThrow(InvalidArgumentError);
    expect(() => normalize({ backends: 0, service: EXP_1MS, algorithms: ["random"], requests: 1, seed: 1 })).toThrow(
      /backends: must be an integer 1..1024/,
    );
    expect(() => normalize({ backends: 2, service: EXP_1MS, algorithms: ["nope"], requests: 1, seed: 1 })).toThrow(
      /unknown algorithm "nope"/,
    );
    expect(() =>
      normalize({ backends: 2, service: EXP_1MS, slow: [{ index: 2, factor: 5 }], algorithms: ["random"], requests: 1, seed: 1 }),
    ).toThrow(/slow index/);
    expect(() => configFromFlags({ utilization: "0.5", clients: "3" })).toThrow(/not both/);
    expect(() => flagsFromQuery("?backends=2&colour=red")).toThrow(/colour: is not a simulator setting/);
  });

  it("flags round-trip through a URL query and command-line arguments", () => {
    const query =
      "backends=8&service=lognormal%3A20ms%3A1.0&slow=1%3A5x&slow=2%3A3x&utilization=0.9&algorithms=p2c%2Crandom&requests=10&seed=1";
    const values = flagsFromQuery(`?${query}`);
    expect(flagsToArgs(values)).toEqual([
      "--backends", "8", "--service", "lognormal:20ms:1.0", "--slow", "1:5x", "--slow", "2:3x", "--utilization", "0.9",
      "--algorithms", "p2c,random", "--requests", "10", "--seed", "1",
    ]); // biome-ignore format: one flag per pair
    expect(configFromFlags(values).slow).toEqual([
      { index: 1, factor: 5 },
      { index: 2, factor: 3 },
    ]);
  });
});

describe("building blocks", () => {
  it("ln and exp agree with Math.log and Math.exp to about 1e-15", () => {
    for (let i = 0; i < 10_000; i++) {
      const x = 1e-300 * 1.07 ** (i * 0.9);
      expect(Math.abs(ln(x) - Math.log(x))).toBeLessThanOrEqual(4e-16 * Math.max(1, Math.abs(Math.log(x))));
      const y = -700 + i * 0.14;
      expect(Math.abs(exp(y) / Math.exp(y) - 1)).toBeLessThanOrEqual(5e-15);
    }
    expect([ln(1), exp(0), ln(Math.E)]).toEqual([0, 1, 1]);
  });

  it("the histogram is exact below 2048 and within 1/1024 above", () => {
    const h = new Histogram();
    for (let v = 1; v <= 1000; v++) h.record(v);
    expect([h.quantile(0.5), h.quantile(0.99), h.quantile(0.999), h.quantile(1), h.mean()]).toEqual([500, 990, 999, 1000, 500.5]);
    const big = new Histogram();
    for (const v of [3_000_000, 123_456_789, 2 ** 40 + 12_345]) {
      big.record(v);
      const q = big.quantile(1);
      expect(q).toBe(v); // capped at the maximum
    }
    const wide = new Histogram();
    wide.record(123_456_789);
    wide.record(200_000_000);
    const q = wide.quantile(0.5);
    expect(q).toBeGreaterThanOrEqual(123_456_789);
    expect((q - 123_456_789) / 123_456_789).toBeLessThan(1 / 1024);
  });
});
