// `leastconn proxy`: the command around createProxy. It owns the process:
// flags and config (config.ts), the listener with node:http's limits, the
// admin listener (admin.ts), health checks (health.ts), reload on SIGHUP or
// a config-file change, graceful drain on SIGTERM, and --workers.
// Built as its own bundle (dist/proxy-cli.js) that cli/main.ts imports only
// for this subcommand, so the protocol node never loads it.

import cluster from "node:cluster";
import { unwatchFile, watchFile } from "node:fs";
import type { Server } from "node:http";
import { availableParallelism } from "node:os";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { type Logger, pino } from "pino";
import type { Balancer } from "../../bindings/index.js";
import { attachShared, createShared, type SharedHandle } from "../../bindings/shared.js";
import { createAdminServer, createMetrics } from "./admin.js";
import { explain, type Flags, loadConfig, type ProxyConfig, parseFlags, USAGE } from "./config.js";
import { HealthChecker, type HealthTarget } from "./health.js";
import { createProxy, createProxyServer, type LeastconnProxy, type ProxyBackend, parseBackend } from "./proxy.js";
import {
  type AdminMessage,
  isAdminMessage,
  type ReadyMessage,
  reusePort,
  superviseCluster,
  superviseThreads,
  threadConfig,
} from "./workers.js";

function fatal(message: string): never {
  process.stderr.write(`leastconn proxy: ${message}\nTry 'leastconn proxy --help'.\n`);
  process.exit(2);
}

function listen(server: Server, addr: { host: string; port: number }, reusePort = false): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    // reusePort is Node 22.12+; older Node ignores the unknown option.
    server.listen({ port: addr.port, host: addr.host, reusePort } as Parameters<Server["listen"]>[0], () => {
      server.off("error", reject);
      const a = server.address();
      resolve(typeof a === "object" && a !== null ? a.port : addr.port);
    });
  });
}

/** Runs the proxy until SIGTERM; never resolves (the process exits). */
export async function main(argv: string[]): Promise<never> {
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    return fatal((err as Error).message);
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  let cfg: ProxyConfig;
  try {
    cfg = loadConfig(flags);
  } catch (err) {
    return fatal(`bad configuration: ${explain(err)}`);
  }
  const log = pino({ level: cfg.logLevel, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true }));
  if (cfg.workers > 1 && isMainThread && cluster.isPrimary) {
    return reusePort() ? threadsPrimary(argv, cfg, log) : primary(cfg, log);
  }
  await serve(flags, cfg, log, {});
  return new Promise<never>(() => {});
}

interface ThreadData {
  leastconnProxyThread: true;
  argv: string[];
  handle: SharedHandle;
  index: number;
  /** The configuration the table was built from: a replacement thread falls back to it (see threadMain). */
  cfg: ProxyConfig;
}

// --workers N where reusePort exists: N worker threads, each with its own
// listener on the same port (the kernel spreads connections) and one count
// table in shared memory (the threads build), so every thread's pick sees
// every thread's requests (like nginx with `zone`). Thread 0 also runs the
// admin listener and the health checks. Membership is fixed while shared:
// a reload changes weights, not the backend list. workers.ts supervises.
function threadsPrimary(argv: string[], cfg: ProxyConfig, log: Logger): Promise<never> {
  // The limits live in the table; the queue, ejection and slow start are
  // each thread's Balancer's (threadMain passes them), as in one process.
  const { balancer: table } = createShared({
    backends: cfg.backends.map((b) => {
      const s = parseBackend(b);
      return { name: s.name, weight: s.weight, maxConnections: s.maxConnections };
    }),
    algorithm: cfg.algorithm,
    queue: cfg.queue,
    ejection: cfg.ejection,
    slowStart: cfg.slowStart,
  });
  log.info(
    { event: "workers", workers: cfg.workers, mode: "threads", cores: availableParallelism() },
    "worker threads on one port (reusePort) sharing one count table",
  );
  const threads = superviseThreads({
    table,
    count: cfg.workers,
    log,
    exit: (code) => process.exit(code),
    spawn: (index, handle) => {
      const data: ThreadData = { leastconnProxyThread: true, argv, handle, index, cfg };
      return new Worker(new URL(import.meta.url), { workerData: data });
    },
  });
  process.on("SIGHUP", () => threads.tell("SIGHUP"));
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => threads.tell("SIGTERM"));
  return new Promise<never>(() => {});
}

