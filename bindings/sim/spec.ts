// The simulator's settings: their types, the text forms the CLI flags and the
// page's permalink share ("exp:1ms", "1:5x", ...), and their validation.
// Times inside the model are integer microseconds.

import { algorithmId } from "../algorithms.js";
import { Balancer, MAX_ACTIVE } from "../balancer.js";
import { InvalidArgumentError } from "../errors.js";

export type Service =
  | { kind: "exp"; meanUs: number }
  | { kind: "fixed"; meanUs: number }
  | { kind: "lognormal"; meanUs: number; sigma: number }
  | { kind: "bimodal"; fastUs: number; slowUs: number; slowFraction: number };

export interface SlowBackend {
  index: number;
  factor: number;
}

export interface FailureWindow {
  index: number;
  startMs: number;
  endMs: number;
}

export interface SimConfig {
  /** Number of backends, 1..1024. */
  backends: number;
  /** Servers per backend (c), default 1. */
  servers?: number;
  /** "fifo" (default): c servers and one queue; "ps": processor sharing over c servers. */
  discipline?: "fifo" | "ps";
  service: Service;
  slow?: SlowBackend[];
  failures?: FailureWindow[];
  /** Open loop: Poisson arrivals at this fraction of the total capacity (0 < U < 1.5). */
  utilization?: number;
  /** Closed loop instead (when above 0): this many clients, each waiting for its reply, then thinking. */
  clients?: number;
  /** Mean think time of a closed-loop client (exponential), default 0. */
  thinkMs?: number;
  /** Core algorithm names (aliases allowed), one simulation each. */
  algorithms: string[];
  /** Requests per algorithm. */
  requests: number;
  seed: number;
  /** K independent balancers, each seeing only its own in-flight counts; default 1. */
  balancers?: number;
  /** The balancers see counts as they were this many milliseconds ago; default 0. */
  staleMs?: number;
  /** The Balancer's tieBreak: "first" (default) or "rotate". */
  tieBreak?: "first" | "rotate";
  /** Every backend's maxConnections in the Balancer; absent: unlimited. */
  maxConnections?: number;
  /** Wait in the Balancer's queue (its _enqueue) when every backend is full, with a timeout in simulated ms; absent: shed at once. */
  queue?: { limit: number; timeoutMs: number };
  /** The Balancer's ejection option (passive ejection of failing backends); absent: off. */
  ejection?: { consecutiveFailures?: number; baseMs?: number; maxMs?: number; maxPercent?: number };
  /** The Balancer's slowStart option (after an ejection ends); absent: off. */
  slowStart?: { windowMs: number; minPercent?: number };
  /** The Balancer's decayMs (peak-ewma); absent: the core's default. */
  decayMs?: number;
}

/** A normalised configuration: every field present and checked. */
export interface ModelConfig
  extends Required<Omit<SimConfig, "utilization" | "clients" | "maxConnections" | "queue" | "ejection" | "slowStart" | "decayMs">>,
    Pick<SimConfig, "maxConnections" | "queue" | "ejection" | "slowStart" | "decayMs"> {
  utilization: number;
  clients: number;
}

/** A bad setting, its message led by the field's name ("service: ..."). */
export function invalid(field: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(field, `${field}: ${message}`);
}

export const MAX_BACKENDS = 1024;
export const MAX_REQUESTS = 100_000_000;
/** Most requests an overloaded open-loop run (utilization above 1) may leave waiting: a few hundred MB. */
export const MAX_BACKLOG = 2_000_000;

/** Parses "20ms", "1.5s", "500us" into integer microseconds. */
export function parseDuration(text: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s)$/.exec(text.trim());
  if (m === null) throw invalid(field, `expected a duration such as 20ms, 500us or 1.5s, got ${JSON.stringify(text)}`);
  const scale = m[2] === "us" ? 1 : m[2] === "ms" ? 1000 : 1_000_000;
  const us = Math.round(Number(m[1]) * scale);
  if (us < 1 || us > 3_600_000_000) throw invalid(field, `must be between 1us and 3600s, got ${JSON.stringify(text)}`);
  return us;
}

