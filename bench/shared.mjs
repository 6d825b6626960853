// `node bench/shared.mjs`: what the shared-memory mode costs. Nanoseconds
// per acquire+release through the public Balancer (least-connections) for
// a private table, a shared table used by one thread, and one shared table
// hammered by two threads at once (next to two threads on two private
// tables, which shows what two threads cost on this machine without
// sharing). Two more rows: the shared table before dead-thread safety (commit
// a371bb6, built on first use by bench/baseline.mjs: no per-thread lease
// rows, ownerless lock), so what dead-thread safety costs is a ratio from the
// same run, and two threads picking round-robin (the cursor moves by
// compare-and-swap, contended). Rewrites the text between the bench:shared
// markers of docs/RUNTIMES.md (`--dry-run` prints only). Needs `npm run
// build`. Not part of `npm test`; about a minute.
//
// Timing: every configuration runs in worker_threads (one or two), each
// timing its own loop with performance.now() after a warm-up; both threads
// start together at a gate. A pass's figure is the mean ns per pair of its
// threads (wall time: waiting for a contended cache line is the cost being
// measured); a cell shows the best pass, the least disturbed by other load,
// and the median. Hand-rolled rather than tinybench
// because the measurement is of two threads running at once.

import { execFileSync } from "node:child_process";
import os from "node:os";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { baseline } from "./baseline.mjs";
import { writeSection } from "./section.mjs";

const SIZES = [3, 64];
const PASSES = 21;
const PAIRS = 1_000_000;
const WARMUP_PAIRS = 200_000;
const DOC = new URL("../docs/RUNTIMES.md", import.meta.url);
const CONFIGS = [
  { label: "private table, 1 thread", table: "private", threads: 1 },
  { label: "shared table, 1 thread", table: "shared", threads: 1 },
  { label: "shared table, 1 thread, before dead-thread safety (a371bb6)", table: "previous", threads: 1 },
  { label: "two private tables, 2 threads", table: "private", threads: 2 },
  { label: "one shared table, 2 threads", table: "shared", threads: 2 },
  { label: "one shared table, 2 threads, round-robin (cursor by CAS)", table: "shared", threads: 2, algorithm: "round-robin" },
];
// The main thread builds the baseline (once; then it is cached) before any worker imports it.
const LIBRARIES = { shared: new URL("../dist/shared.js", import.meta.url).href, previous: await baseline("shared") };

if (isMainThread) await main();
else await worker(workerData);

async function worker({ table, size, handle, gate, algorithm }) {
  const names = Array.from({ length: size }, (_, i) => `b${i}`);
  let balancer;
  if (table in LIBRARIES) {
    const { attachShared } = await import(LIBRARIES[table]);
    balancer = attachShared(handle, { clock: () => 0 });
    if (algorithm) balancer.algorithm = algorithm;
  } else {
    const { Balancer } = await import("../dist/index.js");
    balancer = new Balancer({ backends: names, clock: () => 0 });
  }
  for (let i = 0; i < WARMUP_PAIRS; i++) balancer.acquire().release();
  Atomics.add(gate, 1, 1);
  Atomics.wait(gate, 0, 0);
  const start = performance.now();
  for (let i = 0; i < PAIRS; i++) balancer.acquire().release();
  const ns = ((performance.now() - start) * 1e6) / PAIRS;
  parentPort.postMessage(ns);
}

async function pass(config, size) {
  let handle;
  if (config.table in LIBRARIES) {
    const { createShared } = await import(LIBRARIES[config.table]);
    handle = createShared({ backends: Array.from({ length: size }, (_, i) => `b${i}`) }).handle;
  }
  const gate = new Int32Array(new SharedArrayBuffer(8));
  const workers = Array.from(
    { length: config.threads },
    () => new Worker(new URL(import.meta.url), { workerData: { table: config.table, size, handle, gate, algorithm: config.algorithm } }),
  );
  const results = workers.map((w) => new Promise((resolve, reject) => w.once("message", resolve).once("error", reject)));
  while (Atomics.load(gate, 1) < config.threads) await new Promise((r) => setTimeout(r, 1));
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  const ns = await Promise.all(results);
  await Promise.all(workers.map((w) => w.terminate()));
  return ns.reduce((a, b) => a + b, 0) / ns.length;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function fmt(ns) {
  return ns >= 100 ? ns.toFixed(0) : ns.toFixed(1);
}

async function main() {
  const { values: args } = parseArgs({ options: { "dry-run": { type: "boolean", default: false } } });
  const started = performance.now();
  const loadBefore = os.loadavg()[0];
  // Passes interleave the configurations, so a burst of load elsewhere on
  // the machine hits every row alike rather than one.
  const samples = CONFIGS.map(() => SIZES.map(() => []));
  for (let p = 0; p < PASSES; p++) {
    for (const [c, config] of CONFIGS.entries()) {
      for (const [s, size] of SIZES.entries()) samples[c][s].push(await pass(config, size));
    }
  }
  const rows = CONFIGS.map((config, c) => ({
    config,
    cells: samples[c].map((passes) => ({ best: Math.min(...passes), median: median(passes) })),
  }));
  const base = rows[0].cells;
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  const cpu = os.cpus()[0]?.model.trim() ?? "unknown CPU";
  const lines = [
    `Machine: ${cpu}, ${os.availableParallelism()} CPUs, ${process.platform}/${process.arch}; Node ${process.version}. ` +
      `Commit ${commit}, ${new Date().toISOString().slice(0, 10)}; the run took ${((performance.now() - started) / 1000).toFixed(0)} s; ` +
      `1-minute load average ${loadBefore.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after.`,
    "",
    `Nanoseconds per acquire+release (least-connections unless the row says otherwise, \`b.acquire().release()\`), per thread: the best and the median ` +
      `of ${PASSES} passes of ${PAIRS.toLocaleString("en")} pairs, the configurations interleaved pass by pass; in brackets, ` +
      `the best ÷ the best of the private table with one thread at the same n. With two threads the pairs per second of the ` +
      `whole process are twice a thread's.`,
    "",
    `| configuration | ${SIZES.map((n) => `n=${n} best | median`).join(" | ")} |`,
    `|---|${SIZES.map(() => "---:|---:").join("|")}|`,
    ...rows.map(
      (r) =>
        `| ${r.config.label} | ${r.cells.map((c, i) => `${fmt(c.best)} (${(c.best / base[i].best).toFixed(1)}×) | ${fmt(c.median)}`).join(" | ")} |`,
    ),
  ];
  // The target: the shared table within 1.2x the build before dead-thread
  // safety. Per pass the two rows ran moments apart, so the median of the
  // per-pass ratios is the figure least moved by load elsewhere.
  const [shared, previous] = ["shared", "previous"].map((t) => CONFIGS.findIndex((c) => c.table === t && c.threads === 1));
  const ratios = SIZES.map((n, s) => {
    const perPass = median(samples[shared][s].map((ns, p) => ns / samples[previous][s][p]));
    const best = rows[shared].cells[s].best / rows[previous].cells[s].best;
    return `n=${n} ${perPass.toFixed(2)}× (best ÷ best ${best.toFixed(2)}×)`;
  });
  lines.push("", `Shared table, 1 thread ÷ before dead-thread safety, the median of the ${PASSES} per-pass ratios: ${ratios.join("; ")}.`);
  const section = lines.join("\n");
  console.log(section);
  if (args["dry-run"]) return;
  writeSection(DOC, "shared", section);
  console.log("\nwrote docs/RUNTIMES.md");
}