async function threadMain(data: ThreadData): Promise<void> {
  const flags = parseFlags(data.argv);
  const { cfg, fallback } = threadConfig(() => loadConfig(flags), data.cfg, data.handle.backends);
  const log = pino({ level: cfg.logLevel, base: { pid: process.pid, thread: data.index } }, pino.destination({ dest: 1, sync: true }));
  if (fallback !== null) log.warn({ event: "config_fallback" }, `thread starts with ${fallback}`);
  const balancer = attachShared(data.handle, {
    algorithm: cfg.algorithm,
    queue: cfg.queue,
    ejection: cfg.ejection,
    slowStart: cfg.slowStart,
  });
  await serve(flags, cfg, log, { balancer, reusePort: true, adminAndHealth: data.index === 0 });
}

if (!isMainThread && (workerData as ThreadData | null)?.leastconnProxyThread === true) void threadMain(workerData as ThreadData);

// --workers N on Node 20: node:cluster, one Balancer per worker (like nginx
// without `zone`): each worker balances only the requests it accepted.
function primary(cfg: ProxyConfig, log: Logger): Promise<never> {
  log.info(
    { event: "workers", workers: cfg.workers, mode: "cluster", cores: availableParallelism() },
    "node:cluster with a count table per worker: each worker balances its own requests (no reusePort shared table on this runtime)",
  );
  superviseCluster(cfg.workers, log);
  return new Promise<never>(() => {});
}

interface ServeMode {
  /** A Balancer on a shared table (thread mode). */
  balancer?: Balancer;
  reusePort?: boolean;
  /** False in threads other than the first: one admin listener, one set of health checks. */
  adminAndHealth?: boolean;
}

