// Active health checks shared by the balanced clients (leastconn/undici and
// leastconn/fetch): every `intervalMs` each origin's `path` is probed; `fall`
// failures in a row mark it down in the Balancer, `rise` successes in a row
// mark it up again. The probe itself (undici Pool or web fetch) belongs to the
// client, so this file uses no runtime API beyond timers.
//
// Timers never keep a process alive: Node's are unref'd, Deno's go through
// Deno.unrefTimer; browsers have no such notion. Probes do not count as
// requests: they bypass the Balancer. An origin being removed (the
// Balancer's remove(), whoever calls it) is no longer probed, and probed
// again when taken back (markUp while it drains).

import type { Balancer } from "./balancer.js";
import { InvalidArgumentError } from "./errors.js";

export interface HealthCheckOptions {
  /** Path probed on each origin, e.g. "/health". */
  path: string;
  /** Milliseconds between rounds; default 5,000. */
  intervalMs?: number;
  /** Successes in a row that bring a down origin back; default 2. */
  rise?: number;
  /** Failures in a row that take an origin out; default 3. */
  fall?: number;
  /** A probe slower than this fails; default min(intervalMs, 2,000). */
  timeoutMs?: number;
}

/** Resolves true when `origin` answered `path` healthily within the signal's time. */
export type Probe = (origin: string, path: string, signal: AbortSignal) => Promise<boolean>;

interface OriginHealth {
  up: boolean;
  run: number; // successes in a row while down, failures in a row while up
}

interface DenoTimers {
  unrefTimer?: (id: number) => void;
}

/** Makes a timer not keep the process alive, where the runtime can. */
export function unrefTimer(timer: unknown): void {
  // Node's timers are objects; Deno's and browsers' are numbers.
  if (typeof timer === "number") (globalThis as { Deno?: DenoTimers }).Deno?.unrefTimer?.(timer);
  else (timer as { unref?: () => void } | undefined)?.unref?.();
}

/** An integer min..2^31-1 (`fallback` when undefined); InvalidArgumentError naming `field` otherwise. */
export function checkInt(value: unknown, field: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  // Number.isInteger is false for anything not a number.
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > 2 ** 31 - 1) {
    throw new InvalidArgumentError(field, `must be an integer ${min}..2^31-1, got ${String(value)}`);
  }
  return value as number;
}

/** Validated options with their defaults filled in. */
export function checkHealthOptions(options: HealthCheckOptions): Required<HealthCheckOptions> {
  if (typeof options !== "object" || options === null) throw new InvalidArgumentError("healthCheck", "must be an object");
  if (typeof options.path !== "string" || !options.path.startsWith("/")) {
    throw new InvalidArgumentError("healthCheck.path", `must be a string starting with "/", got ${String(options.path)}`);
  }
  const int = (key: "intervalMs" | "rise" | "fall" | "timeoutMs", fallback: number): number =>
    checkInt(options[key], `healthCheck.${key}`, 1, fallback);
  const intervalMs = int("intervalMs", 5_000);
  return {
    path: options.path,
    intervalMs,
    rise: int("rise", 2),
    fall: int("fall", 3),
    timeoutMs: int("timeoutMs", Math.min(intervalMs, 2_000)),
  };
}

/** Probes a set of origins on a timer and marks them down and up in a Balancer. */
export class HealthChecks {
  readonly options: Required<HealthCheckOptions>;
  // Names the minified files shorten (scripts/build.mjs); fields set in the
  // constructor, not parameter properties, which esbuild keeps long.
  private readonly checked: Balancer;
  private readonly probe: Probe;
  private readonly states = new Map<string, OriginHealth>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(balancer: Balancer, options: HealthCheckOptions, probe: Probe) {
    this.checked = balancer;
    this.probe = probe;
    this.options = checkHealthOptions(options);
    // A probe's markUp on a draining origin would cancel its removal.
    balancer.addEventListener("statechange", (e) => {
      if (e.reason === "remove") this.delete(e.backend);
      else if (e.from === "draining") this.add(e.backend);
    });
  }

  /** Starts probing `origin` (it starts as healthy: its state is the Balancer's). */
  add(origin: string): void {
    if (!this.states.has(origin)) this.states.set(origin, { up: true, run: 0 });
    this.arm();
  }

  /** Stops probing `origin`; its state in the Balancer is left as it is. */
  delete(origin: string): void {
    this.states.delete(origin);
  }

  /** Stops the timer; a round in flight finishes without touching the Balancer. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => void this.round(), this.options.intervalMs);
    unrefTimer(this.timer);
  }

  /** One round: every origin probed at once; the next round is armed when all have answered. */
  async round(): Promise<void> {
    const { path, timeoutMs } = this.options;
    const origins = [...this.states.keys()];
    const results = await Promise.all(
      origins.map(async (origin) => {
        try {
          return await this.probe(origin, path, AbortSignal.timeout(timeoutMs));
        } catch {
          return false;
        }
      }),
    );
    this.timer = undefined;
    if (this.stopped) return;
    for (const [i, origin] of origins.entries()) this.record(origin, results[i]!);
    this.arm();
  }

  private record(origin: string, ok: boolean): void {
    const health = this.states.get(origin);
    if (health === undefined) return; // removed during the round
    if (ok === health.up) {
      health.run = 0;
      return;
    }
    health.run++;
    if (health.up && health.run >= this.options.fall) {
      health.up = false;
      health.run = 0;
      this.checked.markDown(origin);
    } else if (!health.up && health.run >= this.options.rise) {
      health.up = true;
      health.run = 0;
      this.checked.markUp(origin);
    }
  }
}
