// Model-based property test: random operation sequences applied to both the
// Wasm-backed Balancer and the plain TypeScript reference model
// (./model.ts). After every step the picks, the power-of-two-choices sample
// pairs, lease results, thrown error codes, and the whole snapshot (counts,
// totals, lastUsed, weights, states and the order of names) must be equal.
// Small tables (<= 32 backends) exercise the core's scans, large ones (33 to
// a few hundred) its selection trees; both run in "first" and "rotate" mode.
// The threads build (createShared, used from one thread) runs the same
// sequences minus add/remove, which a shared table refuses.

import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { Balancer, ChoiceLease, LeastconnError, type BalancerOptions, type Lease } from "../../bindings/index.js";
import { createShared } from "../../bindings/shared.js";
import { MAX_ACTIVE, MAX_WEIGHT, Model, ModelError, type ModelLease } from "./model.js";

type Op =
  | { t: "acquire" }
  | { t: "acquireWith"; alg: string }
  | { t: "leaseRelease"; k: number }
  | { t: "release"; b: number }
  | { t: "setActive"; b: number; n: number }
  | { t: "add"; p: number; weight?: number; connections?: number }
  | { t: "remove"; b: number }
  | { t: "markDown"; b: number }
  | { t: "markUp"; b: number }
  | { t: "setWeight"; b: number; w: number }
  | { t: "setAlgorithm"; alg: string };

interface Scenario {
  specs: Array<{ weight: number; connections: number }>;
  algorithm: string;
  seed: number;
  rotate: boolean;
  ops: Op[];
}

const SPECIAL_NAMES = ["10", "__proto__", "constructor", "1", "toString", "hasOwnProperty", "é ü", "0"];

/** Names used by a scenario: specials interleaved with b0, b1, ... */
function namePool(size: number): string[] {
  const pool: string[] = [];
  let s = 0;
  for (let i = 0; pool.length < size; i++) {
    if (i % 3 === 1 && s < SPECIAL_NAMES.length) pool.push(SPECIAL_NAMES[s++]!);
    pool.push(`b${i}`);
  }
  return pool;
}

const spellings = fc.constantFrom(
  "least-connections", "LEAST_CONNECTIONS", "leastconn", "Least-Conn",
  "weighted-least-connections", "Weighted_Least_Connections",
  "round-robin", "ROUND_ROBIN",
  "weighted-round-robin", "weighted_round_robin",
  "power-of-two-choices", "p2c", "P2C",
  "random", "Random",
);
const badSpelling = fc.constantFrom("bogus", "", "least connections", "__proto__", "constructor", "leastconnections");
const algorithmArb = fc.oneof({ weight: 12, arbitrary: spellings }, { weight: 1, arbitrary: badSpelling });

const validWeight = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 4 }) },
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constantFrom(7, 1000, MAX_WEIGHT) },
);
const weightArb = fc.oneof(
  { weight: 12, arbitrary: validWeight },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, MAX_WEIGHT + 1, Number.NaN) },
);
const validCount = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 5, max: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_ACTIVE, MAX_ACTIVE - 1) },
);
const countArb = fc.oneof(
  { weight: 12, arbitrary: validCount },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0.5, MAX_ACTIVE + 1, 2 ** 32) },
);
const ref = fc.nat({ max: 1 << 20 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 25, arbitrary: fc.constant({ t: "acquire" as const }) },
  { weight: 12, arbitrary: algorithmArb.map((alg) => ({ t: "acquireWith" as const, alg })) },
  { weight: 20, arbitrary: ref.map((k) => ({ t: "leaseRelease" as const, k })) },
  { weight: 6, arbitrary: ref.map((b) => ({ t: "release" as const, b })) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant("setActive" as const), b: ref, n: countArb }) },
  {
    weight: 5,
    arbitrary: fc.record(
      { t: fc.constant("add" as const), p: ref, weight: weightArb, connections: validCount },
      { requiredKeys: ["t", "p"] },
    ),
  },
  { weight: 5, arbitrary: ref.map((b) => ({ t: "remove" as const, b })) },
  { weight: 4, arbitrary: ref.map((b) => ({ t: "markDown" as const, b })) },
  { weight: 4, arbitrary: ref.map((b) => ({ t: "markUp" as const, b })) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("setWeight" as const), b: ref, w: weightArb }) },
  { weight: 1, arbitrary: algorithmArb.map((alg) => ({ t: "setAlgorithm" as const, alg })) },
);