async function serve(flags: Flags, cfg: ProxyConfig, log: Logger, mode: ServeMode): Promise<void> {
  const metrics = createMetrics();
  let proxy: LeastconnProxy;
  try {
    proxy = createProxy({
      backends: cfg.backends,
      algorithm: cfg.algorithm,
      retries: cfg.retries,
      timeouts: cfg.timeouts,
      logger: log,
      accessLog: cfg.accessLog,
      trustForwarded: cfg.trustForwarded,
      observe: metrics.observe,
      balancer: mode.balancer,
      queue: cfg.queue,
      ejection: cfg.ejection,
      slowStart: cfg.slowStart,
    });
  } catch (err) {
    fatal(`bad configuration: ${explain(err)}`);
  }
  metrics.bind(proxy, () => ({}));
  const balancer = proxy.balancer;
  balancer.addEventListener("statechange", (e) => {
    if (e.reason === "ejected") {
      metrics.ejected(e.backend);
      log.warn({ event: "ejected", backend: e.backend, until: e.until }, "backend ejected after consecutive failures");
    } else if (e.reason === "recovered") log.info({ event: "recovered", backend: e.backend }, "ejection over; backend back (slow start)");
  });
  // Backends an operator took down (POST .../down): health checks leave them alone.
  const held = new Set<string>();
  const health =
    cfg.health === null || mode.adminAndHealth === false
      ? null
      : new HealthChecker(
          cfg.health,
          {
            down: (name) => {
              if (!balancer.has(name)) return;
              balancer.markDown(name);
              metrics.ejected(name);
            },
            // Never a draining one: passing checks must not undo an operator's or a reload's removal.
            up: (name) => {
              if (balancer.has(name) && balancer.get(name).state !== "draining") balancer.markUp(name);
            },
            managed: (name) => !held.has(name),
          },
          log,
        );
  // The backends checked: those in the table and not draining (a drained one
  // leaves the checks at once; added back, it starts with a fresh record).
  // A backend already down in the table and not held by an operator (a
  // replacement thread 0 over a shared table that its predecessor's checks
  // took down) starts unhealthy: passing checks bring it back.
  const targets = (): HealthTarget[] =>
    proxy
      .backends()
      .filter((b) => balancer.get(b.name).state !== "draining")
      .map((b) => ({ name: b.name, url: b.url, healthy: balancer.get(b.name).state !== "down" || held.has(b.name) }));
  health?.setTargets(targets());
  health?.start();

  // The operator's actions (admin POSTs). In cluster mode the worker that got
  // the POST passes it to the others (through the primary): each has a table.
  // Backends an operator's drain took out, as they were: `up` cancels a
  // drain even once the backend has left the table (so, in cluster mode,
  // every worker agrees whether it was still busy there or not).
  const drained = new Map<string, ProxyBackend>();
  const act = (action: AdminMessage["leastconnAdmin"], name: string): void => {
    if (action === "drain") {
      if (mode.balancer !== undefined) throw new Error("a shared table (--workers threads) has a fixed set of backends");
      const b = proxy.backends().find((x) => x.name === name);
      if (b !== undefined)
        drained.set(name, { url: b.url, name, weight: b.weight, maxConnections: balancer.get(name).maxConnections ?? undefined });
      held.delete(name);
      proxy
        .remove(name)
        .catch((err: unknown) => log.error({ event: "drain_failed", backend: name, error: explain(err) }, "backend not drained"));
      health?.setTargets(targets());
    } else if (action === "down") {
      held.add(name);
      balancer.markDown(name);
    } else {
      held.delete(name);
      const back = drained.get(name);
      drained.delete(name);
      if (!balancer.has(name)) {
        // Drained and gone: back from the drain's copy (through slow start).
        if (back === undefined) return;
        proxy.add(back);
        health?.setTargets(targets());
        return;
      }
      // The checks keep their verdict (HAProxy's "enable server"): one that
      // fails them stays down until it passes `rise` of them.
      if (health?.healthy(name) !== false) balancer.markUp(name);
      health?.setTargets(targets());
    }
  };
  const fromPrimary = (m: unknown): void => {
    if (!isAdminMessage(m) || !(balancer.has(m.name) || (m.leastconnAdmin === "up" && drained.has(m.name)))) return;
    try {
      act(m.leastconnAdmin, m.name);
    } catch (err) {
      log.error(
        { event: "admin_failed", action: m.leastconnAdmin, backend: m.name, error: explain(err) },
        "an operator's action from another worker failed",
      );
    }
  };
  // Relayed from another worker (cluster), or replayed to a replacement (both modes).
  process.on("message", fromPrimary);
  parentPort?.on("message", fromPrimary);

  const server = createProxyServer(proxy, { ...cfg.limits });
  let port: number;
  try {
    port = await listen(server, cfg.listen, mode.reusePort === true);
  } catch (err) {
    fatal(`cannot listen on ${cfg.listen.host}:${cfg.listen.port}: ${(err as Error).message}`);
  }
  let admin: Server | null = null;
  let adminPort: number | null = null;
  if (cfg.admin !== null && mode.adminAndHealth !== false) {
    const fromOperator = (action: AdminMessage["leastconnAdmin"]) => (name: string) => {
      act(action, name);
      // To the primary: relayed to the other workers (cluster), and kept for replacements (both modes).
      const m: AdminMessage = { leastconnAdmin: action, name };
      if (cluster.isWorker) process.send?.(m);
      parentPort?.postMessage(m);
    };
    admin = createAdminServer(proxy, metrics, {
      drain: fromOperator("drain"),
      down: fromOperator("down"),
      up: fromOperator("up"),
      restorable: (name) => drained.has(name),
      describe: (name) => {
        const b = proxy.backends().find((x) => x.name === name);
        return { url: b?.url, healthy: health?.healthy(name) ?? null, held: held.has(name) };
      },
    });
    try {
      adminPort = await listen(admin, cfg.admin);
    } catch (err) {
      fatal(`cannot listen on ${cfg.admin.host}:${cfg.admin.port} (admin): ${(err as Error).message}`);
    }
  }
  log.info(
    {
      event: "listening",
      listen: `${cfg.listen.host}:${port}`,
      admin: adminPort === null ? null : `${cfg.admin!.host}:${adminPort}`,
      algorithm: balancer.algorithm,
      backends: proxy.backends(),
      worker: cluster.isWorker ? cluster.worker?.id : undefined,
    },
    "proxy listening",
  );
  // Ready (every listener bound): a supervisor stops the process for a first worker that exits before this.
  parentPort?.postMessage("listening");
  if (cluster.isWorker) process.send?.({ leastconnReady: true } satisfies ReadyMessage);

  // Reload: the config file again, with the same flags over it. Only the
  // backends (added, removed by draining, reweighted), the algorithm and the
  // health settings change live; the rest needs a restart and says so.
  const reload = (why: string): void => {
    try {
      apply(why);
    } catch (err) {
      log.error({ event: "reload_failed", why, error: explain(err) }, "config not fully applied");
    }
  };
  const apply = (why: string): void => {
    let next: ProxyConfig;
    try {
      next = loadConfig(flags);
    } catch (err) {
      log.error({ event: "reload_failed", why, error: explain(err) }, "config refused; the running one stays");
      return;
    }
    const current = new Map(proxy.backends().map((b) => [b.name, b]));
    const wanted = new Map(next.backends.map((spec) => [parseBackend(spec).name, parseBackend(spec)]));
    const added: string[] = [];
    const removed: string[] = [];
    const reweighted: string[] = [];
    for (const [name, b] of wanted) {
      const cur = current.get(name);
      if (cur === undefined) {
        try {
          proxy.add({ name, url: b.url.origin, weight: b.weight, maxConnections: b.maxConnections });
          added.push(name);
        } catch (err) {
          log.error({ event: "reload_failed", why, backend: name, error: explain(err) }, "backend not added");
        }
      } else if (cur.url !== b.url.origin) {
        log.error({ event: "reload_skipped", backend: name, url: b.url.origin }, "a backend's URL changes under a new name only");
      } else {
        const snap = balancer.get(name);
        if (snap.state === "draining") balancer.markUp(name);
        if ((snap.maxConnections ?? undefined) !== b.maxConnections) {
          balancer.setMaxConnections(name, b.maxConnections);
          if (!reweighted.includes(name)) reweighted.push(name);
        }
        if (snap.weight !== b.weight) {
          balancer.setWeight(name, b.weight);
          if (!reweighted.includes(name)) reweighted.push(name);
        }
      }
    }
    for (const name of current.keys()) {
      if (wanted.has(name) || balancer.get(name).state === "draining") continue;
      if (mode.balancer !== undefined) {
        log.error(
          { event: "reload_failed", why, backend: name, error: "a shared table (--workers threads) has a fixed set of backends" },
          "backend not removed",
        );
        continue;
      }
      removed.push(name);
      proxy
        .remove(name)
        .catch((err: unknown) => log.error({ event: "reload_failed", why, backend: name, error: explain(err) }, "backend not drained"));
    }
    if (next.algorithm !== cfg.algorithm) balancer.algorithm = next.algorithm;
    // Health checks turned on or off need a restart; their settings change live.
    const healthLive = (next.health === null) === (cfg.health === null);
    if (health !== null && next.health !== null) health.setTargets(targets(), next.health);
    const restart: string[] = (
      [
        "listen",
        "admin",
        "workers",
        "retries",
        "timeouts",
        "limits",
        "logLevel",
        "accessLog",
        "trustForwarded",
        "queue",
        "ejection",
        "slowStart",
      ] as const
    ).filter((k) => JSON.stringify(next[k]) !== JSON.stringify(cfg[k]));
    if (!healthLive) restart.push("health");
    cfg = {
      ...cfg,
      backends: next.backends,
      algorithm: next.algorithm,
      drainTimeoutMs: next.drainTimeoutMs,
      health: healthLive ? next.health : cfg.health,
    };
    log.info({ event: "reloaded", why, added, removed, reweighted, needsRestart: restart }, "config reloaded");
  };
  process.on("SIGHUP", () => reload("SIGHUP"));
  parentPort?.on("message", (m) => {
    if (m === "SIGHUP") reload("SIGHUP");
    else if (m === "SIGTERM") void shutdown("SIGTERM");
  });
  if (flags.config !== undefined && isMainThread) {
    watchFile(flags.config, { interval: 500, persistent: false }, (cur, prev) => {
      if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) reload("file changed");
    });
  }

  // SIGTERM: stop accepting, let in-flight requests and tunnels finish up to
  // the drain deadline, then close what is left and exit 0.
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ event: "draining", signal, inFlight: proxy.inFlight, deadlineMs: cfg.drainTimeoutMs }, "stopped accepting; draining");
    health?.stop();
    if (flags.config !== undefined) unwatchFile(flags.config);
    server.close();
    admin?.close();
    admin?.closeAllConnections();
    const deadline = Date.now() + cfg.drainTimeoutMs;
    while (proxy.inFlight > 0 && Date.now() < deadline) {
      server.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 20));
    }
    const left = proxy.inFlight;
    server.closeAllConnections();
    await proxy.close();
    log.info({ event: "stopped", cutOff: left }, left === 0 ? "drained" : "drain deadline passed; closed the rest");
    // In a worker thread this ends the thread; the main thread exits once all have.
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}
