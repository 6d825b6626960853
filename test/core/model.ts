// The reference model of the core, in plain TypeScript, written from the
// specification (the brief's semantics and PROTOCOL.md), not from the core.
// It is deliberately naive: linear scans, BigInt arithmetic for the
// generator, no caches, so that it is easy to check by reading. The tests
// compare the Wasm-backed Balancer against it step by step.

export type State = "up" | "down" | "draining";

export const ALGORITHMS = [
  "least-connections",
  "weighted-least-connections",
  "round-robin",
  "weighted-round-robin",
  "power-of-two-choices",
  "random",
] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export const MAX_WEIGHT = 1_000_000;
export const MAX_ACTIVE = 2 ** 31 - 1;
/** A count that cannot grow any more (unreachable in practice). */
const FULL = 2 ** 32 - 1;

export type ErrorCode =
  | "LC_ERR_UNKNOWN_BACKEND"
  | "LC_ERR_DUPLICATE_BACKEND"
  | "LC_ERR_INVALID_ARGUMENT"
  | "LC_ERR_UNKNOWN_ALGORITHM"
  | "LC_ERR_UNDERFLOW";

/** What the model would throw: every code that a correct core may report for the call. */
export class ModelError extends Error {
  constructor(readonly codes: ErrorCode[]) {
    super(`model error: ${codes.join(", ")}`);
  }
}

// ---- the generator: PCG32 ----

const M64 = (x: bigint): bigint => BigInt.asUintN(64, x);
const MULTIPLIER = 6364136223846793005n;
/** PCG's default stream selector; the core's increment is (this << 1) | 1. */
export const DEFAULT_STREAM = 0xda3e39cb94b95bdbn;

export class Pcg32 {
  state = 0n;
  inc = 0n;

  constructor(seed = 0, stream: bigint = DEFAULT_STREAM) {
    this.seed(seed, stream);
  }

  /** pcg32_srandom_r(seed, stream). */
  seed(seed: number | bigint, stream: bigint = DEFAULT_STREAM): void {
    this.state = 0n;
    this.inc = M64((stream << 1n) | 1n);
    this.next();
    this.state = M64(this.state + BigInt(seed));
    this.next();
  }

  next(): number {
    const old = this.state;
    this.state = M64(old * MULTIPLIER + this.inc);
    const xorshifted = Number(BigInt.asUintN(32, ((old >> 18n) ^ old) >> 27n));
    const rot = Number(old >> 59n);
    return ((xorshifted >>> rot) | (xorshifted << (-rot & 31))) >>> 0;
  }

  /** Uniform in [0, n), Lemire's multiply-and-reject, 0 < n < 2^32. */
  below(n: number): number {
    const N = BigInt(n);
    let m = BigInt(this.next()) * N;
    let low = Number(BigInt.asUintN(32, m));
    if (low < n) {
      const threshold = (2 ** 32 - n) % n;
      while (low < threshold) {
        m = BigInt(this.next()) * N;
        low = Number(BigInt.asUintN(32, m));
      }
    }
    return Number(m >> 32n);
  }

  clone(): Pcg32 {
    const c = new Pcg32();
    c.state = this.state;
    c.inc = this.inc;
    return c;
  }
}

// ---- algorithm names ----

const ALIASES: ReadonlyMap<string, Algorithm> = new Map<string, Algorithm>([
  ...ALGORITHMS.map((a): [string, Algorithm] => [a, a]),
  ["leastconn", "least-connections"],
  ["least-conn", "least-connections"],
  ["p2c", "power-of-two-choices"],
]);

/** The canonical name of an algorithm spelling, or undefined. */
export function canonicalAlgorithm(name: unknown): Algorithm | undefined {
  if (typeof name !== "string") return undefined;
  return ALIASES.get(name.toLowerCase().replaceAll("_", "-"));
}

// ---- the table ----

export interface ModelBackend {
  name: string;
  active: number;
  total: number;
  lastUsed: number | null;
  weight: number;
  state: State;
  /** Smooth weighted round-robin current weight. */
  cur: number;
}

export interface ModelSnapshot {
  name: string;
  active: number;
  total: number;
  lastUsed: number | null;
  weight: number;
  state: State;
}

export interface ModelLease {
  readonly backend: ModelBackend;
  released: boolean;
}

export interface ModelPick {
  index: number;
  name: string;
  lease: ModelLease;
  /** power-of-two-choices only: the sampled names in draw order, and their counts before the pick. */
  sampled?: string[];
  sampledActive?: number[];
}

export interface ModelSpec {
  name: string;
  weight?: number;
  connections?: number;
}

export interface ModelOptions {
  backends?: ReadonlyArray<string | ModelSpec>;
  algorithm?: string;
  seed?: number;
  tieBreak?: "first" | "rotate";
}

const isName = (x: unknown): x is string => typeof x === "string" && x.length > 0;
const isIntIn = (x: unknown, max: number): x is number =>
  typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= max;

export class Model {
  backends: ModelBackend[] = [];
  algorithm: Algorithm = "least-connections";
  readonly rotate: boolean;
  /** Round-robin cursor. */
  rr = 0;
  /** Tie-rotation cursor. */
  rot = 0;
  rng: Pcg32;

