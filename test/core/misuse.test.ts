// Misuse and edge cases of the Balancer over the core: double and late
// releases, releases after a backend left or was re-added under the same
// name, counts near 2^31, and every error class (its code, field and a
// message naming the bad value). Every throwing call
// must change nothing: neither the snapshot nor any hidden state (cursors,
// smooth weights, the generator), which is checked by replaying the same
// picks on an untouched twin. A table of 100,000 backends is in
// large-tables.test.ts (slow project).

import { describe, expect, it } from "vitest";
import {
  Balancer,
  type BalancerOptions,
  ChoiceLease,
  DuplicateBackendError,
  InvalidArgumentError,
  type Lease,
  LeastconnError,
  UnderflowError,
  UnknownAlgorithmError,
  UnknownBackendError,
} from "../../bindings/index.js";
import { Model } from "./model.js";

const MAX = 2 ** 31 - 1;

function counts(bal: Balancer): Record<string, number> {
  return Object.fromEntries(bal.snapshot().map((s) => [s.name, s.active]));
}

describe("releases", () => {
  it("a lease releases once: true, then false, and the count moves once", () => {
    const bal = new Balancer({ backends: ["a", "b"] });
    const lease = bal.acquire()!;
    expect(lease.backend).toBe("a");
    bal.acquire();
    bal.acquire(); // a: 2, b: 1
    expect(lease.release()).toBe(true);
    expect(lease.released).toBe(true);
    expect(lease.release()).toBe(false);
    expect(lease.release()).toBe(false);
    expect(counts(bal)).toEqual({ a: 1, b: 1 });
  });

  it("release(name) at 0 throws UnderflowError and the count stays 0", () => {
    const bal = new Balancer({ backends: ["a"] });
    bal.acquire()!;
    bal.release("a");
    const before = bal.snapshot();
    const err = catchError(() => bal.release("a"));
    expect(err).toBeInstanceOf(UnderflowError);
    expect(err).toMatchObject({ code: "LC_ERR_UNDERFLOW", backend: "a" });
    expect(err.message).toContain('"a"');
    expect(bal.snapshot()).toEqual(before);
  });

  it("a lease whose count a snapshot already set to 0 releases nothing", () => {
    const bal = new Balancer({ backends: ["a"] });
    const lease = bal.acquire()!;
    bal.setActive("a", 0);
    expect(lease.release()).toBe(false);
    expect(bal.active("a")).toBe(0);
    expect(bal.acquire()!.release()).toBe(true);
  });

  it("releasing the last lease of a draining backend removes it; a second release is false", () => {
    const bal = new Balancer({ backends: ["a", "b"] });
    const lease = bal.acquire()!;
    bal.remove("a");
    expect(bal.get("a").state).toBe("draining");
    expect(lease.release()).toBe(true);
    expect(bal.names).toEqual(["b"]);
    expect(lease.release()).toBe(false);
    expect(catchError(() => bal.release("a"))).toBeInstanceOf(UnknownBackendError);
  });

  it("a lease of a backend that left touches nothing, even the backend now at its index", () => {
    const bal = new Balancer({ backends: ["a", "b", "c"] });
    const l1 = bal.acquire()!; // a
    const l2 = bal.acquire()!; // b
    const l3 = bal.acquire()!; // c
    const l4 = bal.acquire()!; // a
    expect([l1, l2, l3, l4].map((l) => l.backend)).toEqual(["a", "b", "c", "a"]);
    bal.remove("a");
    bal.setActive("a", 0); // leaves now: b moves to index 0
    expect(bal.names).toEqual(["b", "c"]);
    const before = bal.snapshot();
    expect(l1.release()).toBe(false);
    expect(l4.release()).toBe(false);
    expect(bal.snapshot()).toEqual(before);
    expect(l2.release()).toBe(true);
    expect(counts(bal)).toEqual({ b: 0, c: 1 });
  });

  it("a lease from before a remove and re-add under the same name does not touch the new backend", () => {
    const bal = new Balancer({ backends: ["a", "b"] });
    const old = bal.acquire()!;
    expect(old.backend).toBe("a");
    bal.remove("a");
    bal.setActive("a", 0);
    expect(bal.has("a")).toBe(false);
    bal.add("a", { connections: 3 });
    const fresh = bal.acquire({ algorithm: "round-robin" })!;
    expect(bal.names).toEqual(["b", "a"]);
    const before = bal.snapshot();
    expect(old.release()).toBe(false);
    expect(bal.snapshot()).toEqual(before);
    expect(bal.get("a")).toMatchObject({ active: 3 + (fresh.backend === "a" ? 1 : 0), state: "up" });
  });

  it("markUp cancels a removal: the backend stays, its leases release normally", () => {
    const bal = new Balancer({ backends: ["a", "b"] });
    const lease = bal.acquire()!;
    bal.remove("a");
    bal.markDown("a"); // nothing on a draining backend
    expect(bal.get("a").state).toBe("draining");
    bal.markUp("a");
    expect(lease.release()).toBe(true);
    expect(bal.names).toEqual(["a", "b"]);
    expect(bal.get("a")).toMatchObject({ active: 0, state: "up" });
  });

  it("remove of an idle backend is immediate and later indices shift down", () => {
    let now = 0;
    const bal = new Balancer({ backends: ["a", "b", "c"], clock: () => ++now });
    bal.acquire({ algorithm: "round-robin" })!.release(); // a, rr -> 1
    bal.remove("a"); // rr -> 0
    expect(bal.names).toEqual(["b", "c"]);
    expect(bal.acquire({ algorithm: "round-robin" })!.backend).toBe("b");
    expect(bal.acquire({ algorithm: "round-robin" })!.backend).toBe("c");
  });
});