function scenarioArb(minSize: number, maxSize: number, opCount: number): fc.Arbitrary<Scenario> {
  return fc.record({
    specs: fc.array(fc.record({ weight: validWeight, connections: validCount }), { minLength: minSize, maxLength: maxSize, size: "max" }),
    algorithm: spellings,
    seed: fc.oneof(fc.nat(1000), fc.constant(Number.MAX_SAFE_INTEGER)),
    rotate: fc.boolean(),
    ops: fc.array(opArb, { minLength: opCount, maxLength: opCount }),
  });
}

let totalOps = 0;
let totalMs = 0;

class Mismatch extends Error {}

function fail(step: number, op: Op | "init", what: string, got: unknown, want: unknown): never {
  throw new Mismatch(
    `step ${step} ${JSON.stringify(op)}: ${what}\n  balancer: ${JSON.stringify(got)}\n  model:    ${JSON.stringify(want)}`,
  );
}

function compareState(bal: Balancer, model: Model, step: number, op: Op | "init"): void {
  const got = bal.snapshot();
  const want = model.backends;
  if (got.length !== want.length || bal.size !== want.length) {
    fail(step, op, "names", bal.names, model.names);
  }
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (
      g.name !== w.name || g.active !== w.active || g.total !== w.total || g.lastUsed !== w.lastUsed ||
      g.weight !== w.weight || g.state !== w.state
    ) {
      fail(step, op, `backend #${i}`, g, model.snapshot()[i]);
    }
  }
  if (bal.algorithm !== model.algorithm) fail(step, op, "algorithm", bal.algorithm, model.algorithm);
}

/** Runs `f` on both sides; they must both return or both throw a matching code. */
function both<A, B>(step: number, op: Op, onBal: () => A, onModel: () => B): [A, B] | undefined {
  let modelErr: ModelError | undefined;
  let b: B | undefined;
  try {
    b = onModel();
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
    modelErr = e;
  }
  let a: A;
  try {
    a = onBal();
  } catch (e) {
    if (modelErr === undefined || !(e instanceof LeastconnError) || !modelErr.codes.includes(e.code as never)) {
      fail(step, op, "thrown", String(e), modelErr?.codes ?? "no error");
    }
    return undefined;
  }
  if (modelErr !== undefined) fail(step, op, "returned", a, modelErr.codes);
  return [a, b as B];
}

type Make = (options: BalancerOptions) => Balancer;
const privateTable: Make = (options) => new Balancer(options);
const sharedTable: Make = (options) => createShared(options).balancer;

function run(s: Scenario, make: Make = privateTable): void {
  const started = performance.now();
  const pool = namePool(s.specs.length + 24);
  const backends = s.specs.map((spec, i) => ({ name: pool[i]!, ...spec }));
  let now = 0;
  const options = { backends, algorithm: s.algorithm, seed: s.seed, tieBreak: s.rotate ? ("rotate" as const) : ("first" as const) };
  const bal = make({ ...options, clock: () => now });
  const model = new Model(options);
  compareState(bal, model, -1, "init");
  const leases: Array<[Lease, ModelLease]> = [];

  const nameOf = (b: number): string => {
    const names = model.names;
    if (names.length === 0 || b % 8 === 7) return pool[(b >> 3) % pool.length]!;
    return names[b % names.length]!;
  };

  s.ops.forEach((op, step) => {
    now = 1000 + step;
    switch (op.t) {
      case "acquire":
      case "acquireWith": {
        const alg = op.t === "acquireWith" ? op.alg : undefined;
        const r = both(step, op, () => bal.acquire(alg === undefined ? undefined : { algorithm: alg }), () => model.acquire(now, alg));
        if (r === undefined) break;
        const [lease, pick] = r;
        if (lease === null || pick === null) {
          if (lease !== pick) fail(step, op, "pick", lease?.backend ?? null, pick?.name ?? null);
          break;
        }
        if (lease.backend !== pick.name) fail(step, op, "pick", lease.backend, pick.name);
        if (pick.sampled !== undefined) {
          if (!(lease instanceof ChoiceLease)) fail(step, op, "ChoiceLease", lease.constructor.name, "ChoiceLease");
          if (lease.sampled.join("\u0000") !== pick.sampled.join("\u0000")) fail(step, op, "sampled", lease.sampled, pick.sampled);
          if (lease.sampledActive.join() !== pick.sampledActive!.join()) {
            fail(step, op, "sampledActive", lease.sampledActive, pick.sampledActive);
          }
        } else if (lease instanceof ChoiceLease) {
          fail(step, op, "ChoiceLease", "ChoiceLease", "Lease");
        }
        leases.push([lease, pick.lease]);
        break;
      }
      case "leaseRelease": {
        if (leases.length === 0) break;
        const [l, m] = leases[op.k % leases.length]!;
        const got = l.release();
        const want = model.releaseLease(m);
        if (got !== want) fail(step, op, "release()", got, want);
        if (!l.released) fail(step, op, "released", l.released, true);
        break;
      }
      case "release": {
        const name = nameOf(op.b);
        both(step, op, () => bal.release(name), () => model.release(name));
        break;
      }
      case "setActive": {
        const name = nameOf(op.b);
        both(step, op, () => bal.setActive(name, op.n), () => model.setActive(name, op.n));
        break;
      }
      case "add": {
        const name = op.p % 50 === 49 ? "" : pool[op.p % pool.length]!;
        const opts = { weight: op.weight, connections: op.connections };
        both(step, op, () => bal.add(name, opts), () => model.add(name, opts));
        break;
      }
      case "remove": {
        const name = nameOf(op.b);
        both(step, op, () => bal.remove(name), () => model.remove(name));
        break;
      }
      case "markDown": {
        const name = nameOf(op.b);
        both(step, op, () => bal.markDown(name), () => model.markDown(name));
        break;
      }
      case "markUp": {
        const name = nameOf(op.b);
        both(step, op, () => bal.markUp(name), () => model.markUp(name));
        break;
      }
      case "setWeight": {
        const name = nameOf(op.b);
        both(step, op, () => bal.setWeight(name, op.w), () => model.setWeight(name, op.w));
        break;
      }
      case "setAlgorithm": {
        both(step, op, () => { bal.algorithm = op.alg; }, () => model.setAlgorithm(op.alg));
        break;
      }
    }
    compareState(bal, model, step, op);
  });
  totalOps += s.ops.length;
  totalMs += performance.now() - started;
}

