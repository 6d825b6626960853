// Active health checks, as HAProxy's: every interval, GET the health path on
// each backend over a fresh connection; `fall` failures in a row take an up
// backend down, `rise` passes in a row bring a down one back up. A pass is
// any 2xx or 3xx within the timeout. Checks never touch a backend an
// operator took down, and never count as traffic.

import type { Logger } from "pino";
import { request } from "undici";
import type { HealthConfig } from "./config.js";

export interface HealthTarget {
  name: string;
  url: string;
  /** The verdict a new record starts with (default true): false for one already down, so passing checks bring it back. */
  healthy?: boolean;
}

export interface HealthHooks {
  down(name: string): void;
  up(name: string): void;
  /** False while an operator holds the backend down (checks keep running, results are not applied). */
  managed(name: string): boolean;
}

interface Probe {
  url: string;
  healthy: boolean;
  passes: number;
  fails: number;
  running: boolean;
}

export class HealthChecker {
  private readonly records = new Map<string, Probe>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private config: HealthConfig,
    private readonly hooks: HealthHooks,
    private readonly log: Logger,
  ) {}

  /** Sets the backends checked (a reload); kept ones keep their counters. */
  setTargets(targets: HealthTarget[], config = this.config): void {
    const names = new Set(targets.map((t) => t.name));
    for (const name of this.records.keys()) if (!names.has(name)) this.records.delete(name);
    for (const t of targets) {
      const r = this.records.get(t.name);
      if (r === undefined) this.records.set(t.name, { url: t.url, healthy: t.healthy ?? true, passes: 0, fails: 0, running: false });
      else r.url = t.url;
    }
    if (config.intervalMs !== this.config.intervalMs && this.timer !== null) {
      this.config = config;
      this.stop();
      this.start();
    }
    this.config = config;
  }

  healthy(name: string): boolean | undefined {
    return this.records.get(name)?.healthy;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.round(), this.config.intervalMs);
    this.timer.unref();
    this.round();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private round(): void {
    for (const [name, r] of this.records) if (!r.running) void this.check(name, r);
  }

  private async check(name: string, r: Probe): Promise<void> {
    r.running = true;
    const { path, timeoutMs } = this.config;
    let ok = false;
    let detail = "";
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await request(r.url + path, { method: "GET", signal, reset: true, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      await res.body.dump();
      ok = res.statusCode >= 200 && res.statusCode < 400;
      detail = `status ${res.statusCode}`;
    } catch (err) {
      // AbortSignal.timeout's DOMException has a numeric code (23): say what it is.
      const code = (err as { code?: unknown }).code;
      detail = (err as Error).name === "TimeoutError" ? "timeout" : typeof code === "string" ? code : (err as Error).name;
    }
    r.running = false;
    if (this.records.get(name) !== r) return; // removed meanwhile
    if (ok) {
      r.fails = 0;
      r.passes++;
      if (!r.healthy && r.passes >= this.config.rise) {
        r.healthy = true;
        this.log.info({ event: "health_up", backend: name, passes: r.passes }, "backend passed its health checks");
        if (this.hooks.managed(name)) this.hooks.up(name);
      }
    } else {
      r.passes = 0;
      r.fails++;
      if (r.healthy && r.fails >= this.config.fall) {
        r.healthy = false;
        this.log.warn({ event: "health_down", backend: name, fails: r.fails, detail }, "backend failed its health checks");
        if (this.hooks.managed(name)) this.hooks.down(name);
      }
    }
  }
}
