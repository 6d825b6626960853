// The proxy's configuration: command-line flags and the JSON config file,
// merged (flags win; --backend flags replace the file's backends) and
// checked into one ProxyConfig. Every refusal is an InvalidArgumentError
// whose field names the bad setting and whose message quotes its value;
// the CLI prints it and exits 2.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { algorithmId, Balancer, InvalidArgumentError } from "../../bindings/index.js";
import { type ProxyBackend, parseBackend } from "./proxy.js";

export interface HealthConfig {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

export interface ProxyConfig {
  listen: { host: string; port: number };
  admin: { host: string; port: number } | null;
  backends: ProxyBackend[];
  algorithm: string;
  retries: number;
  timeouts: { connectMs: number; headersMs: number; idleMs: number };
  limits: { maxHeaderSize: number; headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number };
  health: HealthConfig | null;
  drainTimeoutMs: number;
  workers: number;
  accessLog: boolean;
  trustForwarded: boolean;
  logLevel: string;
  /** Passed to the Balancer, which checks them (issue 8's options). */
  queue?: { limit?: number; timeoutMs?: number };
  ejection?: { consecutiveFailures?: number; baseMs?: number; maxMs?: number; maxPercent?: number };
  slowStart?: { windowMs: number; minPercent?: number };
}

export const USAGE = `Usage: leastconn proxy --listen HOST:PORT --backend URL [--backend URL ...] [options]

An HTTP and WebSocket reverse proxy balancing on the leastconn core.

Options:
  --listen HOST:PORT         where clients connect (default 127.0.0.1:8080)
  --backend URL[,weight=N][,name=S][,maxConnections=N]
                             a backend, http://host:port; repeat for each
  --admin HOST:PORT          admin listener: GET /metrics, GET /backends,
                             POST /backends/NAME/drain|down|up
  --algorithm NAME           least-connections (default), weighted-least-connections,
                             round-robin, weighted-round-robin, power-of-two-choices, random,
                             peak-ewma
  --config FILE              JSON config (docs/PROXY.md); reloaded on SIGHUP and on change
  --retries N                retries of idempotent bodiless requests whose
                             connection failed, each on another backend (default 1)
  --health-path PATH         active health checks: GET PATH on each backend
  --health-interval MS       between checks (default 2000)
  --health-timeout MS        per check (default 1000)
  --health-rise N            passes to go up (default 2)
  --health-fall N            failures to go down (default 3)
  --connect-timeout MS       504 when over (default 5000)
  --headers-timeout MS       backend's response head; 504 when over (default 60000)
  --idle-timeout MS          silence while a response streams (default 60000)
  --drain-timeout MS         on SIGTERM, longest wait for in-flight requests (default 30000)
  --workers N                processes or threads serving the port (default 1)
  --access-log               one log line per request
  --trust-forwarded          keep the client's X-Forwarded-Proto/-Host and append
                             (behind a proxy you trust; default: replace them)
  --log-level LEVEL          pino level (default info)
  -h, --help                 print this help
`;

const FIELDS = new Set([
  "listen",
  "admin",
  "backends",
  "algorithm",
  "retries",
  "timeouts",
  "limits",
  "health",
  "drainTimeoutMs",
  "workers",
  "accessLog",
  "trustForwarded",
  "logLevel",
  "queue",
  "ejection",
  "slowStart",
]);

function show(v: unknown): string {
  return v === undefined ? "nothing" : JSON.stringify(v);
}

function bad(field: string, message: string, value: unknown): never {
  throw new InvalidArgumentError(field, `${message}, got ${show(value)}`);
}

function int(value: unknown, field: string, min: number, max: number): number {
  if (typeof value === "string" && /^\d+$/.test(value)) value = Number(value);
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
    bad(field, `must be an integer ${min}..${max}`, value);
  return value;
}

/** "field: message" for a refused setting (the field is on the error, not in its message). */
export function explain(err: unknown): string {
  if (err instanceof InvalidArgumentError) return err.message.startsWith(err.field) ? err.message : `${err.field}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

export function parseAddress(value: unknown, field: string): { host: string; port: number } {
  if (typeof value !== "string") bad(field, "must be HOST:PORT", value);
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  if (m === null) bad(field, "must be HOST:PORT", value);
  const port = Number(m[2]);
  if (port > 65535) bad(field, "must have a port 0..65535", value);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

function object(value: unknown, field: string, keys: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) bad(field, "must be an object", value);
  for (const k of Object.keys(value))
    if (!keys.includes(k)) bad(`${field}.${k}`, `is not a setting (known: ${keys.join(", ")})`, (value as Record<string, unknown>)[k]);
  return value as Record<string, unknown>;
}

/** `URL[,weight=N][,name=S]` from the command line. */
export function parseBackendFlag(text: string, field: string): ProxyBackend {
  const [url, ...opts] = text.split(",");
  const out: ProxyBackend = { url: url! };
  for (const o of opts) {
    const eq = o.indexOf("=");
    const key = eq < 0 ? o : o.slice(0, eq);
    const val = eq < 0 ? "" : o.slice(eq + 1);
    if (key === "weight") out.weight = int(val, `${field}.weight`, 0, 1_000_000);
    else if (key === "name") out.name = val;
    else if (key === "maxConnections") out.maxConnections = int(val, `${field}.maxConnections`, 1, 0x7fffffff);
    else bad(field, "options after the URL are weight=N, name=S and maxConnections=N", text);
  }
  return out;
}

export interface Flags {
  [key: string]: string | boolean | string[] | undefined;
  backend?: string[];
  config?: string;
  help?: boolean;
}

export function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: "string" },
      backend: { type: "string", multiple: true },
      admin: { type: "string" },
      algorithm: { type: "string" },
      config: { type: "string" },
      retries: { type: "string" },
      "health-path": { type: "string" },
      "health-interval": { type: "string" },
      "health-timeout": { type: "string" },
      "health-rise": { type: "string" },
      "health-fall": { type: "string" },
      "connect-timeout": { type: "string" },
      "headers-timeout": { type: "string" },
      "idle-timeout": { type: "string" },
      "drain-timeout": { type: "string" },
      workers: { type: "string" },
      "access-log": { type: "boolean" },
      "trust-forwarded": { type: "boolean" },
      "log-level": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  return values as Flags;
}

/** Reads the config file (when --config is given) and merges the flags over it. */
export function loadConfig(flags: Flags): ProxyConfig {
  let file: Record<string, unknown> = {};
  if (flags.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.config, "utf8");
    } catch (err) {
      return bad("config", `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, flags.config);
    }
    try {
      file = JSON.parse(text);
    } catch (err) {
      return bad("config", `is not JSON (${(err as Error).message})`, flags.config);
    }
    file = object(file, "config", [...FIELDS]);
  }
  return checkConfig(file, flags);
}