describe("Balancer equals the reference model, step by step", () => {
  it("small tables (0..32 backends: the core scans), 600 runs x 300 operations", () => {
    fc.assert(fc.property(scenarioArb(0, 32, 300), (sc) => run(sc)), { numRuns: 600 });
  });

  it("tables around the scan limit (28..40 backends), 100 runs x 500 operations", () => {
    fc.assert(fc.property(scenarioArb(28, 40, 500), (sc) => run(sc)), { numRuns: 100 });
  });

  it("large tables (33..300 backends: the core uses its trees), 200 runs x 1000 operations", () => {
    fc.assert(fc.property(scenarioArb(33, 300, 1000), (sc) => run(sc)), { numRuns: 200 });
  });

  it("large tables where everything ties (weights 1, counts 0), rotate and first, 40 runs x 500 operations", () => {
    const flat = fc.record({
      specs: fc.array(fc.constant({ weight: 1, connections: 0 }), { minLength: 33, maxLength: 200, size: "max" }),
      algorithm: fc.constantFrom("least-connections", "weighted-least-connections", "round-robin"),
      seed: fc.nat(1000),
      rotate: fc.boolean(),
      ops: fc.array(
        fc.oneof(
          { weight: 6, arbitrary: fc.constant({ t: "acquire" as const }) },
          { weight: 6, arbitrary: ref.map((k) => ({ t: "leaseRelease" as const, k })) },
          { weight: 1, arbitrary: ref.map((b) => ({ t: "markDown" as const, b })) },
          { weight: 1, arbitrary: ref.map((b) => ({ t: "markUp" as const, b })) },
          { weight: 1, arbitrary: ref.map((b) => ({ t: "remove" as const, b })) },
          { weight: 1, arbitrary: fc.record({ t: fc.constant("add" as const), p: ref }, { requiredKeys: ["t", "p"] }) },
        ),
        { minLength: 500, maxLength: 500 },
      ),
    });
    fc.assert(fc.property(flat, (sc) => run(sc)), { numRuns: 40 });
  });

  const fixedMembership = (a: fc.Arbitrary<Scenario>): fc.Arbitrary<Scenario> =>
    a.map((sc) => ({ ...sc, ops: sc.ops.map((op): Op => (op.t === "add" || op.t === "remove" ? { t: "acquire" } : op)) }));

  it("threads build (createShared, one thread), small tables, 200 runs x 300 operations", () => {
    fc.assert(fc.property(fixedMembership(scenarioArb(0, 32, 300)), (sc) => run(sc, sharedTable)), { numRuns: 200 });
  });

  it("threads build (createShared, one thread), large tables, 40 runs x 1000 operations", () => {
    fc.assert(fc.property(fixedMembership(scenarioArb(33, 300, 1000)), (sc) => run(sc, sharedTable)), { numRuns: 40 });
  });

  afterAll(() => {
    console.log(`property test: ${totalOps} operations in ${(totalMs / 1000).toFixed(1)} s`);
  });

  it("ran at least 100,000 operations in total", () => {
    expect(totalOps).toBeGreaterThanOrEqual(100_000);
  });
});
