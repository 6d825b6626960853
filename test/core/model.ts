// The reference model of the core, in plain TypeScript, written from the
// specification (the brief's semantics and PROTOCOL.md), not from the core.
// It is deliberately naive: linear scans, BigInt arithmetic for the
// generator and the slow-start ramp, no caches, so that it is easy to check
// by reading. The tests compare the Wasm-backed Balancer against it step by
// step.
//
// Resilience (docs/CORE.md): per-backend limits, one FIFO queue of waiters
// served on every event that can free a slot, outcomes and passive ejection
// with its cap, and the slow-start ramp refreshed on a coarse step. Time-
// driven changes happen where the Balancer looks at its clock: acquire,
// enqueue, tick and snapshot. peak-ewma is not modelled (its costs are
// floating point; test/core/algorithms.test.ts checks it against exact rows).

export type State = "up" | "down" | "draining" | "ejected";

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
/** A count that cannot grow any more (unreachable in practice); also "no limit". */
const FULL = 2 ** 32 - 1;
/** A ramp of RAMP_ONE is full weight. */
export const RAMP_ONE = 1024;

export type ErrorCode =
  | "LC_ERR_UNKNOWN_BACKEND"
  | "LC_ERR_DUPLICATE_BACKEND"
  | "LC_ERR_INVALID_ARGUMENT"
  | "LC_ERR_UNKNOWN_ALGORITHM"
  | "LC_ERR_UNDERFLOW"
  | "LC_ERR_QUEUE_FULL"
  | "LC_ERR_UNAVAILABLE";

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
  /** Most active requests; FULL: no limit. */
  limit: number;
  /** Slow-start ramp, 1..RAMP_ONE. */
  ramp: number;
  rampStart: number;
  failures: number;
  ejections: number;
  ejectedUntil: number | null;
}

export interface ModelEjection {
  consecutiveFailures: number;
  baseMs: number;
  maxMs: number;
  maxPercent: number;
}

export interface ModelSlowStart {
  windowMs: number;
  minPercent: number;
}

export interface ModelWaiter {
  id: number;
  algorithm: Algorithm;
}

/** What the queue did: a waiter got a pick, or was refused with a code. */
export type ModelGrant = { id: number; pick: ModelPick };

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

/** The ramp `elapsed` ms into a window (BigInt, exact). */
export function rampAt(cfg: ModelSlowStart, elapsed: number): number {
  if (elapsed >= cfg.windowMs) return RAMP_ONE;
  const e = BigInt(Math.max(0, elapsed));
  const w = BigInt(cfg.windowMs);
  const m = BigInt(cfg.minPercent);
  const r = Number((1024n * (m * w + (100n - m) * e)) / (100n * w));
  return Math.max(1, r);
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
  maxConnections?: number;
}

export interface ModelOptions {
  backends?: ReadonlyArray<string | ModelSpec>;
  algorithm?: string;
  seed?: number;
  tieBreak?: "first" | "rotate";
  /** Valid values only (the misuse tests check validation). */
  queue?: { limit?: number };
  ejection?: Partial<ModelEjection>;
  slowStart?: { windowMs: number; minPercent?: number };
}

const isName = (x: unknown): x is string => typeof x === "string" && x.length > 0;
const isIntIn = (x: unknown, max: number): x is number => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= max;