function parseNumber(text: string | undefined, field: string, min: number, max: number): number {
  const value = text !== undefined && /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) throw invalid(field, `must be a number in ${min}..${max}, got ${JSON.stringify(text)}`);
  return value;
}

/** Parses exp:1ms | fixed:5ms | lognormal:20ms:1.0 | bimodal:1ms:100ms:0.1. */
export function parseService(text: string): Service {
  const parts = text.trim().split(":");
  const field = "service";
  switch (parts[0]) {
    case "exp":
    case "fixed":
      if (parts.length !== 2) break;
      return { kind: parts[0], meanUs: parseDuration(parts[1]!, field) };
    case "lognormal":
      if (parts.length !== 3) break;
      return { kind: "lognormal", meanUs: parseDuration(parts[1]!, field), sigma: parseNumber(parts[2], "service sigma", 0, 4) };
    case "bimodal":
      if (parts.length !== 4) break;
      return {
        kind: "bimodal",
        fastUs: parseDuration(parts[1]!, field),
        slowUs: parseDuration(parts[2]!, field),
        slowFraction: parseNumber(parts[3], "service fraction", 0, 1),
      };
  }
  throw invalid(field, `expected exp:1ms, fixed:5ms, lognormal:20ms:1.0 or bimodal:1ms:100ms:0.1, got ${JSON.stringify(text)}`);
}

export function formatService(s: Service): string {
  const d = (us: number): string => (us % 1000 === 0 ? `${us / 1000}ms` : `${us}us`);
  switch (s.kind) {
    case "exp":
    case "fixed":
      return `${s.kind}:${d(s.meanUs)}`;
    case "lognormal":
      return `lognormal:${d(s.meanUs)}:${s.sigma}`;
    case "bimodal":
      return `bimodal:${d(s.fastUs)}:${d(s.slowUs)}:${s.slowFraction}`;
  }
}

/** The mean service time in microseconds (before any slow factor). */
export function serviceMeanUs(s: Service): number {
  return s.kind === "bimodal" ? (1 - s.slowFraction) * s.fastUs + s.slowFraction * s.slowUs : s.meanUs;
}

/** Parses "INDEX:FACTORx" (0-based index), e.g. "1:5x". */
export function parseSlow(text: string): SlowBackend {
  const m = /^(\d+):(\d+(?:\.\d+)?)x$/.exec(text.trim());
  if (m === null) throw invalid("slow", `expected INDEX:FACTORx such as 1:5x, got ${JSON.stringify(text)}`);
  return { index: Number(m[1]), factor: Number(m[2]) };
}

/** Parses "INDEX:STARTms-ENDms" (times in milliseconds of simulated time), e.g. "2:1000-3000". */
export function parseFailure(text: string): FailureWindow {
  const m = /^(\d+):(\d+)-(\d+)$/.exec(text.trim());
  if (m === null) throw invalid("fail", `expected INDEX:START-END in ms such as 2:1000-3000, got ${JSON.stringify(text)}`);
  return { index: Number(m[1]), startMs: Number(m[2]), endMs: Number(m[3]) };
}