describe("counts near 2^31", () => {
  it("setActive(2^31-1) then acquire and release", () => {
    const bal = new Balancer({ backends: ["big"] });
    bal.setActive("big", MAX);
    const lease = bal.acquire()!;
    expect(bal.get("big")).toMatchObject({ active: 2 ** 31, total: 1 });
    const second = bal.acquire()!;
    expect(bal.active("big")).toBe(2 ** 31 + 1);
    expect(lease.release()).toBe(true);
    bal.release("big");
    expect(bal.active("big")).toBe(MAX);
    expect(second.release()).toBe(true);
    expect(bal.active("big")).toBe(MAX - 1);
  });

  it("setActive above 2^31-1 is refused and changes nothing", () => {
    const bal = new Balancer({ backends: ["big"] });
    bal.setActive("big", MAX);
    const err = catchError(() => bal.setActive("big", 2 ** 31));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toContain("2147483648");
    expect(bal.active("big")).toBe(MAX);
  });

  it("every algorithm orders and compares large counts exactly", () => {
    const backends = [
      { name: "x", connections: MAX, weight: 1_000_000 },
      { name: "y", connections: MAX - 1, weight: 1_000_000 },
      { name: "z", connections: MAX, weight: 999_999 },
    ];
    const bal = new Balancer({ backends, algorithm: "p2c", seed: 3 });
    const model = new Model({ backends, algorithm: "p2c", seed: 3 });
    for (let k = 0; k < 40; k++) {
      for (const alg of ["least-connections", "weighted-least-connections", "power-of-two-choices", "weighted-round-robin"]) {
        const lease = bal.acquire({ algorithm: alg })!;
        const pick = model.acquire(0, alg)!;
        expect(lease.backend).toBe(pick.name);
        if (lease instanceof ChoiceLease) expect([lease.sampled, lease.sampledActive]).toEqual([pick.sampled, pick.sampledActive]);
      }
    }
    expect(bal.snapshot().map((s) => s.active)).toEqual(model.backends.map((b) => b.active));
    expect(bal.snapshot().map((s) => s.active)[0]! > MAX).toBe(true);
  });
});

// ---- errors ----

function catchError(f: () => unknown): LeastconnError {
  try {
    f();
  } catch (e) {
    if (e instanceof LeastconnError) return e;
    throw new Error(`expected a LeastconnError, got ${String(e)}`);
  }
  throw new Error("expected a throw");
}

interface ErrorRow {
  title: string;
  call: (bal: Balancer) => unknown;
  type: new (...args: never[]) => LeastconnError;
  code: string;
  field?: string;
  /** The message must contain each of these. */
  says: string[];
}