export class Model {
  backends: ModelBackend[] = [];
  algorithm: Algorithm = "least-connections";
  readonly rotate: boolean;
  /** Round-robin cursor. */
  rr = 0;
  /** Tie-rotation cursor. */
  rot = 0;
  rng: Pcg32;
  queueLimit = 1024;
  ejection: ModelEjection | undefined;
  slowStart: ModelSlowStart | undefined;
  /** Waiters, oldest first. */
  queue: ModelWaiter[] = [];
  /** Grants made since the caller last took them, in order. */
  grants: ModelGrant[] = [];
  /** When ramping backends are next refreshed (Infinity: none pending). */
  nextRampAt = Infinity;

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
      const b = fresh(spec.name, weight, connections);
      if (spec.maxConnections !== undefined) b.limit = spec.maxConnections;
      list.push(b);
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
    if (options.queue?.limit !== undefined) this.queueLimit = options.queue.limit;
    if (options.ejection !== undefined) {
      const e = options.ejection;
      const baseMs = e.baseMs ?? 30_000;
      this.ejection = {
        consecutiveFailures: e.consecutiveFailures ?? 5,
        baseMs,
        maxMs: e.maxMs ?? Math.max(300_000, baseMs),
        maxPercent: e.maxPercent ?? 10,
      };
    }
    if (options.slowStart !== undefined) {
      this.slowStart = { windowMs: options.slowStart.windowMs, minPercent: options.slowStart.minPercent ?? 10 };
    }
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
    return b.state === "up" && b.weight > 0 && b.active < FULL && b.active < b.limit;
  }

  /** The backend at eligible position r or the next routable one after it (cyclically), other than `skip`. */
  private probe(e: number[], r: number, skip: number): number {
    for (let k = 0; k < e.length; k++) {
      const i = e[(r + k) % e.length]!;
      if (i !== skip && this.routable(this.backends[i]!)) return i;
    }
    return -1;
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
    // active/ramp, compared exactly: a1 * r2 < a2 * r1 (below 2^53).
    const less = (x: ModelBackend, y: ModelBackend): boolean => x.active * y.ramp < y.active * x.ramp;
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

  private weightedLeastConnections(): number {
    // a1/(w1*r1) < a2/(w2*r2) exactly, in BigInt.
    const ew = (x: ModelBackend): bigint => BigInt(x.weight) * BigInt(x.ramp);
    const less = (x: ModelBackend, y: ModelBackend): boolean => BigInt(x.active) * ew(y) < BigInt(y.active) * ew(x);
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
      const w = b.ramp === RAMP_ONE ? b.weight : Math.max(1, Math.floor((b.weight * b.ramp) / RAMP_ONE));
      b.cur += w;
      total += w;
      if (best < 0 || b.cur > this.backends[best]!.cur) best = i;
    });
    if (best >= 0) this.backends[best]!.cur -= total;
    return best;
  }

  // A full backend at the drawn position passes the draw on to the next
  // eligible one that can take it.
  private random(): number {
    const e = this.eligible();
    if (e.length === 0) return -1;
    return this.probe(e, this.rng.below(e.length), -1);
  }

  private twoChoices(): { index: number; sampled: number[] } {
    const e = this.eligible();
    if (e.length === 0) return { index: -1, sampled: [] };
    if (e.length === 1) {
      const only = this.probe(e, 0, -1);
      return { index: only, sampled: only < 0 ? [] : [only] };
    }
    const r1 = this.rng.below(e.length);
    let r2 = this.rng.below(e.length - 1);
    if (r2 >= r1) r2++;
    const a = this.probe(e, r1, -1);
    if (a < 0) return { index: -1, sampled: [] };
    const b = this.probe(e, r2, a);
    if (b < 0) return { index: a, sampled: [a] };
    const x = this.backends[a]!;
    const y = this.backends[b]!;
    const ca = x.active * y.ramp;
    const cb = y.active * x.ramp;
    const index = ca !== cb ? (ca < cb ? a : b) : Math.min(a, b);
    return { index, sampled: [a, b] };
  }

  private algorithmOf(algorithm: string | undefined): Algorithm {
    if (algorithm === undefined) return this.algorithm;
    const a = canonicalAlgorithm(algorithm);
    if (a === undefined) throw new ModelError(["LC_ERR_UNKNOWN_ALGORITHM"]);
    return a;
  }

  /** acquire(); `now` is what the clock reads. Null while waiters are queued. */
  acquire(now: number, algorithm?: string): ModelPick | null {
    const alg = this.algorithmOf(algorithm);
    this.advance(now);
    if (this.queue.length > 0) return null;
    return this.pick(now, alg);
  }

  private pick(now: number, alg: Algorithm): ModelPick | null {
    let index: number;
    let sampled: number[] | undefined;
    switch (alg) {
      case "least-connections":
        index = this.leastConnections();
        break;
      case "weighted-least-connections":
        index = this.weightedLeastConnections();
        break;
      case "round-robin":
        index = this.roundRobin();
        break;
      case "weighted-round-robin":
        index = this.smoothWeighted();
        break;
      case "random":
        index = this.random();
        break;
      case "power-of-two-choices":
        ({ index, sampled } = this.twoChoices());
        break;
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

  // ---- the queue ----

  /** acquireAsync() without timers: granted at once, queued (null), or refused with a code. */
  enqueue(now: number, id: number, algorithm?: string): ModelPick | ErrorCode | null {
    const alg = this.algorithmOf(algorithm);
    this.advance(now);
    if (this.queue.length === 0) {
      const pick = this.pick(now, alg);
      if (pick !== null) return pick;
    }
    if (!this.backends.some((b) => b.state === "up" && b.weight > 0)) return "LC_ERR_UNAVAILABLE";
    if (this.queue.length >= this.queueLimit) return "LC_ERR_QUEUE_FULL";
    this.queue.push({ id, algorithm: alg });
    return null;
  }

  /** A waiter gives up (abort, timeout); true if it was still queued. */
  cancel(id: number): boolean {
    const k = this.queue.findIndex((w) => w.id === id);
    if (k < 0) return false;
    this.queue.splice(k, 1);
    return true;
  }

  /** Serves the head of the queue while picks succeed (called where capacity may have come back). */
  private drain(now: number): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const pick = this.pick(now, head.algorithm);
      if (pick === null) return;
      this.queue.shift();
      this.grants.push({ id: head.id, pick });
    }
  }

  /** Takes the grants made so far. */
  takeGrants(): ModelGrant[] {
    const g = this.grants;
    this.grants = [];
    return g;
  }

  // ---- time: ejections end, ramps advance ----

  /** What the Balancer does when it looks at its clock. */
  advance(now: number): void {
    const due = this.backends
      .filter((b) => b.state === "ejected" && b.ejectedUntil! <= now)
      .sort((x, y) => x.ejectedUntil! - y.ejectedUntil! || this.backends.indexOf(x) - this.backends.indexOf(y));
    for (const b of due) {
      b.state = "up";
      b.ejectedUntil = null;
      b.failures = 0;
      this.startRamp(b, now);
    }
    if (now >= this.nextRampAt) {
      let ramping = 0;
      for (const b of this.backends) {
        if (b.ramp === RAMP_ONE) continue;
        b.ramp = rampAt(this.slowStart!, now - b.rampStart);
        if (b.ramp !== RAMP_ONE) ramping++;
      }
      this.nextRampAt = ramping === 0 ? Infinity : now + this.rampStep();
    }
    if (due.length > 0) this.drain(now);
  }

  tick(now: number): void {
    this.advance(now);
  }

  private rampStep(): number {
    return Math.max(1, Math.floor(this.slowStart!.windowMs / 64));
  }

  private startRamp(b: ModelBackend, now: number): void {
    if (this.slowStart === undefined) return;
    const r = rampAt(this.slowStart, 0);
    if (r === RAMP_ONE) return;
    b.ramp = r;
    b.rampStart = now;
    if (this.nextRampAt === Infinity) this.nextRampAt = now + this.rampStep();
  }

  // An outcome: a success ends the run; a failure adds to it and, at the
  // threshold, ejects unless the cap (at most max(1, floor(pool * maxPercent
  // / 100)) out, and one always in) forbids it.
  private outcome(b: ModelBackend, ok: boolean, now: number): void {
    if (ok) {
      b.failures = 0;
      return;
    }
    b.failures++;
    const cfg = this.ejection;
    if (cfg === undefined || b.failures < cfg.consecutiveFailures || b.state !== "up" || b.weight === 0) return;
    const pool = this.backends.filter((x) => x.weight > 0 && (x.state === "up" || x.state === "ejected")).length;
    const out = this.backends.filter((x) => x.weight > 0 && x.state === "ejected").length;
    const cap = Math.max(1, Math.floor((pool * cfg.maxPercent) / 100));
    if (out >= cap || out + 1 >= pool) return;
    b.ejections++;
    const length = Math.min(cfg.baseMs * 2 ** (b.ejections - 1), cfg.maxMs);
    b.ramp = RAMP_ONE;
    b.state = "ejected";
    b.ejectedUntil = now + length;
  }

  /** The weight after the ramp, as snapshot() reports it. */
  effectiveWeight(b: ModelBackend): number {
    if (b.ramp === RAMP_ONE || b.weight === 0) return b.weight;
    return Math.max(1, Math.floor((b.weight * b.ramp) / RAMP_ONE));
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

  releaseLease(lease: ModelLease, ok = true, now = 0): boolean {
    if (lease.released) return false;
    lease.released = true;
    const b = lease.backend;
    if (!this.backends.includes(b)) return false;
    const done = b.active > 0;
    if (done) b.active--;
    this.outcome(b, ok, now);
    this.settle(b);
    if (this.queue.length > 0) this.drain(now);
    return done;
  }

  release(name: string, ok = true, now = 0): void {
    const b = this.find(name);
    if (b.active === 0) throw new ModelError(["LC_ERR_UNDERFLOW"]);
    b.active--;
    this.outcome(b, ok, now);
    this.settle(b);
    if (this.queue.length > 0) this.drain(now);
  }

  setMaxConnections(name: string, limit: number | undefined, now = 0): void {
    const problems: ErrorCode[] = [];
    const b = this.backends.find((x) => x.name === name);
    if (b === undefined) problems.push("LC_ERR_UNKNOWN_BACKEND");
    if (limit !== undefined && !(isIntIn(limit, MAX_ACTIVE) && limit >= 1)) problems.push("LC_ERR_INVALID_ARGUMENT");
    if (problems.length > 0) throw new ModelError(problems);
    b!.limit = limit ?? FULL;
    if (this.queue.length > 0) this.drain(now);
  }

  setActive(name: string, active: number, now = 0): void {
    const problems: ErrorCode[] = [];
    const b = this.backends.find((x) => x.name === name);
    if (b === undefined) problems.push("LC_ERR_UNKNOWN_BACKEND");
    if (!isIntIn(active, MAX_ACTIVE)) problems.push("LC_ERR_INVALID_ARGUMENT");
    if (problems.length > 0) throw new ModelError(problems);
    b!.active = active;
    this.settle(b!);
    if (this.queue.length > 0) this.drain(now);
  }

  add(name: string, options: { weight?: number; connections?: number; maxConnections?: number } = {}, now = 0): void {
    const problems: ErrorCode[] = [];
    if (!isName(name)) problems.push("LC_ERR_INVALID_ARGUMENT");
    const weight = options.weight ?? 1;
    const connections = options.connections ?? 0;
    if (!isIntIn(weight, MAX_WEIGHT) || !isIntIn(connections, MAX_ACTIVE)) problems.push("LC_ERR_INVALID_ARGUMENT");
    const limit = options.maxConnections;
    if (limit !== undefined && !(isIntIn(limit, MAX_ACTIVE) && limit >= 1)) problems.push("LC_ERR_INVALID_ARGUMENT");
    if (this.has(name)) problems.push("LC_ERR_DUPLICATE_BACKEND");
    if (problems.length > 0) throw new ModelError(problems);
    const b = fresh(name, weight, connections);
    if (limit !== undefined) b.limit = limit;
    this.backends.push(b);
    this.startRamp(b, now);
    if (this.queue.length > 0) this.drain(now);
  }

  /** Leaving ejection (by markUp, markDown or remove) forgets it and the run. */
  private leaveEjection(b: ModelBackend): void {
    if (b.state !== "ejected") return;
    b.ejectedUntil = null;
    b.failures = 0;
  }

  remove(name: string): void {
    const b = this.find(name);
    this.leaveEjection(b);
    b.ramp = RAMP_ONE;
    b.state = "draining";
    this.settle(b);
  }

  markDown(name: string): void {
    const b = this.find(name);
    if (b.state === "draining" || b.state === "down") return;
    this.leaveEjection(b);
    b.ramp = RAMP_ONE;
    b.state = "down";
  }

  markUp(name: string, now = 0): void {
    const b = this.find(name);
    const from = b.state;
    if (from === "up") return;
    this.leaveEjection(b);
    b.state = "up";
    // A cancelled removal never left the order: no ramp.
    if (from !== "draining") this.startRamp(b, now);
    if (this.queue.length > 0) this.drain(now);
  }

  setWeight(name: string, weight: number, now = 0): void {
    const problems: ErrorCode[] = [];
    const b = this.backends.find((x) => x.name === name);
    if (b === undefined) problems.push("LC_ERR_UNKNOWN_BACKEND");
    if (!isIntIn(weight, MAX_WEIGHT)) problems.push("LC_ERR_INVALID_ARGUMENT");
    if (problems.length > 0) throw new ModelError(problems);
    b!.weight = weight;
    b!.cur = 0;
    if (this.queue.length > 0) this.drain(now);
  }
}

function fresh(name: string, weight: number, connections: number): ModelBackend {
  return {
    name,
    active: connections,
    total: 0,
    lastUsed: null,
    weight,
    state: "up",
    cur: 0,
    limit: FULL,
    ramp: RAMP_ONE,
    rampStart: 0,
    failures: 0,
    ejections: 0,
    ejectedUntil: null,
  };
}