function int(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(field, `must be an integer ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks a configuration and fills in the defaults. */
export function normalize(config: SimConfig): ModelConfig {
  const backends = int(config.backends, "backends", 1, MAX_BACKENDS);
  const servers = int(config.servers ?? 1, "servers", 1, 1024);
  const discipline = config.discipline ?? "fifo";
  if (discipline !== "fifo" && discipline !== "ps")
    throw invalid("discipline", `must be "fifo" or "ps", got ${JSON.stringify(discipline)}`);
  const slow = (config.slow ?? []).map((s) => {
    int(s.index, "slow index", 0, backends - 1);
    if (!(s.factor >= 0.01 && s.factor <= 10_000)) throw invalid("slow factor", `must be 0.01..10000, got ${s.factor}`);
    return { index: s.index, factor: s.factor };
  });
  const failures = (config.failures ?? []).map((f) => {
    int(f.index, "fail index", 0, backends - 1);
    int(f.startMs, "fail start", 0, 1e9);
    int(f.endMs, "fail end", f.startMs, 1e9);
    return { ...f };
  });
  // 0 (or absent) is the open loop, so a normalised configuration normalises to itself.
  const clients = config.clients === undefined || config.clients === 0 ? 0 : int(config.clients, "clients", 1, 1_000_000);
  let utilization = 0;
  if (clients === 0) {
    utilization = config.utilization ?? 0.7;
    if (typeof utilization !== "number" || !(utilization > 0 && utilization <= 1.5)) {
      throw invalid("utilization", `must be a number in (0, 1.5], got ${JSON.stringify(config.utilization)}`);
    }
  } else if (config.utilization !== undefined && config.utilization !== 0) {
    // (0 is what normalize() itself leaves for a closed loop.)
    throw invalid("utilization", "is for open-loop arrivals; give clients or utilization, not both");
  }
  const thinkMs = config.thinkMs ?? 0;
  if (typeof thinkMs !== "number" || !(thinkMs >= 0 && thinkMs <= 3_600_000))
    throw invalid("thinkMs", `must be 0..3600000, got ${thinkMs}`);
  if (!Array.isArray(config.algorithms) || config.algorithms.length === 0) throw invalid("algorithms", "must name at least one algorithm");
  for (const a of config.algorithms) algorithmId(a);
  const requests = int(config.requests, "requests", 1, MAX_REQUESTS);
  // Above a utilization of 1 the backlog grows by at least 1 - 1/U of the
  // requests, and a run holds it in memory: refused past MAX_BACKLOG rather
  // than run out of memory part way.
  const backlog = utilization > 1 ? Math.ceil(requests * (1 - 1 / utilization)) : 0;
  if (backlog > MAX_BACKLOG) {
    throw invalid(
      "requests",
      `at utilization ${utilization} would leave at least ${backlog} requests waiting in memory (at most ${MAX_BACKLOG}): use at most ${Math.floor(MAX_BACKLOG / (1 - 1 / utilization))} requests, or a utilization of 1 or less`,
    );
  }
  const seed = int(config.seed, "seed", 0, Number.MAX_SAFE_INTEGER);
  const balancers = int(config.balancers ?? 1, "balancers", 1, 1024);
  const staleMs = config.staleMs ?? 0;
  if (typeof staleMs !== "number" || !(staleMs >= 0 && staleMs <= 60_000)) throw invalid("staleMs", `must be 0..60000, got ${staleMs}`);
  const tieBreak = config.tieBreak ?? "first";
  if (tieBreak !== "first" && tieBreak !== "rotate")
    throw invalid("tieBreak", `must be "first" or "rotate", got ${JSON.stringify(tieBreak)}`);
  if (config.maxConnections !== undefined) int(config.maxConnections, "maxConnections", 1, MAX_ACTIVE);
  if (config.queue !== undefined) {
    int(config.queue.limit, "queue limit", 0, 0x7fffffff);
    int(config.queue.timeoutMs, "queue timeout", 0, 0x7fffffff);
  }
  if (staleMs > 0 && (config.maxConnections !== undefined || config.queue !== undefined)) {
    throw invalid("staleMs", "stale counts cannot be combined with maxConnections or a queue (limits apply to the counts a balancer sees)");
  }
  const service = config.service;
  if (service === null || typeof service !== "object") throw invalid("service", "is required");
  parseService(formatService(service)); // re-checks the ranges
  const model: ModelConfig = {
    backends,
    servers,
    discipline,
    service,
    slow,
    failures,
    utilization,
    clients,
    thinkMs,
    algorithms: [...config.algorithms],
    requests,
    seed,
    balancers,
    staleMs,
    tieBreak,
    maxConnections: config.maxConnections,
    queue: config.queue === undefined ? undefined : { ...config.queue },
    ejection: config.ejection === undefined ? undefined : { ...config.ejection },
    slowStart: config.slowStart === undefined ? undefined : { ...config.slowStart },
    decayMs: config.decayMs,
  };
  // The Balancer's own checks, now, so a bad value is refused as any other
  // (one line naming the field) and not thrown from inside the run.
  new Balancer({ ejection: model.ejection, slowStart: model.slowStart, decayMs: model.decayMs });
  return model;
}
