// superviseThreads (cli/proxy/workers.ts) over a real shared table, with
// stand-in threads that attach to it as the proxy's threads do: a thread
// that dies holding leases gives them back before its replacement starts,
// replacements back off while they keep dying, a thread that fails before
// any has listened stops the process with its code, and SIGTERM ends it
// with 0 once every thread has gone. One test runs real worker threads
// (node:worker_threads over dist/shared.js), one of which dies of an
// uncaught error while holding leases.

import { EventEmitter } from "node:events";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { attachShared, createShared, type SharedBalancer } from "../../bindings/shared.js";
import { loadConfig, parseFlags } from "../../cli/proxy/config.js";
import { HealthChecker } from "../../cli/proxy/health.js";
import { AdminLog, Restarts, superviseThreads, type ThreadLike, threadConfig } from "../../cli/proxy/workers.js";
import { backend, until } from "./helpers.js";

class Thread extends EventEmitter implements ThreadLike {
  readonly told: unknown[] = [];
  constructor(
    readonly index: number,
    readonly balancer: SharedBalancer,
  ) {
    super();
  }
  postMessage(m: unknown): void {
    this.told.push(m);
  }
}

function setup(count: number): { table: SharedBalancer; threads: Thread[]; exits: number[]; tell: (s: "SIGHUP" | "SIGTERM") => void } {
  const { balancer: table } = createShared({ backends: ["a", "b"] });
  const threads: Thread[] = [];
  const exits: number[] = [];
  const sup = superviseThreads({
    table,
    count,
    log: pino({ level: "silent" }),
    exit: (code) => exits.push(code),
    spawn: (index, handle) => {
      const t = new Thread(index, attachShared(handle));
      threads.push(t);
      return t;
    },
  });
  return { table, threads, exits, tell: (s) => sup.tell(s) };
}

const actives = (b: SharedBalancer): number[] => b.snapshot().map((x) => x.active);