  constructor(options: ModelOptions = {}) {
    const problems: ErrorCode[] = [];
    const seen = new Set<string>();
    const list: ModelBackend[] = [];
    for (const item of options.backends ?? []) {
      const spec: ModelSpec = typeof item === "string" ? { name: item } : item;
      if (!isName(spec.name)) problems.push("LC_ERR_INVALID_ARGUMENT");
      const weight = spec.weight ?? 1;
      const connections = spec.connections ?? 0;
      if (!isIntIn(weight, MAX_WEIGHT) || !isIntIn(connections, MAX_ACTIVE)) problems.push("LC_ERR_INVALID_ARGUMENT");
      if (seen.has(spec.name)) problems.push("LC_ERR_DUPLICATE_BACKEND");
      seen.add(spec.name);
      list.push(fresh(spec.name, weight, connections));
    }
    if (options.algorithm !== undefined) {
      const alg = canonicalAlgorithm(options.algorithm);
      if (alg === undefined) problems.push("LC_ERR_UNKNOWN_ALGORITHM");
      else this.algorithm = alg;
    }
    const seed = options.seed ?? 0;
    if (!isIntIn(seed, Number.MAX_SAFE_INTEGER)) problems.push("LC_ERR_INVALID_ARGUMENT");
    const tie = options.tieBreak ?? "first";
    if (tie !== "first" && tie !== "rotate") problems.push("LC_ERR_INVALID_ARGUMENT");
    if (problems.length > 0) throw new ModelError(problems);
    this.backends = list;
    this.rotate = tie === "rotate";
    this.rng = new Pcg32(seed);
  }

  get names(): string[] {
    return this.backends.map((b) => b.name);
  }

  indexOf(name: string): number {
    return this.backends.findIndex((b) => b.name === name);
  }

  has(name: string): boolean {
    return this.indexOf(name) >= 0;
  }

  snapshot(): ModelSnapshot[] {
    return this.backends.map(({ name, active, total, lastUsed, weight, state }) => ({
      name,
      active,
      total,
      lastUsed,
      weight,
      state,
    }));
  }

  setAlgorithm(name: string): void {
    const alg = canonicalAlgorithm(name);
    if (alg === undefined) throw new ModelError(["LC_ERR_UNKNOWN_ALGORITHM"]);
    this.algorithm = alg;
  }

  // ---- picking ----

  private routable(b: ModelBackend): boolean {
    return b.state === "up" && b.weight > 0 && b.active < FULL;
  }

  /** Indices of the backends with state up and weight > 0, in order. */
  eligible(): number[] {
    const out: number[] = [];
    const list = this.backends;
    for (let i = 0; i < list.length; i++) {
      const b = list[i]!;
      if (b.state === "up" && b.weight > 0) out.push(i);
    }
    return out;
  }

  /** Among tied indices (ascending), the one the tie rule picks. */
  private breakTie(tied: number[]): number {
    if (this.rotate) {
      const after = tied.find((i) => i >= this.rot);
      if (after !== undefined) return after;
    }
    return tied[0]!;
  }

  private leastConnections(): number {
    const list = this.backends;
    let min = Infinity;
    for (const b of list) if (this.routable(b) && b.active < min) min = b.active;
    const tied: number[] = [];
    for (let i = 0; i < list.length; i++) if (this.routable(list[i]!) && list[i]!.active === min) tied.push(i);
    return tied.length === 0 ? -1 : this.breakTie(tied);
  }

  private weightedLeastConnections(): number {
    // a1/w1 < a2/w2 exactly: both products stay below 2^53.
    const less = (x: ModelBackend, y: ModelBackend): boolean => x.active * y.weight < y.active * x.weight;
    const list = this.backends;
    let best: ModelBackend | undefined;
    for (const b of list) if (this.routable(b) && (best === undefined || less(b, best))) best = b;
    if (best === undefined) return -1;
    const tied: number[] = [];
    for (let i = 0; i < list.length; i++) {
      const b = list[i]!;
      if (this.routable(b) && !less(b, best) && !less(best, b)) tied.push(i);
    }
    return this.breakTie(tied);
  }

  private roundRobin(): number {
    const n = this.backends.length;
    for (let i = this.rr; i < n; i++) if (this.routable(this.backends[i]!)) return (this.rr = i + 1) - 1;
    for (let i = 0; i < n; i++) if (this.routable(this.backends[i]!)) return (this.rr = i + 1) - 1;
    return -1;
  }

  private smoothWeighted(): number {
    let best = -1;
    let total = 0;
    this.backends.forEach((b, i) => {
      if (!this.routable(b)) return;
      b.cur += b.weight;
      total += b.weight;
      if (best < 0 || b.cur > this.backends[best]!.cur) best = i;
    });
    if (best >= 0) this.backends[best]!.cur -= total;
    return best;
  }

  private random(): number {
    const e = this.eligible();
    if (e.length === 0) return -1;
    return e[this.rng.below(e.length)]!;
  }