/** A balancer with history: cursors, smooth weights, the generator and leases in use. */
function busy(): { bal: Balancer; leases: Lease[] } {
  let now = 0;
  const bal = new Balancer({
    backends: [
      "a",
      { name: "b", weight: 3 },
      { name: "c", weight: 2, connections: 1 },
      "d",
      "10",
      "__proto__",
      { name: "idle", weight: 0 },
    ],
    seed: 11,
    tieBreak: "rotate",
    clock: () => ++now,
  });
  const leases: Lease[] = [];
  for (const alg of ["round-robin", "weighted-round-robin", "p2c", "random", "least-connections", "round-robin", "weighted-round-robin"]) {
    leases.push(bal.acquire({ algorithm: alg })!);
  }
  bal.remove("c"); // draining
  bal.markDown("d");
  return { bal, leases };
}

function replay(bal: Balancer): Array<string | null> {
  const out: Array<string | null> = [];
  for (let k = 0; k < 24; k++) {
    const alg = ["round-robin", "weighted-round-robin", "p2c", "random", "least-connections", "weighted-least-connections"][k % 6]!;
    const lease = bal.acquire({ algorithm: alg });
    out.push(lease?.backend ?? null);
    if (k % 4 === 1) lease?.release();
  }
  return out;
}

const ERROR_ROWS: ErrorRow[] = [
  {
    title: "release(name) of an unknown backend",
    call: (b) => b.release("nope"),
    type: UnknownBackendError,
    code: "LC_ERR_UNKNOWN_BACKEND",
    says: ['"nope"'],
  },
  { title: "release(name) at 0", call: (b) => b.release("idle"), type: UnderflowError, code: "LC_ERR_UNDERFLOW", says: ['"idle"'] },
  {
    title: "setActive of an unknown backend",
    call: (b) => b.setActive("x", 1),
    type: UnknownBackendError,
    code: "LC_ERR_UNKNOWN_BACKEND",
    says: ['"x"'],
  },
  {
    title: "setActive -1",
    call: (b) => b.setActive("a", -1),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "active",
    says: ["active must be an integer from 0 to 2147483647, got -1"],
  },
  {
    title: "setActive 0.5",
    call: (b) => b.setActive("a", 0.5),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "active",
    says: ["0.5"],
  },
  {
    title: "setActive 2^31",
    call: (b) => b.setActive("a", 2 ** 31),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "active",
    says: ["2147483648"],
  },
  {
    title: "setActive NaN",
    call: (b) => b.setActive("a", Number.NaN),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "active",
    says: ["NaN"],
  },
  {
    title: 'setActive "3"',
    call: (b) => b.setActive("a", "3" as never),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "active",
    says: ['"3"'],
  },
  {
    title: "setActive 0 on a draining backend is fine, but 2^31 is not",
    call: (b) => b.setActive("c", 2 ** 31),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "active",
    says: ["2147483648"],
  },
  {
    title: "setWeight of an unknown backend",
    call: (b) => b.setWeight("x", 1),
    type: UnknownBackendError,
    code: "LC_ERR_UNKNOWN_BACKEND",
    says: ['"x"'],
  },
  {
    title: "setWeight -1",
    call: (b) => b.setWeight("b", -1),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "weight",
    says: ["weight must be an integer from 0 to 1000000, got -1"],
  },
  {
    title: "setWeight 1.5",
    call: (b) => b.setWeight("b", 1.5),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "weight",
    says: ["1.5"],
  },
  {
    title: "setWeight 1,000,001",
    call: (b) => b.setWeight("b", 1_000_001),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "weight",
    says: ["1000001"],
  },
  {
    title: "setWeight Infinity",
    call: (b) => b.setWeight("b", Infinity),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "weight",
    says: ["Infinity"],
  },
  { title: "add a duplicate", call: (b) => b.add("a"), type: DuplicateBackendError, code: "LC_ERR_DUPLICATE_BACKEND", says: ['"a"'] },
  {
    title: "add a duplicate of a draining backend",
    call: (b) => b.add("c"),
    type: DuplicateBackendError,
    code: "LC_ERR_DUPLICATE_BACKEND",
    says: ['"c"'],
  },
  {
    title: "add a duplicate __proto__",
    call: (b) => b.add("__proto__"),
    type: DuplicateBackendError,
    code: "LC_ERR_DUPLICATE_BACKEND",
    says: ['"__proto__"'],
  },
  {
    title: 'add ""',
    call: (b) => b.add(""),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backend",
    says: ['backend must be a non-empty string, got ""'],
  },
  {
    title: "add 5",
    call: (b) => b.add(5 as never),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backend",
    says: ["backend must be a non-empty string, got 5"],
  },
  {
    title: "add with weight -2",
    call: (b) => b.add("e", { weight: -2 }),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "weight",
    says: ["-2"],
  },
  {
    title: "add with connections 2^31",
    call: (b) => b.add("e", { connections: 2 ** 31 }),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "connections",
    says: ["2147483648"],
  },
  {
    title: "remove an unknown backend",
    call: (b) => b.remove("nope"),
    type: UnknownBackendError,
    code: "LC_ERR_UNKNOWN_BACKEND",
    says: ['"nope"'],
  },
  {
    title: "markDown an unknown backend",
    call: (b) => b.markDown("nope"),
    type: UnknownBackendError,
    code: "LC_ERR_UNKNOWN_BACKEND",
    says: ['"nope"'],
  },
  {
    title: "markUp an unknown backend",
    call: (b) => b.markUp("constructor"),
    type: UnknownBackendError,
    code: "LC_ERR_UNKNOWN_BACKEND",
    says: ['"constructor"'],
  },
  {
    title: "get an unknown backend",
    call: (b) => b.get("toString"),
    type: UnknownBackendError,
    code: "LC_ERR_UNKNOWN_BACKEND",
    says: ['"toString"'],
  },
  {
    title: "active of an unknown backend",
    call: (b) => b.active("1"),
    type: UnknownBackendError,
    code: "LC_ERR_UNKNOWN_BACKEND",
    says: ['"1"'],
  },
  {
    title: "acquire with an unknown algorithm",
    call: (b) => b.acquire({ algorithm: "fastest" }),
    type: UnknownAlgorithmError,
    code: "LC_ERR_UNKNOWN_ALGORITHM",
    says: ['"fastest"'],
  },
  {
    title: "acquire with algorithm __proto__",
    call: (b) => b.acquire({ algorithm: "__proto__" }),
    type: UnknownAlgorithmError,
    code: "LC_ERR_UNKNOWN_ALGORITHM",
    says: ['"__proto__"'],
  },
  {
    title: "acquire with a non-string algorithm",
    call: (b) => b.acquire({ algorithm: 4 as never }),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "algorithm",
    says: ["algorithm must be a string, got 4"],
  },
  {
    title: "set an unknown default algorithm",
    call: (b) => {
      b.algorithm = "least connections";
    },
    type: UnknownAlgorithmError,
    code: "LC_ERR_UNKNOWN_ALGORITHM",
    says: ['"least connections"'],
  },
  // Names are non-empty strings: a non-string is a bad value, not a name to look up.
  {
    title: "markDown(10), a number where a name must be",
    call: (b) => b.markDown(10 as never),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    says: ["10"],
  },
  {
    title: "setActive(undefined, 1)",
    call: (b) => b.setActive(undefined as never, 1),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    says: ["backend must be a non-empty string, got nothing"],
  },
  // Bad option objects are bad values too.
  {
    title: "add with options null",
    call: (b) => b.add("e", null as never),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    says: ["null"],
  },
  {
    title: 'add with options "heavy"',
    call: (b) => b.add("e", "heavy" as never),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    says: ['"heavy"'],
  },
  {
    title: 'acquire("p2c"), a string where options must be',
    call: (b) => b.acquire("p2c" as never),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    says: ['"p2c"'],
  },
  // Resilience calls.
  {
    title: "setMaxConnections 0",
    call: (b) => b.setMaxConnections("a", 0),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "maxConnections",
    says: ["maxConnections must be an integer from 1 to 2147483647, got 0"],
  },
  {
    title: "setMaxConnections of an unknown backend",
    call: (b) => b.setMaxConnections("nope", 3),
    type: UnknownBackendError,
    code: "LC_ERR_UNKNOWN_BACKEND",
    says: ['"nope"'],
  },
  {
    title: "add with maxConnections 1.5",
    call: (b) => b.add("e", { maxConnections: 1.5 }),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "maxConnections",
    says: ["1.5"],
  },
  {
    title: "release(name, { ok: 1 })",
    call: (b) => b.release("a", { ok: 1 as never }),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "ok",
    says: ["ok must be a boolean, got 1"],
  },
  {
    title: 'release(name, "ok")',
    call: (b) => b.release("a", "ok" as never),
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "options",
    says: ['"ok"'],
  },
];