// A real worker thread, as the proxy's: it attaches (dist/shared.js) with
// the id reserved for it, takes three leases as requests in flight would,
// says "listening", then dies of an uncaught error if told to, or leaves at
// SIGTERM holding its leases (cut off at the drain deadline).
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
import(workerData.shared).then(({ attachShared }) => {
  const b = attachShared(workerData.handle);
  for (let i = 0; i < 3; i++) b.acquire();
  parentPort.on("message", (m) => { if (m === "SIGTERM") process.exit(0); });
  parentPort.postMessage("listening");
  if (workerData.die) setTimeout(() => { throw new Error("died mid-request"); }, 5);
});
`;

afterEach(() => {
  vi.useRealTimers();
});

describe("superviseThreads", () => {
  it("a thread that dies holding leases gives them back, and another takes its place", async () => {
    vi.useFakeTimers();
    const { table, threads, exits } = setup(2);
    expect(threads.map((t) => t.index)).toEqual([0, 1]);
    for (const t of threads) t.emit("message", "listening");
    const mine = [threads[1]!.balancer.acquire()!, threads[1]!.balancer.acquire()!, threads[1]!.balancer.acquire()!];
    const kept = threads[0]!.balancer.acquire()!;
    expect(actives(table)).toEqual([2, 2]);
    expect(mine.length).toBe(3);
    threads[1]!.emit("exit", 1); // died mid-request: its three leases are the table's to give back
    expect(actives(table)).toEqual(["a", "b"].map((name) => (name === kept.backend ? 1 : 0)));
    await vi.advanceTimersByTimeAsync(0); // the first replacement starts at once
    expect(threads.map((t) => t.index)).toEqual([0, 1, 1]);
    kept.release();
    expect(actives(table)).toEqual([0, 0]);
    // Dying again at once: the next replacements wait 100 ms, then 200 ms.
    threads[2]!.emit("exit", 1);
    await vi.advanceTimersByTimeAsync(99);
    expect(threads.length).toBe(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(threads.length).toBe(4);
    threads[3]!.emit("exit", 1);
    await vi.advanceTimersByTimeAsync(199);
    expect(threads.length).toBe(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(threads.map((t) => t.index)).toEqual([0, 1, 1, 1, 1]);
    expect(exits).toEqual([]);
  });

  it("real worker threads: one that dies of an uncaught error holding leases gives them back, and its replacement serves", async () => {
    const { balancer: table } = createShared({ backends: ["a", "b"] });
    const shared = pathToFileURL("dist/shared.js").href;
    const started: number[] = [];
    const exits: number[] = [];
    const sup = superviseThreads({
      table,
      count: 2,
      log: pino({ level: "silent" }),
      exit: (code) => exits.push(code),
      spawn: (index, handle) => {
        started.push(index);
        // The first thread 1 dies; every other thread lives until SIGTERM.
        const die = index === 1 && started.filter((i) => i === 1).length === 1;
        const w = new Worker(WORKER, { eval: true, workerData: { shared, handle, die } });
        w.on("message", (m) => {
          if (m === "listening") listening++;
        });
        return w;
      },
    });
    let listening = 0;
    // Each thread takes 3 before it says "listening": the dead thread's 3
    // were reclaimed, so the three threads that listened leave 6, not 9.
    await until(() => listening === 3, 10_000);
    expect(started).toEqual([0, 1, 1]);
    expect(actives(table).reduce((a, b) => a + b)).toBe(6);
    expect(exits).toEqual([]);
    sup.tell("SIGTERM");
    await until(() => exits.length === 1, 10_000);
    expect(exits).toEqual([0]);
    expect(actives(table)).toEqual([0, 0]);
  });

  it("threadConfig: a replacement thread takes the file as it is, but never other backends than the shared table's", () => {
    const started = loadConfig(parseFlags(["--backend", "http://127.0.0.1:1", "--backend", "http://127.0.0.1:2"]));
    const table = ["127.0.0.1:1", "127.0.0.1:2"];
    const reloaded = { ...started, algorithm: "round-robin" };
    // An accepted reload (same backends, another algorithm): taken as it is.
    expect(threadConfig(() => reloaded, started, table)).toEqual({ cfg: reloaded, fallback: null });
    // A refused one (a backend added): the file's algorithm, the table's backends.
    const added = { ...reloaded, backends: [...started.backends, { url: "http://127.0.0.1:3" }] };
    const t = threadConfig(() => added, started, table);
    expect([t.cfg.algorithm, t.cfg.backends, t.fallback]).toEqual([
      "round-robin",
      started.backends,
      "the config file names other backends than the shared table (fixed while shared): the table's",
    ]);
    // A file that no longer loads: everything the table was built from.
    const broken = threadConfig(
      () => {
        throw new Error("Unexpected token");
      },
      started,
      table,
    );
    expect(broken.cfg).toBe(started);
    expect(broken.fallback).toMatch(
      /^the config file does not load now \(.*Unexpected token.*\): the configuration the proxy started with$/,
    );
  });

  it("an operator's actions reach a replacement thread once it listens: the last per backend, in order", async () => {
    vi.useFakeTimers();
    const { threads } = setup(2);
    for (const t of threads) t.emit("message", "listening");
    threads[0]!.emit("message", { leastconnAdmin: "down", name: "a" });
    threads[0]!.emit("message", { leastconnAdmin: "down", name: "b" });
    threads[0]!.emit("message", { leastconnAdmin: "up", name: "a" });
    threads[0]!.emit("exit", 1);
    await vi.advanceTimersByTimeAsync(0);
    const replacement = threads[2]!;
    expect(replacement.told).toEqual([]); // not before it is ready
    replacement.emit("message", "listening");
    expect(replacement.told).toEqual([
      { leastconnAdmin: "down", name: "b" },
      { leastconnAdmin: "up", name: "a" },
    ]);
    // The first threads are told nothing of it (they applied it, or share the table).
    expect(threads[1]!.told).toEqual([]);
    const log = new AdminLog();
    log.record({ leastconnAdmin: "drain", name: "x" });
    expect(log.replay()).toEqual([{ leastconnAdmin: "drain", name: "x" }]);
  });

  it("HealthChecker: a target that starts unhealthy (down in a shared table already) is brought back by passing checks", async () => {
    const b = await backend((_req, res) => res.end("ok"));
    const ups: string[] = [];
    const checker = new HealthChecker(
      { path: "/health", intervalMs: 20, timeoutMs: 500, rise: 2, fall: 2 },
      { down: () => {}, up: (name) => ups.push(name), managed: () => true },
      pino({ level: "silent" }),
    );
    checker.setTargets([
      { name: "was-down", url: b.url, healthy: false },
      { name: "fresh", url: b.url },
    ]);
    expect([checker.healthy("was-down"), checker.healthy("fresh")]).toEqual([false, true]);
    checker.start();
    try {
      await until(() => ups.length > 0, 3_000);
      expect(ups).toEqual(["was-down"]); // a healthy one passing is no recovery
      expect(checker.healthy("was-down")).toBe(true);
    } finally {
      checker.stop();
      await b.close();
    }
  });

  it("a first thread that exits before it is ready stops the process, even when another already listens (the admin port taken)", () => {
    const { threads, exits } = setup(2);
    threads[1]!.emit("message", "listening");
    threads[0]!.emit("exit", 2); // thread 0 could not bind the admin port
    expect(exits).toEqual([2]);
    expect(threads.length).toBe(2); // no replacement
  });

  it("a thread that fails before any has listened stops the process with its code", () => {
    const { threads, exits } = setup(2);
    threads[0]!.emit("exit", 2);
    expect(exits).toEqual([2]);
    expect(threads.length).toBe(2); // no replacement
  });

  it("SIGHUP and SIGTERM are passed on; after SIGTERM the last exit ends the process with 0", () => {
    const { table, threads, exits, tell } = setup(2);
    for (const t of threads) t.emit("message", "listening");
    threads[0]!.balancer.acquire();
    tell("SIGHUP");
    tell("SIGTERM");
    expect(threads.map((t) => t.told)).toEqual([
      ["SIGHUP", "SIGTERM"],
      ["SIGHUP", "SIGTERM"],
    ]);
    threads[0]!.emit("exit", 0); // cut off at the drain deadline, one lease still held
    expect([exits, actives(table).reduce((p, q) => p + q)]).toEqual([[], 0]);
    threads[1]!.emit("exit", 0);
    expect([exits, threads.length]).toEqual([[0], 2]);
  });

  it("Restarts: 0 for the first exit, then 100 ms doubling to 10 s while exits come within 10 s; 0 again after a quiet 10 s", () => {
    vi.useFakeTimers();
    const r = new Restarts();
    const delays = Array.from({ length: 10 }, () => r.next());
    expect(delays).toEqual([0, 100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000]);
    vi.advanceTimersByTime(10_000);
    expect(r.next()).toBe(0);
  });
});