  private twoChoices(): { index: number; sampled: number[] } {
    const e = this.eligible();
    if (e.length === 0) return { index: -1, sampled: [] };
    if (e.length === 1) return { index: e[0]!, sampled: [e[0]!] };
    const r1 = this.rng.below(e.length);
    let r2 = this.rng.below(e.length - 1);
    if (r2 >= r1) r2++;
    const a = e[r1]!;
    const b = e[r2]!;
    const ca = this.backends[a]!.active;
    const cb = this.backends[b]!.active;
    const index = ca !== cb ? (ca < cb ? a : b) : Math.min(a, b);
    return { index, sampled: [a, b] };
  }

  /** acquire(); `now` is what the clock reads. */
  acquire(now: number, algorithm?: string): ModelPick | null {
    let alg = this.algorithm;
    if (algorithm !== undefined) {
      const a = canonicalAlgorithm(algorithm);
      if (a === undefined) throw new ModelError(["LC_ERR_UNKNOWN_ALGORITHM"]);
      alg = a;
    }
    let index: number;
    let sampled: number[] | undefined;
    switch (alg) {
      case "least-connections": index = this.leastConnections(); break;
      case "weighted-least-connections": index = this.weightedLeastConnections(); break;
      case "round-robin": index = this.roundRobin(); break;
      case "weighted-round-robin": index = this.smoothWeighted(); break;
      case "random": index = this.random(); break;
      case "power-of-two-choices": ({ index, sampled } = this.twoChoices()); break;
    }
    if (index < 0) return null;
    const sampledActive = sampled?.map((s) => this.backends[s]!.active);
    const b = this.backends[index]!;
    b.active += 1;
    b.total += 1;
    b.lastUsed = now;
    if (this.rotate) this.rot = index + 1;
    const pick: ModelPick = { index, name: b.name, lease: { backend: b, released: false } };
    if (sampled !== undefined) {
      pick.sampled = sampled.map((s) => this.backends[s]!.name);
      pick.sampledActive = sampledActive!;
    }
    return pick;
  }

  // ---- counts, membership, health ----

  private find(name: unknown): ModelBackend {
    const b = this.backends.find((x) => x.name === name);
    if (b === undefined) throw new ModelError(["LC_ERR_UNKNOWN_BACKEND"]);
    return b;
  }

  /** The backend leaves if it is draining with no active connection. */
  private settle(b: ModelBackend): void {
    if (b.state !== "draining" || b.active !== 0) return;
    const i = this.backends.indexOf(b);
    this.backends.splice(i, 1);
    if (this.rr > i) this.rr--;
    if (this.rot > i) this.rot--;
  }

  releaseLease(lease: ModelLease): boolean {
    if (lease.released) return false;
    lease.released = true;
    const b = lease.backend;
    if (!this.backends.includes(b) || b.active === 0) return false;
    b.active--;
    this.settle(b);
    return true;
  }

  release(name: string): void {
    const b = this.find(name);
    if (b.active === 0) throw new ModelError(["LC_ERR_UNDERFLOW"]);
    b.active--;
    this.settle(b);
  }

  setActive(name: string, active: number): void {
    const problems: ErrorCode[] = [];
    const b = this.backends.find((x) => x.name === name);
    if (b === undefined) problems.push("LC_ERR_UNKNOWN_BACKEND");
    if (!isIntIn(active, MAX_ACTIVE)) problems.push("LC_ERR_INVALID_ARGUMENT");
    if (problems.length > 0) throw new ModelError(problems);
    b!.active = active;
    this.settle(b!);
  }

  add(name: string, options: { weight?: number; connections?: number } = {}): void {
    const problems: ErrorCode[] = [];
    if (!isName(name)) problems.push("LC_ERR_INVALID_ARGUMENT");
    const weight = options.weight ?? 1;
    const connections = options.connections ?? 0;
    if (!isIntIn(weight, MAX_WEIGHT) || !isIntIn(connections, MAX_ACTIVE)) problems.push("LC_ERR_INVALID_ARGUMENT");
    if (this.has(name)) problems.push("LC_ERR_DUPLICATE_BACKEND");
    if (problems.length > 0) throw new ModelError(problems);
    this.backends.push(fresh(name, weight, connections));
  }

  remove(name: string): void {
    const b = this.find(name);
    b.state = "draining";
    this.settle(b);
  }

  markDown(name: string): void {
    const b = this.find(name);
    if (b.state !== "draining") b.state = "down";
  }

  markUp(name: string): void {
    this.find(name).state = "up";
  }

  setWeight(name: string, weight: number): void {
    const problems: ErrorCode[] = [];
    const b = this.backends.find((x) => x.name === name);
    if (b === undefined) problems.push("LC_ERR_UNKNOWN_BACKEND");
    if (!isIntIn(weight, MAX_WEIGHT)) problems.push("LC_ERR_INVALID_ARGUMENT");
    if (problems.length > 0) throw new ModelError(problems);
    b!.weight = weight;
    b!.cur = 0;
  }
}

function fresh(name: string, weight: number, connections: number): ModelBackend {
  return { name, active: connections, total: 0, lastUsed: null, weight, state: "up", cur: 0 };
}
