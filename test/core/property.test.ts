// Model-based property test: random operation sequences applied to both the
// Wasm-backed Balancer and the plain TypeScript reference model
// (./model.ts). After every step the picks, the power-of-two-choices sample
// pairs, lease results, thrown error codes, and the whole snapshot (counts,
// totals, lastUsed, weights, states and the order of names) must be equal.
// Small tables (<= 32 backends) exercise the core's scans, large ones (33 to
// a few hundred) its selection trees; both run in "first" and "rotate" mode.
// The threads build (createShared, used from one thread) runs the same
// sequences minus add/remove, which a shared table refuses.
//
// Resilience runs add per-backend limits, the wait queue (through the
// synchronous _enqueue under acquireAsync: grants, refusals, cancels),
// outcomes, passive ejection with its cap and the slow-start ramp, all on the
// manual clock (a "wait" operation moves it on); the queue's length, limits,
// effective weights, failure runs and ejection ends are compared too.
// Each test counts and asserts its own operations.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Balancer, type BalancerOptions, ChoiceLease, type Lease, LeastconnError } from "../../bindings/index.js";
import { createShared } from "../../bindings/shared.js";
import { MAX_ACTIVE, MAX_WEIGHT, Model, ModelError, type ModelLease, type ModelOptions, type ModelPick } from "./model.js";

type Op =
  | { t: "acquire" }
  | { t: "acquireWith"; alg: string }
  | { t: "leaseRelease"; k: number; ok?: boolean }
  | { t: "release"; b: number; ok?: boolean }
  | { t: "enqueue"; alg?: string }
  | { t: "cancel"; k: number }
  | { t: "setMax"; b: number; n?: number }
  | { t: "tick" }
  | { t: "wait"; ms: number }
  | { t: "setActive"; b: number; n: number }
  | { t: "add"; p: number; weight?: number; connections?: number; maxConnections?: number }
  | { t: "remove"; b: number }
  | { t: "markDown"; b: number }
  | { t: "markUp"; b: number }
  | { t: "setWeight"; b: number; w: number }
  | { t: "setAlgorithm"; alg: string };

