// Supervision of --workers (main.ts starts them): threads over one shared
// count table, or node:cluster processes with a table each. It owns what
// happens when a worker exits: a thread's leases are reclaimed from the
// shared table, an exited worker is replaced with a backoff (a thread with
// the config it may start with: threadConfig), the operator's admin actions
// so far are replayed to the replacement, and a first worker that fails
// before it is ready (a port in use, a bad config) stops the process with
// its exit code. In cluster mode it also relays an operator's admin action
// from the worker that got it to the others.

import cluster from "node:cluster";
import type { Logger } from "pino";
import type { SharedBalancer, SharedHandle } from "../../bindings/shared.js";
import { explain, type ProxyConfig } from "./config.js";
import { parseBackend } from "./proxy.js";

/** Several threads may listen on one port (SO_REUSEPORT): Node 22.12+, 23.1+. Else --workers runs node:cluster. */
export function reusePort(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/**
 * Delays before replacing a worker that exited: none for the first, then
 * doubling from 100 ms to 10 s while they keep dying within 10 s of the
 * last restart (a crash loop, such as a config file edited into bad JSON,
 * must not fork as fast as it can).
 */
export class Restarts {
  private streak = 0;
  private last = 0;

  next(): number {
    const now = Date.now();
    this.streak = now - this.last < 10_000 ? this.streak + 1 : 0;
    this.last = now;
    return this.streak === 0 ? 0 : Math.min(10_000, 100 * 2 ** (this.streak - 1));
  }
}

/** What superviseThreads needs of a worker thread (a node:worker_threads Worker, or a test's stand-in). */
export interface ThreadLike {
  on(event: "message", listener: (message: unknown) => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "exit", listener: (code: number) => void): unknown;
  postMessage(message: unknown): void;
}

export interface ThreadsOptions {
  table: SharedBalancer;
  count: number;
  /** Starts thread `index` on the table with the thread id reserved in `handle`; it posts "listening" once it serves. */
  spawn(index: number, handle: SharedHandle & { thread: number }): ThreadLike;
  log: Logger;
  exit(code: number): void;
}

/**
 * Starts `count` threads and keeps them: each gets a thread id reserved for
 * it, so when it dies, however it dies, its leases are given back to the
 * table (reclaim) before another takes its place: no count outlives the
 * thread that took it. `tell` passes "SIGHUP" or "SIGTERM" on; after
 * SIGTERM, the last exit ends the process with 0.
 */
export function superviseThreads(o: ThreadsOptions): { tell(signal: "SIGHUP" | "SIGTERM"): void } {
  const threads = new Set<ThreadLike>();
  const restarts = new Restarts();
  const admin = new AdminLog();
  let stopping = false;
  let listened = false;
  // `first`: one of the threads started with the process. One of those that
  // exits before it said "listening" (all its listeners bound: the admin
  // port too) stops the process, even when another already listens: a
  // replacement would fail the same way, for ever.
  const start = (index: number, first: boolean): void => {
    const handle = o.table.reserveThread();
    const w = o.spawn(index, handle);
    threads.add(w);
    let ready = false;
    w.on("message", (m) => {
      if (isAdminMessage(m)) admin.record(m);
      else if (m === "listening") {
        listened = ready = true;
        if (!first) for (const a of admin.replay()) w.postMessage(a);
      }
    });
    w.on("error", (err) => o.log.error({ event: "worker_error", thread: index, error: explain(err) }, "a worker thread failed"));
    w.on("exit", (code) => {
      threads.delete(w);
      const reclaimed = o.table.reclaim(handle.thread);
      if (stopping) {
        if (threads.size === 0) o.exit(0);
        return;
      }
      if (!listened || (first && !ready)) {
        // It never served: the next would fail the same way (port taken, bad config).
        stopping = true;
        o.log.error({ event: "worker_exit", thread: index, code }, "a worker thread failed to start; stopping");
        o.exit(code === 0 ? 1 : code);
        return;
      }
      const delay = restarts.next();
      o.log.error({ event: "worker_exit", thread: index, code, reclaimed, restartInMs: delay }, "a worker thread exited; starting another");
      setTimeout(() => {
        if (!stopping) start(index, false);
      }, delay);
    });
  };
  for (let index = 0; index < o.count; index++) start(index, true);
  return {
    tell(signal) {
      if (signal === "SIGTERM") {
        stopping = true;
        if (threads.size === 0) o.exit(0);
      }
      for (const w of threads) w.postMessage(signal);
    },
  };
}

/** Forks `count` node:cluster workers and keeps them (see the module's opening). */
export function superviseCluster(count: number, log: Logger): void {
  let stopping = false;
  let alive = 0;
  let listened = false;
  const restarts = new Restarts();
  // As with threads: a first worker that exits before it is ready (every
  // listener bound, the admin port too) stops the process.
  const first = new Set<number>();
  const ready = new Set<number>();
  const admin = new AdminLog();
  const fork = (): number => {
    alive++;
    return cluster.fork().id;
  };
  for (let i = 0; i < count; i++) first.add(fork());
  // An operator's POST down/up/drain reaches one worker (the admin port is
  // shared); it tells the others through here, so every table applies it.
  cluster.on("message", (from, m: unknown) => {
    if (isReadyMessage(m)) {
      listened = true;
      ready.add(from.id);
      if (!first.has(from.id)) for (const a of admin.replay()) from.send(a);
      return;
    }
    if (!isAdminMessage(m)) return;
    admin.record(m);
    for (const w of Object.values(cluster.workers ?? {})) if (w !== undefined && w !== from) w.send(m);
  });
  cluster.on("exit", (worker, code) => {
    alive--;
    if (stopping) {
      if (alive === 0) process.exit(0);
      return;
    }
    if (!listened || (first.has(worker.id) && !ready.has(worker.id))) {
      // It never served: the next would fail the same way (port taken, bad config).
      log.error({ event: "worker_exit", worker: worker.process.pid, code }, "a worker failed to start; stopping");
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
      process.exit(code === 0 || code === null ? 1 : code);
    }
    const delay = restarts.next();
    log.error({ event: "worker_exit", worker: worker.process.pid, code, restartInMs: delay }, "a worker exited; starting another");
    setTimeout(fork, delay);
  });
  const forward = (sig: NodeJS.Signals): void => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(sig);
  };
  process.on("SIGHUP", () => forward("SIGHUP"));
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.on(sig, () => {
      stopping = true;
      forward("SIGTERM");
    });
  }
}