describe("every error: class, code, field, message; and a throwing call changes nothing", () => {
  for (const row of ERROR_ROWS) {
    it(row.title, () => {
      const { bal } = busy();
      const twin = busy().bal;
      expect(bal.snapshot()).toEqual(twin.snapshot());
      const before = bal.snapshot();
      const algorithm = bal.algorithm;
      const err = catchError(() => row.call(bal));
      expect(err).toBeInstanceOf(row.type);
      expect(err.code).toBe(row.code);
      expect(err.name).toBe(row.type.name);
      if (row.field !== undefined) expect((err as InvalidArgumentError).field).toBe(row.field);
      for (const s of row.says) expect(err.message).toContain(s);
      expect(bal.snapshot()).toEqual(before);
      expect(bal.algorithm).toBe(algorithm);
      // hidden state too: the same picks as a twin that never saw the call
      expect(replay(bal)).toEqual(replay(twin));
      expect(bal.snapshot()).toEqual(twin.snapshot());
    });
  }
});

interface CtorRow {
  title: string;
  options: unknown;
  type: new (...args: never[]) => LeastconnError;
  code: string;
  field?: string;
  says: string[];
}

const CTOR_ROWS: CtorRow[] = [
  {
    title: "duplicate names",
    options: { backends: ["a", "b", "a"] },
    type: DuplicateBackendError,
    code: "LC_ERR_DUPLICATE_BACKEND",
    says: ['"a"'],
  },
  {
    title: "duplicate names in specs",
    options: { backends: ["10", { name: "10", weight: 2 }] },
    type: DuplicateBackendError,
    code: "LC_ERR_DUPLICATE_BACKEND",
    says: ['"10"'],
  },
  {
    title: "an empty name",
    options: { backends: ["a", ""] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends[1]",
    says: ['""'],
  },
  {
    title: "a number as a backend",
    options: { backends: [7] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends[0]",
    says: ["7"],
  },
  {
    title: "null as a backend",
    options: { backends: [null] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends[0]",
    says: ["null"],
  },
  {
    title: "a spec without a name",
    options: { backends: [{ weight: 2 }] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends[0].name",
    says: ["backends[0].name: a backend name must be a non-empty string, got nothing"],
  },
  {
    title: "weight 1,000,001",
    options: { backends: [{ name: "a", weight: 1_000_001 }] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends[0].weight",
    says: ["1000001"],
  },
  {
    title: 'weight "2"',
    options: { backends: ["x", { name: "a", weight: "2" }] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends[1].weight",
    says: ['"2"'],
  },
  {
    title: "connections -1",
    options: { backends: [{ name: "a", connections: -1 }] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends[0].connections",
    says: ["-1"],
  },
  {
    title: "connections 2^31",
    options: { backends: [{ name: "a", connections: 2 ** 31 }] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends[0].connections",
    says: ["2147483648"],
  },
  {
    title: "backends not an array",
    options: { backends: "a,b" },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends",
    says: ['"a,b"'],
  },
  { title: "seed -1", options: { seed: -1 }, type: InvalidArgumentError, code: "LC_ERR_INVALID_ARGUMENT", field: "seed", says: ["-1"] },
  { title: "seed 1.5", options: { seed: 1.5 }, type: InvalidArgumentError, code: "LC_ERR_INVALID_ARGUMENT", field: "seed", says: ["1.5"] },
  {
    title: "seed 2^53",
    options: { seed: 2 ** 53 },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "seed",
    says: ["9007199254740992"],
  },
  { title: 'seed "1"', options: { seed: "1" }, type: InvalidArgumentError, code: "LC_ERR_INVALID_ARGUMENT", field: "seed", says: ['"1"'] },
  {
    title: "unknown algorithm",
    options: { algorithm: "fastest" },
    type: UnknownAlgorithmError,
    code: "LC_ERR_UNKNOWN_ALGORITHM",
    says: ['"fastest"'],
  },
  {
    title: "algorithm constructor",
    options: { algorithm: "constructor" },
    type: UnknownAlgorithmError,
    code: "LC_ERR_UNKNOWN_ALGORITHM",
    says: ['"constructor"'],
  },
  {
    title: 'tieBreak "random"',
    options: { tieBreak: "random" },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "tieBreak",
    says: ['"random"'],
  },
  {
    title: "clock not a function",
    options: { clock: 5 },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "clock",
    says: ["5"],
  },
  {
    title: "options null",
    options: null,
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "options",
    says: ["options must be an object, got null"],
  },
  {
    title: "backends null",
    options: { backends: null },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends",
    says: ["backends must be an array of names or {name, weight, connections} objects, got null"],
  },
  {
    title: "algorithm 5",
    options: { algorithm: 5 },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "algorithm",
    says: ["algorithm must be a string, got 5"],
  },
  // Resilience options: every bad value names its field.
  {
    title: "maxConnections 0",
    options: { backends: [{ name: "a", maxConnections: 0 }] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends[0].maxConnections",
    says: ["backends[0].maxConnections: a connection limit must be an integer from 1 to 2147483647, got 0"],
  },
  {
    title: "maxConnections 2^31",
    options: { backends: [{ name: "a", maxConnections: 2 ** 31 }] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "backends[0].maxConnections",
    says: ["2147483648"],
  },
  {
    title: "queue not an object",
    options: { queue: 5 },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "queue",
    says: ["queue must be an object, got 5"],
  },
  {
    title: "queue.limit -1",
    options: { queue: { limit: -1 } },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "queue.limit",
    says: ["queue.limit must be an integer from 0 to 2147483647, got -1"],
  },
  {
    title: "queue.timeoutMs 1.5",
    options: { queue: { timeoutMs: 1.5 } },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "queue.timeoutMs",
    says: ["1.5"],
  },
  {
    title: "ejection []",
    options: { ejection: [] },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "ejection",
    says: ["an array"],
  },
  {
    title: "ejection.consecutiveFailures 0",
    options: { ejection: { consecutiveFailures: 0 } },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "ejection.consecutiveFailures",
    says: ["0"],
  },
  {
    title: "ejection.baseMs 0",
    options: { ejection: { baseMs: 0 } },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "ejection.baseMs",
    says: ["from 1 to"],
  },
  {
    title: "ejection.maxMs below baseMs",
    options: { ejection: { baseMs: 500, maxMs: 499 } },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "ejection.maxMs",
    says: ["ejection.maxMs must be an integer from 500 to 2147483647, got 499"],
  },
  {
    title: "ejection.maxPercent 101",
    options: { ejection: { maxPercent: 101 } },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "ejection.maxPercent",
    says: ["101"],
  },
  {
    title: "slowStart without windowMs",
    options: { slowStart: {} },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "slowStart.windowMs",
    says: ["got nothing"],
  },
  {
    title: "slowStart.minPercent 0",
    options: { slowStart: { windowMs: 10, minPercent: 0 } },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "slowStart.minPercent",
    says: ["from 1 to 100"],
  },
  {
    title: 'decayMs "10s"',
    options: { decayMs: "10s" },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "decayMs",
    says: ['"10s"'],
  },
  {
    title: "decayMs NaN",
    options: { decayMs: Number.NaN },
    type: InvalidArgumentError,
    code: "LC_ERR_INVALID_ARGUMENT",
    field: "decayMs",
    says: ["NaN"],
  },
];

describe("constructor errors", () => {
  for (const row of CTOR_ROWS) {
    it(row.title, () => {
      const err = catchError(() => new Balancer(row.options as BalancerOptions));
      expect(err).toBeInstanceOf(row.type);
      expect(err.code).toBe(row.code);
      if (row.field !== undefined) expect((err as InvalidArgumentError).field).toBe(row.field);
      for (const s of row.says) expect(err.message).toContain(s);
    });
  }

  it("seed 2^53-1 and weight 1,000,000 and connections 2^31-1 are the accepted maxima", () => {
    const bal = new Balancer({ backends: [{ name: "a", weight: 1_000_000, connections: MAX }], seed: Number.MAX_SAFE_INTEGER });
    expect(bal.get("a")).toMatchObject({ weight: 1_000_000, active: MAX });
  });
});

describe("listeners that call back in", () => {
  it("get() of a backend that its own tick removes (a listener on its recovery) throws UnknownBackendError, not another's counters", () => {
    let t = 0;
    const lb = new Balancer({ backends: ["a", "b"], ejection: { consecutiveFailures: 1, baseMs: 100 }, clock: () => t });
    lb.acquire()!.release({ ok: false }); // "a" ejected until 100
    const held = lb.acquire()!; // "b"
    lb.addEventListener("statechange", (e) => {
      if (e.reason === "recovered" && e.backend === "a") lb.remove("a");
    });
    t = 100;
    expect(() => lb.get("a")).toThrow(UnknownBackendError);
    expect(lb.names).toEqual(["b"]);
    expect(lb.get("b").active).toBe(1);
    held.release();
    expect(lb.get("b").active).toBe(0);
  });
});

describe("a caller's broken clock or signal loses no count", () => {
  it("a clock that throws while a lease is released leaves the lease held, to be released again", () => {
    for (const [algorithm, options] of [
      ["peak-ewma", undefined],
      ["least-connections", { ok: false }],
    ] as const) {
      let boom = false;
      const bal = new Balancer({
        backends: ["a"],
        algorithm,
        clock: () => {
          if (boom) {
            boom = false;
            throw new Error("clock broke");
          }
          return 5;
        },
      });
      const lease = bal.acquire()!;
      boom = true;
      expect(() => lease.release(options)).toThrow("clock broke");
      expect([lease.released, bal.get("a").active]).toEqual([false, 1]);
      expect(lease.release(options)).toBe(true);
      expect(bal.get("a").active).toBe(0);
    }
  });

  it("a clock reading that is not a finite number is an InvalidArgumentError, before anything changes; ejections still end", () => {
    let t = 0;
    const bal = new Balancer({ backends: ["a", "b"], ejection: { consecutiveFailures: 1, baseMs: 1000 }, clock: () => t });
    const lease = bal.acquire()!;
    const refused = { code: "LC_ERR_INVALID_ARGUMENT", field: "clock" };
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, "12" as unknown as number]) {
      t = bad;
      // Before, a NaN here became the ejection's end and the next due time: "a" stayed ejected for good.
      expect(() => lease.release({ ok: false })).toThrow(expect.objectContaining(refused));
      expect(() => bal.acquire()).toThrow(expect.objectContaining(refused));
      expect(() => bal.tick()).toThrow(expect.objectContaining(refused));
      expect(() => bal.markUp("b")).not.toThrow(); // up already: no reading
    }
    expect(() => bal.acquire()).toThrow(/clock must be a function returning milliseconds, got "12"/);
    expect([lease.released, bal.get("a").active, bal.get("a").state]).toEqual([false, 1, "up"]);
    t = 10;
    expect(lease.release({ ok: false })).toBe(true);
    expect(bal.get("a")).toMatchObject({ active: 0, state: "ejected", ejectedUntil: 1010 });
    t = Number.NaN;
    expect(() => bal.snapshot()).toThrow(expect.objectContaining(refused));
    t = 1010;
    expect(bal.get("a").state).toBe("up");
  });

  it("acquireAsync whose clock reading is refused leaves no listener on its signal", async () => {
    let t = 0;
    const lb = new Balancer({ backends: ["a"], clock: () => t });
    const listeners = new Set<unknown>();
    const signal = {
      aborted: false,
      addEventListener: (_type: string, fn: unknown) => void listeners.add(fn),
      removeEventListener: (_type: string, fn: unknown) => void listeners.delete(fn),
    } as unknown as AbortSignal;
    t = Number.NaN;
    await expect(lb.acquireAsync({ signal })).rejects.toMatchObject({ code: "LC_ERR_INVALID_ARGUMENT", field: "clock" });
    expect(listeners.size).toBe(0);
    t = 0;
    (await lb.acquireAsync({ signal })).release();
    expect([listeners.size, lb.get("a").active]).toEqual([0, 0]);
  });

  it("add, markUp of a draining backend and the setters with a waiter read the clock before any change", async () => {
    let t = 0;
    const refused = { code: "LC_ERR_INVALID_ARGUMENT", field: "clock" };
    const lb = new Balancer({ backends: [{ name: "a", maxConnections: 1 }], clock: () => t });
    t = Number.NaN;
    expect(() => lb.add("b")).toThrow(expect.objectContaining(refused));
    t = 0;
    expect(lb.names).toEqual(["a"]);
    const held = lb.acquire()!;
    lb.remove("a");
    t = Number.NaN;
    expect(() => lb.markUp("a")).toThrow(expect.objectContaining(refused));
    t = 0;
    // The removal still stands: the last release takes "a" out of the table.
    const drained = lb.drained("a");
    expect(held.release()).toBe(true);
    await drained;
    expect(lb.names).toEqual([]);

    const lb2 = new Balancer({ backends: [{ name: "x", maxConnections: 1 }], clock: () => t });
    const h = lb2.acquire()!;
    const waiter = lb2.acquireAsync({ timeoutMs: 1000 });
    t = Number.NaN;
    expect(() => lb2.setMaxConnections("x", 5)).toThrow(expect.objectContaining(refused));
    expect(() => lb2.setWeight("x", 3)).toThrow(expect.objectContaining(refused));
    expect(() => lb2.setActive("x", 0)).toThrow(expect.objectContaining(refused));
    t = 0;
    expect(lb2.get("x")).toMatchObject({ maxConnections: 1, weight: 1, active: 1 });
    expect(lb2.snapshot().queue.length).toBe(1);
    lb2.setMaxConnections("x", 2); // frees a slot: the waiter gets it now
    const lease = await waiter;
    expect(lb2.get("x").active).toBe(2);
    h.release();
    lease.release();
    expect(lb2.get("x").active).toBe(0);
  });

  it("a clock that throws right after a waiter queues leaves no waiter and no count; in the wake timer it ends nothing", async () => {
    let reads = 0;
    let failAt = -1;
    let broken = false;
    const clock = (): number => {
      reads++;
      if (broken || reads === failAt) throw new Error("clock broke");
      return Date.now();
    };
    const bal = new Balancer({
      backends: [{ name: "a", maxConnections: 1 }, "b"],
      ejection: { consecutiveFailures: 1, baseMs: 20 },
      clock,
    });
    const held = bal.acquire()!;
    bal.acquire()!.release({ ok: false }); // "b" ejected for 20 ms: the queue's wake timer arms
    expect(bal.get("b").state).toBe("ejected");
    // The read after the one that queues it: before, armWake read the clock
    // there, so the waiter stayed queued after acquireAsync rejected, and
    // took the next free slot for good.
    failAt = reads + 2;
    const waiting = bal.acquireAsync({ timeoutMs: 200 });
    failAt = -1;
    expect(bal.snapshot().queue.length).toBe(1);
    // The wake timer fires at ~20 ms on a clock that throws: nothing ends, nothing crashes.
    broken = true;
    await new Promise((r) => setTimeout(r, 60));
    broken = false;
    // The next reading ends the ejection and serves the waiter.
    bal.tick();
    const lease = await waiting;
    expect(lease.backend).toBe("b");
    expect(bal.snapshot().map((b) => b.active)).toEqual([1, 1]);
    expect(held.release()).toBe(true);
    expect(lease.release()).toBe(true);
    expect(bal.snapshot().map((b) => b.active)).toEqual([0, 0]);
  });

  it("a signal-like whose addEventListener or removeEventListener throws leaves no waiter and no count", async () => {
    const bal = new Balancer({ backends: [{ name: "a", maxConnections: 1 }] });
    const held = bal.acquire()!;
    const noAdd = {
      aborted: false,
      addEventListener: () => {
        throw new Error("no add");
      },
      removeEventListener: () => {},
    };
    await expect(bal.acquireAsync({ signal: noAdd as unknown as AbortSignal })).rejects.toThrow("no add");
    held.release(); // with a waiter left behind, it would take this slot and no one would ever release it
    expect(bal.get("a").active).toBe(0);
    const again = bal.acquire()!;
    const noRemove = {
      aborted: false,
      addEventListener: () => {},
      removeEventListener: () => {
        throw new Error("no remove");
      },
    };
    const waiting = bal.acquireAsync({ signal: noRemove as unknown as AbortSignal });
    again.release(); // hands the slot to the waiter: its cleanup throws, the lease still arrives
    const lease = await waiting;
    expect(bal.get("a").active).toBe(1);
    lease.release();
    expect(bal.get("a").active).toBe(0);
  });
});
