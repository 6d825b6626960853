// The simulator's settings as flags: the CLI's options and the page's
// permalink (its URL query) use the same names and the same text forms, so a
// page's settings are a `leastconn simulate` command and back.

import { ALGORITHMS } from "../algorithms.js";
import { invalid, parseFailure, parseService, parseSlow, type SimConfig } from "./spec.js";

/** Flag names, each taking one value (slow and fail may repeat). */
export const FLAGS = [
  "backends",
  "servers",
  "discipline",
  "service",
  "slow",
  "fail",
  "utilization",
  "clients",
  "think",
  "balancers",
  "stale",
  "tie-break",
  "max-connections",
  "queue",
  "ejection",
  "slow-start",
  "decay",
  "algorithms",
  "requests",
  "seed",
] as const;
export type Flag = (typeof FLAGS)[number];
export type FlagValues = Partial<Record<Flag, string | string[]>>;

function one(values: FlagValues, flag: Flag): string | undefined {
  const v = values[flag];
  if (Array.isArray(v)) {
    if (v.length > 1) throw invalid(flag, "may be given once");
    return v[0];
  }
  return v;
}

function many(values: FlagValues, flag: Flag): string[] {
  const v = values[flag];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function integer(values: FlagValues, flag: Flag, fallback: number): number {
  const text = one(values, flag);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw invalid(flag, `must be a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function decimal(values: FlagValues, flag: Flag): number | undefined {
  const text = one(values, flag);
  if (text === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(text)) throw invalid(flag, `must be a number, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** The model's configuration from flag values (absent flags take the defaults). */
export function configFromFlags(values: FlagValues): SimConfig {
  const discipline = one(values, "discipline") ?? "fifo";
  if (discipline !== "fifo" && discipline !== "ps") throw invalid("discipline", `must be fifo or ps, got ${JSON.stringify(discipline)}`);
  const algorithms = one(values, "algorithms");
  const config: SimConfig = {
    backends: integer(values, "backends", 8),
    servers: integer(values, "servers", 1),
    discipline,
    service: parseService(one(values, "service") ?? "exp:1ms"),
    slow: many(values, "slow").map(parseSlow),
    failures: many(values, "fail").map(parseFailure),
    algorithms: algorithms === undefined ? [...ALGORITHMS] : algorithms.split(","),
    requests: integer(values, "requests", 100_000),
    seed: integer(values, "seed", 1),
    balancers: integer(values, "balancers", 1),
    staleMs: decimal(values, "stale") ?? 0,
  };
  if (one(values, "max-connections") !== undefined) config.maxConnections = integer(values, "max-connections", 0);
  const queue = one(values, "queue");
  if (queue !== undefined) {
    const m = /^(\d+):(\d+)ms$/.exec(queue);
    if (m === null) throw invalid("queue", `expected LIMIT:TIMEOUTms such as 100:500ms, got ${JSON.stringify(queue)}`);
    config.queue = { limit: Number(m[1]), timeoutMs: Number(m[2]) };
  }
  const ejection = one(values, "ejection");
  if (ejection !== undefined) {
    // "on": Envoy's defaults; else FAILURES:BASEms[:MAXms[:PERCENT%]].
    const m = /^(\d+):(\d+)ms(?::(\d+)ms(?::(\d+)%)?)?$/.exec(ejection);
    if (ejection === "on") config.ejection = {};
    else if (m === null)
      throw invalid("ejection", `expected on or FAILURES:BASEms[:MAXms[:PERCENT%]] such as 5:30000ms, got ${JSON.stringify(ejection)}`);
    else {
      config.ejection = { consecutiveFailures: Number(m[1]), baseMs: Number(m[2]) };
      if (m[3] !== undefined) config.ejection.maxMs = Number(m[3]);
      if (m[4] !== undefined) config.ejection.maxPercent = Number(m[4]);
    }
  }
  const slowStart = one(values, "slow-start");
  if (slowStart !== undefined) {
    const m = /^(\d+)ms(?::(\d+)%)?$/.exec(slowStart);
    if (m === null) throw invalid("slow-start", `expected WINDOWms[:MIN%] such as 10000ms:10%, got ${JSON.stringify(slowStart)}`);
    config.slowStart = m[2] === undefined ? { windowMs: Number(m[1]) } : { windowMs: Number(m[1]), minPercent: Number(m[2]) };
  }
  const decay = decimal(values, "decay");
  if (decay !== undefined) config.decayMs = decay;
  const tieBreak = one(values, "tie-break");
  if (tieBreak !== undefined) {
    if (tieBreak !== "first" && tieBreak !== "rotate")
      throw invalid("tie-break", `must be first or rotate, got ${JSON.stringify(tieBreak)}`);
    config.tieBreak = tieBreak;
  }
  if (one(values, "clients") !== undefined) {
    if (one(values, "utilization") !== undefined) throw invalid("clients", "give clients or utilization, not both");
    config.clients = integer(values, "clients", 1);
    config.thinkMs = decimal(values, "think") ?? 0;
  } else {
    if (one(values, "think") !== undefined) throw invalid("think", "needs clients");
    config.utilization = decimal(values, "utilization") ?? 0.7;
  }
  return config;
}

/** Flag values from a URL query ("?backends=8&slow=1:5x&slow=2:3x"); unknown keys are errors. */
export function flagsFromQuery(query: string): FlagValues {
  const values: FlagValues = {};
  for (const [key, value] of new URLSearchParams(query)) {
    if (!(FLAGS as readonly string[]).includes(key)) throw invalid(key, "is not a simulator setting");
    const prev = values[key as Flag];
    values[key as Flag] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  return values;
}

/** The same values as command-line arguments, in FLAGS order. */
export function flagsToArgs(values: FlagValues): string[] {
  const args: string[] = [];
  for (const flag of FLAGS) for (const v of many(values, flag)) args.push(`--${flag}`, v);
  return args;
}

/** The same values as a URL query, in FLAGS order. */
export function flagsToQuery(values: FlagValues): string {
  const q = new URLSearchParams();
  for (const flag of FLAGS) for (const v of many(values, flag)) q.append(flag, v);
  return q.toString();
}