export function checkConfig(file: Record<string, unknown>, flags: Flags = {}): ProxyConfig {
  const f = (name: string): string | undefined => flags[name] as string | undefined;
  const timeouts = file.timeouts === undefined ? {} : object(file.timeouts, "timeouts", ["connectMs", "headersMs", "idleMs"]);
  const limits =
    file.limits === undefined
      ? {}
      : object(file.limits, "limits", ["maxHeaderSize", "headersTimeoutMs", "requestTimeoutMs", "keepAliveTimeoutMs"]);
  let backends: ProxyBackend[];
  if (flags.backend !== undefined && flags.backend.length > 0) {
    backends = flags.backend.map((b, i) => parseBackendFlag(b, `--backend[${i}]`));
    for (const [i, b] of backends.entries()) parseBackend(b, `--backend[${i}]`);
  } else {
    if (!Array.isArray(file.backends)) bad("backends", "must be a list of backend URLs (or give --backend URL)", file.backends);
    backends = (file.backends as unknown[]).map((b, i) => {
      const parsed = parseBackend(b, `backends[${i}]`);
      return { url: parsed.url.origin, name: parsed.name, weight: parsed.weight, maxConnections: parsed.maxConnections };
    });
  }
  if (backends.length === 0) bad("backends", "must hold at least one backend", []);
  const names = new Set<string>();
  for (const [i, b] of backends.entries()) {
    const name = parseBackend(b, `backends[${i}]`).name;
    if (names.has(name)) bad(`backends[${i}].name`, "is taken by an earlier backend", name);
    names.add(name);
  }
  let health: HealthConfig | null = null;
  const h = file.health === undefined ? undefined : object(file.health, "health", ["path", "intervalMs", "timeoutMs", "rise", "fall"]);
  const hpath = f("health-path") ?? h?.path;
  if (hpath !== undefined) {
    if (typeof hpath !== "string" || !hpath.startsWith("/")) bad("health.path", "must be a path starting with /", hpath);
    health = {
      path: hpath,
      intervalMs: int(f("health-interval") ?? h?.intervalMs ?? 2_000, "health.intervalMs", 10, 3_600_000),
      timeoutMs: int(f("health-timeout") ?? h?.timeoutMs ?? 1_000, "health.timeoutMs", 1, 3_600_000),
      rise: int(f("health-rise") ?? h?.rise ?? 2, "health.rise", 1, 1_000),
      fall: int(f("health-fall") ?? h?.fall ?? 3, "health.fall", 1, 1_000),
    };
  }
  const algorithm = f("algorithm") ?? file.algorithm ?? "least-connections";
  if (typeof algorithm !== "string") bad("algorithm", "must be a string", algorithm);
  try {
    algorithmId(algorithm);
  } catch {
    bad(
      "algorithm",
      "must be least-connections, weighted-least-connections, round-robin, weighted-round-robin, power-of-two-choices, random or peak-ewma",
      algorithm,
    );
  }
  const logLevel = f("log-level") ?? file.logLevel ?? "info";
  if (typeof logLevel !== "string" || !["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    bad("logLevel", "must be one of fatal, error, warn, info, debug, trace, silent", logLevel);
  }
  const accessLog = flags["access-log"] === true ? true : (file.accessLog ?? false);
  if (typeof accessLog !== "boolean") bad("accessLog", "must be true or false", accessLog);
  const trustForwarded = flags["trust-forwarded"] === true ? true : (file.trustForwarded ?? false);
  if (typeof trustForwarded !== "boolean") bad("trustForwarded", "must be true or false", trustForwarded);
  const adminText = f("admin") ?? file.admin;
  const cfg: ProxyConfig = {
    listen: parseAddress(f("listen") ?? file.listen ?? "127.0.0.1:8080", "listen"),
    admin: adminText === undefined || adminText === null ? null : parseAddress(adminText, "admin"),
    backends,
    algorithm,
    retries: int(f("retries") ?? file.retries ?? 1, "retries", 0, 100),
    timeouts: {
      connectMs: int(f("connect-timeout") ?? timeouts.connectMs ?? 5_000, "timeouts.connectMs", 1, 3_600_000),
      headersMs: int(f("headers-timeout") ?? timeouts.headersMs ?? 60_000, "timeouts.headersMs", 1, 3_600_000),
      idleMs: int(f("idle-timeout") ?? timeouts.idleMs ?? 60_000, "timeouts.idleMs", 1, 3_600_000),
    },
    limits: {
      maxHeaderSize: int(limits.maxHeaderSize ?? 16_384, "limits.maxHeaderSize", 1_024, 1 << 20),
      headersTimeoutMs: int(limits.headersTimeoutMs ?? 10_000, "limits.headersTimeoutMs", 1, 3_600_000),
      requestTimeoutMs: int(limits.requestTimeoutMs ?? 300_000, "limits.requestTimeoutMs", 0, 86_400_000),
      keepAliveTimeoutMs: int(limits.keepAliveTimeoutMs ?? 5_000, "limits.keepAliveTimeoutMs", 1, 3_600_000),
    },
    health,
    drainTimeoutMs: int(f("drain-timeout") ?? file.drainTimeoutMs ?? 30_000, "drainTimeoutMs", 0, 3_600_000),
    workers: int(f("workers") ?? file.workers ?? 1, "workers", 1, 256),
    accessLog,
    trustForwarded,
    logLevel,
  };
  if (file.queue !== undefined) cfg.queue = object(file.queue, "queue", ["limit", "timeoutMs"]);
  if (file.ejection !== undefined)
    cfg.ejection = object(file.ejection, "ejection", ["consecutiveFailures", "baseMs", "maxMs", "maxPercent"]);
  if (file.slowStart !== undefined)
    cfg.slowStart = object(file.slowStart, "slowStart", ["windowMs", "minPercent"]) as ProxyConfig["slowStart"];
  // The Balancer's own checks, now: a reload must refuse what a start would.
  new Balancer({ queue: cfg.queue, ejection: cfg.ejection, slowStart: cfg.slowStart });
  if (cfg.limits.requestTimeoutMs !== 0 && cfg.limits.requestTimeoutMs < cfg.limits.headersTimeoutMs) {
    bad(
      "limits.requestTimeoutMs",
      `must be 0 or at least limits.headersTimeoutMs (${cfg.limits.headersTimeoutMs})`,
      cfg.limits.requestTimeoutMs,
    );
  }
  return cfg;
}