interface Scenario {
  specs: Array<{ weight: number; connections: number; maxConnections?: number }>;
  algorithm: string;
  seed: number;
  rotate: boolean;
  ops: Op[];
  /** Resilience options (valid values), the same for the Balancer and the model. */
  extra?: Pick<ModelOptions, "queue" | "ejection" | "slowStart">;
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
  "least-connections",
  "LEAST_CONNECTIONS",
  "leastconn",
  "Least-Conn",
  "weighted-least-connections",
  "Weighted_Least_Connections",
  "round-robin",
  "ROUND_ROBIN",
  "weighted-round-robin",
  "weighted_round_robin",
  "power-of-two-choices",
  "p2c",
  "P2C",
  "random",
  "Random",
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

class Mismatch extends Error {}

function fail(step: number, op: Op | "init", what: string, got: unknown, want: unknown): never {
  throw new Mismatch(
    `step ${step} ${JSON.stringify(op)}: ${what}\n  balancer: ${JSON.stringify(got)}\n  model:    ${JSON.stringify(want)}`,
  );
}

function compareState(bal: Balancer, model: Model, step: number, op: Op | "init", now: number): void {
  // Both look at the clock here (ejections end, ramps advance).
  const got = bal.snapshot();
  model.advance(now);
  const want = model.backends;
  if (got.queue.length !== model.queue.length) fail(step, op, "queue length", got.queue.length, model.queue.length);
  if (got.length !== want.length || bal.size !== want.length) {
    fail(step, op, "names", bal.names, model.names);
  }
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (
      g.name !== w.name ||
      g.active !== w.active ||
      g.total !== w.total ||
      g.lastUsed !== w.lastUsed ||
      g.weight !== w.weight ||
      g.state !== w.state ||
      g.maxConnections !== (w.limit === 2 ** 32 - 1 ? null : w.limit) ||
      g.effectiveWeight !== model.effectiveWeight(w) ||
      g.failures !== w.failures ||
      g.ejectedUntil !== w.ejectedUntil
    ) {
      fail(step, op, `backend #${i}`, g, { ...w, effectiveWeight: model.effectiveWeight(w) });
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

/** A Balancer's lease against the model's pick: same backend, same p2c samples. */
function comparePick(step: number, op: Op, lease: Lease, pick: ModelPick): void {
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
}

/** What the resilience runs went through, so a test can show it exercised each feature. */
interface Seen {
  handoffs: number;
  queueFull: number;
  unavailable: number;
  cancelled: number;
  ejected: number;
  ramping: number;
  full: number;
}
const nothingSeen = (): Seen => ({ handoffs: 0, queueFull: 0, unavailable: 0, cancelled: 0, ejected: 0, ramping: 0, full: 0 });

/** Runs one scenario; returns how many operations it applied. */
function run(s: Scenario, make: Make = privateTable, seen: Seen = nothingSeen()): number {
  const pool = namePool(s.specs.length + 24);
  const backends = s.specs.map((spec, i) => ({ name: pool[i]!, ...spec }));
  let now = 0;
  let waited = 0;
  const options = {
    backends,
    algorithm: s.algorithm,
    seed: s.seed,
    tieBreak: s.rotate ? ("rotate" as const) : ("first" as const),
    ...s.extra,
  };
  const bal = make({ ...options, clock: () => now });
  const model = new Model(options);
  compareState(bal, model, -1, "init", now);
  const leases: Array<[Lease, ModelLease]> = [];
  // The queue: what the Balancer's waiters were told, and their cancels.
  let nextId = 0;
  const told: Array<{ id: number; lease?: Lease; code?: string }> = [];
  const cancels: Array<[number, () => boolean]> = [];
  const checkGrants = (step: number, op: Op, refused: Array<{ id: number; code: string }>): void => {
    const grants = model.takeGrants();
    const got = told.splice(0);
    const want = [
      ...grants.map((g) => ({ id: g.id, pick: g.pick as ModelPick | undefined, code: undefined as string | undefined })),
      ...refused.map((r) => ({ id: r.id, pick: undefined, code: r.code })),
    ];
    for (const w of want) {
      if (w.code === "LC_ERR_QUEUE_FULL") seen.queueFull++;
      else if (w.code === "LC_ERR_UNAVAILABLE") seen.unavailable++;
    }
    if (op.t !== "enqueue") seen.handoffs += grants.length;
    if (got.length !== want.length || got.some((g, k) => g.id !== want[k]!.id || g.code !== want[k]!.code)) {
      fail(
        step,
        op,
        "queue grants",
        got.map((g) => [g.id, g.lease?.backend ?? g.code]),
        want.map((w) => [w.id, w.pick?.name ?? w.code]),
      );
    }
    got.forEach((g, k) => {
      if (g.lease === undefined) return;
      comparePick(step, op, g.lease, want[k]!.pick!);
      leases.push([g.lease, want[k]!.pick!.lease]);
    });
  };

  const nameOf = (b: number): string => {
    const names = model.names;
    if (names.length === 0 || b % 8 === 7) return pool[(b >> 3) % pool.length]!;
    return names[b % names.length]!;
  };

  s.ops.forEach((op, step) => {
    now = 1000 + step + waited;
    const refused: Array<{ id: number; code: string }> = [];
    switch (op.t) {
      case "acquire":
      case "acquireWith": {
        const alg = op.t === "acquireWith" ? op.alg : undefined;
        const r = both(
          step,
          op,
          () => bal.acquire(alg === undefined ? undefined : { algorithm: alg }),
          () => model.acquire(now, alg),
        );
        if (r === undefined) break;
        const [lease, pick] = r;
        if (lease === null || pick === null) {
          if (lease !== pick) fail(step, op, "pick", lease?.backend ?? null, pick?.name ?? null);
          break;
        }
        comparePick(step, op, lease, pick);
        leases.push([lease, pick.lease]);
        break;
      }
      case "leaseRelease": {
        if (leases.length === 0) break;
        const [l, m] = leases[op.k % leases.length]!;
        const ok = op.ok ?? true;
        const got = l.release({ ok });
        const want = model.releaseLease(m, ok, now);
        if (got !== want) fail(step, op, "release()", got, want);
        if (!l.released) fail(step, op, "released", l.released, true);
        break;
      }
      case "release": {
        const name = nameOf(op.b);
        const ok = op.ok ?? true;
        both(
          step,
          op,
          () => bal.release(name, { ok }),
          () => model.release(name, ok, now),
        );
        break;
      }
      case "enqueue": {
        const id = nextId++;
        const r = both(
          step,
          op,
          () =>
            bal._enqueue(
              { grant: (lease) => void told.push({ id, lease }), fail: (e) => void told.push({ id, code: (e as LeastconnError).code }) },
              op.alg,
            ),
          () => model.enqueue(now, id, op.alg),
        );
        if (r === undefined) break;
        const [cancel, m] = r;
        cancels.push([id, cancel]);
        // An immediate answer is reported like a grant from the queue, in order.
        if (typeof m === "string") refused.push({ id, code: m });
        else if (m !== null) model.grants.push({ id, pick: m });
        break;
      }
      case "cancel": {
        if (cancels.length === 0) break;
        // Mostly one of the last few waiters (the earlier ones have long been answered).
        const back = op.k % 8 === 7 ? op.k % cancels.length : op.k % Math.min(cancels.length, 3);
        const [id, cancel] = cancels[cancels.length - 1 - back]!;
        const got = cancel();
        const want = model.cancel(id);
        if (want) seen.cancelled++;
        if (got !== want) fail(step, op, "cancel()", got, want);
        break;
      }
      case "setMax": {
        const name = nameOf(op.b);
        both(
          step,
          op,
          () => bal.setMaxConnections(name, op.n),
          () => model.setMaxConnections(name, op.n, now),
        );
        break;
      }
      case "tick": {
        bal.tick();
        model.tick(now);
        break;
      }
      case "wait": {
        waited += op.ms;
        now += op.ms;
        break;
      }
      case "setActive": {
        const name = nameOf(op.b);
        both(
          step,
          op,
          () => bal.setActive(name, op.n),
          () => model.setActive(name, op.n, now),
        );
        break;
      }
      case "add": {
        const name = op.p % 50 === 49 ? "" : pool[op.p % pool.length]!;
        const opts = { weight: op.weight, connections: op.connections, maxConnections: op.maxConnections };
        both(
          step,
          op,
          () => bal.add(name, opts),
          () => model.add(name, opts, now),
        );
        break;
      }
      case "remove": {
        const name = nameOf(op.b);
        both(
          step,
          op,
          () => bal.remove(name),
          () => model.remove(name),
        );
        break;
      }
      case "markDown": {
        const name = nameOf(op.b);
        both(
          step,
          op,
          () => bal.markDown(name),
          () => model.markDown(name),
        );
        break;
      }
      case "markUp": {
        const name = nameOf(op.b);
        both(
          step,
          op,
          () => bal.markUp(name),
          () => model.markUp(name, now),
        );
        break;
      }
      case "setWeight": {
        const name = nameOf(op.b);
        both(
          step,
          op,
          () => bal.setWeight(name, op.w),
          () => model.setWeight(name, op.w, now),
        );
        break;
      }
      case "setAlgorithm": {
        both(
          step,
          op,
          () => {
            bal.algorithm = op.alg;
          },
          () => model.setAlgorithm(op.alg),
        );
        break;
      }
    }
    checkGrants(step, op, refused);
    compareState(bal, model, step, op, now);
    checkGrants(step, op, []);
    for (const b of model.backends) {
      if (b.state === "ejected") seen.ejected++;
      if (b.ramp !== 1024) seen.ramping++;
      if (b.active >= b.limit) seen.full++;
    }
  });
  return s.ops.length;
}

/** Runs `runs` scenarios; returns the operations applied (each test asserts its own count). */
function property(arb: fc.Arbitrary<Scenario>, runs: number, make: Make = privateTable, seen: Seen = nothingSeen()): number {
  let ops = 0;
  const started = performance.now();
  fc.assert(
    fc.property(arb, (sc) => {
      ops += run(sc, make, seen);
    }),
    { numRuns: runs },
  );
  console.log(`property: ${ops} operations in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return ops;
}

/** Steps (backend-steps for states) that each feature was seen in; every one must have happened, often. */
function exercised(seen: Seen, atLeast: number, except: Array<keyof Seen> = []): void {
  console.log(`resilience exercised: ${JSON.stringify(seen)}`);
  for (const [what, n] of Object.entries(seen)) {
    if (!except.includes(what as keyof Seen)) expect(n, what).toBeGreaterThanOrEqual(atLeast);
  }
}

// Resilience scenarios: small limits so backends fill, a small queue,
// failures often enough to eject, short ejections and ramps so they end
// within a run (the clock moves 1 ms a step, and "wait" jumps).
const limitArb = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }) });
const resilientOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 20, arbitrary: fc.constant({ t: "acquire" as const }) },
  { weight: 6, arbitrary: algorithmArb.map((alg) => ({ t: "acquireWith" as const, alg })) },
  { weight: 26, arbitrary: fc.record({ t: fc.constant("leaseRelease" as const), k: ref, ok: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("release" as const), b: ref, ok: fc.boolean() }) },
  {
    weight: 14,
    arbitrary: fc.record({ t: fc.constant("enqueue" as const), alg: fc.option(algorithmArb, { nil: undefined }) }, { requiredKeys: ["t"] }),
  },
  { weight: 4, arbitrary: ref.map((k) => ({ t: "cancel" as const, k })) },
  {
    weight: 3,
    arbitrary: fc.record(
      { t: fc.constant("setMax" as const), b: ref, n: fc.oneof(limitArb, fc.constantFrom(0, -1, 1.5)) },
      { requiredKeys: ["t", "b"] },
    ),
  },
  { weight: 2, arbitrary: fc.constant({ t: "tick" as const }) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 120 }).map((ms) => ({ t: "wait" as const, ms })) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("setActive" as const), b: ref, n: validCount }) },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        t: fc.constant("add" as const),
        p: ref,
        weight: validWeight,
        connections: fc.constant(0),
        maxConnections: fc.oneof(
          { weight: 6, arbitrary: fc.integer({ min: 1, max: 3 }) },
          { weight: 1, arbitrary: fc.constantFrom(undefined, 0) },
        ),
      },
      { requiredKeys: ["t", "p", "maxConnections"] },
    ),
  },
  { weight: 2, arbitrary: ref.map((b) => ({ t: "remove" as const, b })) },
  { weight: 3, arbitrary: ref.map((b) => ({ t: "markDown" as const, b })) },
  { weight: 3, arbitrary: ref.map((b) => ({ t: "markUp" as const, b })) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("setWeight" as const), b: ref, w: validWeight }) },
);

function resilientArb(
  minSize: number,
  maxSize: number,
  opCount: number,
  limits: fc.Arbitrary<number | undefined> = limitArb,
): fc.Arbitrary<Scenario> {
  return fc.record({
    specs: fc.array(
      fc.record(
        {
          weight: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 5 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 1000) }),
          connections: fc.constant(0),
          maxConnections: limits,
        },
        { requiredKeys: ["weight", "connections"] },
      ),
      { minLength: minSize, maxLength: maxSize, size: "max" },
    ),
    algorithm: spellings,
    seed: fc.nat(1000),
    rotate: fc.boolean(),
    ops: fc.array(resilientOp, { minLength: opCount, maxLength: opCount }),
    extra: fc.record(
      {
        queue: fc.record({ limit: fc.integer({ min: 0, max: 12 }) }),
        ejection: fc.record(
          {
            consecutiveFailures: fc.integer({ min: 1, max: 4 }),
            baseMs: fc.integer({ min: 1, max: 80 }),
            maxMs: fc.integer({ min: 80, max: 400 }),
            maxPercent: fc.integer({ min: 0, max: 100 }),
          },
          { requiredKeys: ["baseMs"] },
        ),
        slowStart: fc.record(
          { windowMs: fc.integer({ min: 1, max: 400 }), minPercent: fc.integer({ min: 1, max: 100 }) },
          { requiredKeys: ["windowMs"] },
        ),
      },
      { requiredKeys: [] },
    ),
  });
}

/** A shared table refuses add/remove: those steps become acquires. */
const fixedMembership = (a: fc.Arbitrary<Scenario>): fc.Arbitrary<Scenario> =>
  a.map((sc) => ({ ...sc, ops: sc.ops.map((op): Op => (op.t === "add" || op.t === "remove" ? { t: "acquire" } : op)) }));

describe("Balancer equals the reference model, step by step", () => {
  it("small tables (0..32 backends: the core scans), 600 runs x 300 operations", () => {
    expect(property(scenarioArb(0, 32, 300), 600)).toBe(180_000);
  });

  it("tables around the scan limit (28..40 backends), 100 runs x 500 operations", () => {
    expect(property(scenarioArb(28, 40, 500), 100)).toBe(50_000);
  });

  it("large tables (33..300 backends: the core uses its trees), 200 runs x 1000 operations", () => {
    expect(property(scenarioArb(33, 300, 1000), 200)).toBe(200_000);
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
    expect(property(flat, 40)).toBe(20_000);
  });

  it("threads build (createShared, one thread), small tables, 200 runs x 300 operations", () => {
    expect(property(fixedMembership(scenarioArb(0, 32, 300)), 200, sharedTable)).toBe(60_000);
  });

  it("threads build (createShared, one thread), large tables, 40 runs x 1000 operations", () => {
    expect(property(fixedMembership(scenarioArb(33, 300, 1000)), 40, sharedTable)).toBe(40_000);
  });
});

describe("resilience equals the reference model: limits, queue hand-off, outcomes, ejection with its cap, slow start", () => {
  it("small tables (1..12 backends), 400 runs x 400 operations on the manual clock", () => {
    const seen = nothingSeen();
    expect(property(resilientArb(1, 12, 400), 400, privateTable, seen)).toBe(160_000);
    exercised(seen, 100);
  });

  it("large tables (33..64 backends, limit 1 or 2: the trees and the ramping list, filled up), 60 runs x 1000 operations", () => {
    const seen = nothingSeen();
    // Half the lease releases, and every limit lifted, become acquires, so that every backend fills and the queue is used.
    const filling = resilientArb(33, 64, 1000, fc.integer({ min: 1, max: 2 })).map((sc) => ({
      ...sc,
      ops: sc.ops.map(
        (op): Op => ((op.t === "leaseRelease" && op.k % 2 === 0) || (op.t === "setMax" && op.n === undefined) ? { t: "acquire" } : op),
      ),
    }));
    expect(property(filling, 60, privateTable, seen)).toBe(60_000);
    // With 33 or more backends, "none up" does not come by chance.
    exercised(seen, 5, ["unavailable"]);
  });

  it("threads build (createShared, one thread; limits honoured by its compare-and-swap), 40 runs x 500 operations", () => {
    expect(property(fixedMembership(resilientArb(1, 40, 500)), 40, sharedTable)).toBe(20_000);
  });
});