/**
 * The configuration a worker thread starts with. A replacement reads the
 * file as it is now (an accepted reload's algorithm, health, options), but
 * the shared table's backends are fixed: when the file no longer loads, or
 * names other backends (a reload refused that), it takes everything, or the
 * backends, the table was built from (`started`), and `fallback` says so.
 * Before, such a replacement exited 2, and so did each one after it.
 */
export function threadConfig(
  load: () => ProxyConfig,
  started: ProxyConfig,
  table: readonly string[],
): { cfg: ProxyConfig; fallback: string | null } {
  let cfg: ProxyConfig;
  try {
    cfg = load();
  } catch (err) {
    return { cfg: started, fallback: `the config file does not load now (${explain(err)}): the configuration the proxy started with` };
  }
  if (cfg.backends.map((b) => parseBackend(b).name).join("\n") === table.join("\n")) return { cfg, fallback: null };
  return {
    cfg: { ...cfg, backends: started.backends },
    fallback: "the config file names other backends than the shared table (fixed while shared): the table's",
  };
}

/**
 * The operator's admin actions so far, the last one per backend, in order:
 * replayed to a replacement worker once it is ready, so it does not start
 * from the config alone (a backend taken down stays down, a drained one is
 * drained there too, and thread 0's health checks leave a held one alone).
 */
export class AdminLog {
  private readonly last = new Map<string, AdminMessage>();

  record(m: AdminMessage): void {
    this.last.delete(m.name);
    this.last.set(m.name, { leastconnAdmin: m.leastconnAdmin, name: m.name });
  }

  replay(): AdminMessage[] {
    return [...this.last.values()];
  }
}

/** A cluster worker's word that every listener of its is bound. */
export interface ReadyMessage {
  leastconnReady: true;
}

export function isReadyMessage(m: unknown): m is ReadyMessage {
  return (m as Partial<ReadyMessage> | null)?.leastconnReady === true;
}

/** An operator's admin action, relayed between cluster workers. */
export interface AdminMessage {
  leastconnAdmin: "drain" | "down" | "up";
  name: string;
}

export function isAdminMessage(m: unknown): m is AdminMessage {
  const a = (m as Partial<AdminMessage> | null)?.leastconnAdmin;
  return (a === "drain" || a === "down" || a === "up") && typeof (m as AdminMessage).name === "string";
}
