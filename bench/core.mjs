// `npm run bench:core`: nanoseconds per acquire+release through the public
// Balancer, next to the reference Map scan and a plain Int32Array scan, all in
// this one process; then the raw Wasm exports, the other algorithms, the
// artifact sizes and the performance targets. Prints the section and rewrites
// the text between the bench:core markers of docs/BENCHMARKS.md
// (`--dry-run` prints only). Not part of `npm test`; about 1.5 minutes.
//
// Timing: tinybench, one task per cell and pass. A sample is one batch of
// k calls timed as a whole (k sized so a batch takes ~BATCH_MS), because a
// single call is shorter than the timer's own cost. Each row runs in its
// own module instance (see subjects.mjs) so no call site is shared between
// implementations.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { Bench } from "tinybench";
import { ALGORITHMS } from "../dist/index.js";
import { writeSection } from "./section.mjs";

// --only main,algorithms,limits runs those sections (and only prints);
// --algorithms a,b runs only those rows of "algorithms" (least-connections,
// the reference, always runs).
const { values: args } = parseArgs({
  options: {
    "dry-run": { type: "boolean", default: false },
    only: { type: "string", default: "main,algorithms,limits" },
    algorithms: { type: "string" },
  },
});
const SECTIONS = new Set(args.only.split(","));
const ROW_ALGORITHMS =
  args.algorithms === undefined
    ? ALGORITHMS
    : ALGORITHMS.filter((a) => a === "least-connections" || args.algorithms.split(",").includes(a));
const partial = ["main", "algorithms", "limits"].some((s) => !SECTIONS.has(s)) || args.algorithms !== undefined;

const SIZES = [3, 64, 1024, 100_000];
const ALGORITHM_SIZES = [64, 100_000];
const SCENARIOS = ["strict", "held"];
const PASSES = 7;
const BATCH_MS = 2;
const FIRST_WARMUP_MS = 100;
const WARMUP_MS = 20;
const RUN_MS = 80;
const MIN_BATCHES = 10;
/** The performance targets through the public API: ns per acquire+release. */
const TARGET_NS = new Map([
  [3, 10],
  [100_000, 150],
]);
const WASM_BUDGET = 6144;
/** Issue 7: these algorithms within this factor of least-connections at n = 100,000 (same rows, same run). */
const ALGORITHM_FACTOR = 2;
const FACTOR_ALGORITHMS = ["power-of-two-choices", "random", "weighted-least-connections"];
/** Limits: acquire+release with limits set (none reached) within this factor of the previous build. */
const LIMITS_FACTOR = 1.2;
const LIMIT_SIZES = [3, 100_000];
/** Per backend: never reached in these rows (counts stay at most 2), so nothing queues. */
const LIMIT = 100;

const MAIN_ROWS = [
  { label: "Balancer API, constant clock", kind: "api", options: { clock: "constant" } },
  { label: "Balancer API, default clock", kind: "api", options: { clock: "default" } },
  { label: "raw core exports (build/core.wasm)", kind: "raw" },
  { label: "JS Int32Array scan", kind: "array" },
  { label: "reference Map scan", kind: "seed" },
];

const root = new URL("../", import.meta.url);
const started = performance.now();
let instances = 0;

// A fresh copy of subjects.mjs (and through it of the bundle and baselines).
function freshSubjects(label) {
  instances++;
  return import(new URL(`./subjects.mjs?row=${instances}-${encodeURIComponent(label)}`, import.meta.url).href);
}

let sink = 0;
const clockMs = () => Number(process.hrtime.bigint()) / 1e6;
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

// Batch size for `run`, so a batch takes ~BATCH_MS. One-time work (the
// core builds its tree on the first pick at n > 32) must not size it: a
// first batch of 1 that took a millisecond once made every later batch a
// single call, and the 2 µs cpuUsage() read then added ~1,300 ns per call.
function batchSize(run) {
  for (let i = 0; i < 3; i++) sink += run(1);
  let k = 1;
  let ms = 0;
  for (;;) {
    const t0 = clockMs();
    sink += run(k);
    ms = clockMs() - t0;
    if (ms >= 1 || k >= 1 << 26) break;
    k *= 2;
  }
  k = Math.max(1, Math.round((k * BATCH_MS) / ms));
  const t0 = clockMs();
  sink += run(k);
  return Math.max(1, Math.round((k * BATCH_MS) / (clockMs() - t0)));
}

// ns per call over one pass: the mean, not the median batch, because a
// scavenge lands in a few batches only and the median would drop the cost of
// every allocation (a power-of-two-choices lease: 290 ns median, 630 ns mean).
// Batches are timed in process CPU time: it counts the GC's helper threads
// but not the time this process waits for a core on a shared machine, which
// otherwise swung pass means by 2x. Other noise is left to the median across
// passes.
function measure(run, k, warmupMs) {
  const bench = new Bench({
    time: RUN_MS,
    iterations: MIN_BATCHES,
    warmupTime: warmupMs,
    warmupIterations: 3,
  });
  bench.add(
    "batch",
    () => {
      const t0 = cpuMs();
      sink += run(k);
      const elapsed = cpuMs() - t0;
      return { overriddenDuration: elapsed / k, overriddenIterationCost: elapsed };
    },
    { async: false },
  );
  bench.runSync();
  const result = bench.tasks[0].result;
  if (result.state !== "completed") throw new Error(`benchmark ${result.state}: ${result.error ?? ""}`);
  return result.latency.mean * 1e6;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function progress(text) {
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${text}\n`);
}

// Every implementation must make the same picks, or the comparison is void.
async function checkSamePicks() {
  for (const n of [5, 64, 1000]) {
    for (const scenario of SCENARIOS) {
      const steps = Math.min(3 * n, 2000);
      const traces = [];
      for (const { kind, options } of MAIN_ROWS) {
        const { subject } = await freshSubjects(`check-${kind}`);
        traces.push([kind, subject(kind, n, scenario, options).trace(steps).join(",")]);
      }
      const differing = traces.filter(([, t]) => t !== traces[0][1]).map(([kind]) => kind);
      if (differing.length > 0) {
        throw new Error(`n=${n} ${scenario}: ${differing.join(", ")} pick differently from ${traces[0][0]}`);
      }
    }
  }
}

// Cells run n by n, and PASSES times round each n's cells, so a burst of
// load from elsewhere on the machine lands on one pass of many rows rather
// than on every pass of one row; a cell's figure is its median pass.
async function measureAll(rows) {
  for (const row of rows) {
    row.subjects = await freshSubjects(`${row.label}-${row.scenario}`);
    row.ns = new Map();
    row.spread = new Map();
    row.passes = new Map();
  }
  for (const n of SIZES) {
    const cells = rows
      .filter((row) => row.sizes.includes(n))
      .map((row) => ({ row, run: row.subjects.subject(row.kind, n, row.scenario, row.options).run, passes: [] }));
    for (const cell of cells) cell.k = batchSize(cell.run);
    progress(`n=${formatN(n)}: ${cells.length} cells set up`);
    for (let pass = 0; pass < PASSES; pass++) {
      for (const cell of cells) cell.passes.push(measure(cell.run, cell.k, pass === 0 ? FIRST_WARMUP_MS : WARMUP_MS));
    }
    for (const { row, passes } of cells) {
      const mid = median(passes);
      row.ns.set(n, mid);
      row.passes.set(n, passes);
      row.spread.set(n, (Math.max(...passes) - Math.min(...passes)) / mid);
    }
    progress(`n=${formatN(n)}: measured`);
  }
}

function formatNs(ns) {
  if (ns < 100) return ns.toFixed(1);
  return Math.round(ns).toLocaleString("en-US");
}

const formatN = (n) => n.toLocaleString("en-US");

function formatRatio(r) {
  if (r >= 100) return `${Math.round(r).toLocaleString("en-US")}×`;
  return `${r.toFixed(r >= 10 ? 0 : 1)}×`;
}

function cpuModel() {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("model name"));
    if (line) return line.split(":")[1].trim();
  } catch {}
  return os.cpus()[0]?.model ?? "unknown";
}

function revision() {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "assembly", "bindings", "asconfig.json"], {
      cwd: root,
      encoding: "utf8",
    }).trim();
    return dirty ? `${head} with uncommitted core/bindings changes` : head;
  } catch {
    return "unknown";
  }
}

// The working tree is shared: note whether the build changed under the run.
function buildHash() {
  const hash = createHash("sha256");
  for (const file of ["build/core.wasm", "dist/index.js", "dist/index.min.js"]) hash.update(readFileSync(new URL(file, root)));
  return hash.digest("hex");
}

function sizes() {
  const wasm = statSync(new URL("build/core.wasm", root)).size;
  const min = readFileSync(new URL("dist/index.min.js", root));
  return { wasm, min: min.length, minGzip: gzipSync(min, { level: 9 }).length };
}

// ---- run ----

if (SECTIONS.has("main")) {
  progress("checking that every implementation picks the same backends");
  await checkSamePicks();
}

// Read before timing, so they describe the build that was measured.
const hashBefore = buildHash();
const size = sizes();
const commit = revision();
const loadBefore = os.loadavg()[0];
const main = SECTIONS.has("main") ? MAIN_ROWS.flatMap((row) => SCENARIOS.map((scenario) => ({ ...row, scenario, sizes: SIZES }))) : [];
const limitRows = SECTIONS.has("limits")
  ? [
      { label: "previous build (81ed5a9), no limits", kind: "previous", options: { clock: "constant" } },
      { label: "this build, no limits", kind: "api", options: { clock: "constant" } },
      { label: `this build, limit ${LIMIT} on every backend`, kind: "api", options: { clock: "constant", limit: LIMIT } },
    ].flatMap((row) => SCENARIOS.map((scenario) => ({ ...row, scenario, sizes: LIMIT_SIZES })))
  : [];
const algorithms = (SECTIONS.has("algorithms") ? ROW_ALGORITHMS : []).flatMap((algorithm) =>
  SCENARIOS.map((scenario) => ({
    label: algorithm,
    kind: "api",
    options: { clock: "constant", algorithm, weighted: true },
    scenario,
    sizes: ALGORITHM_SIZES,
  })),
);
await measureAll([...main, ...algorithms, ...limitRows]);

// What the default clock saves: one read per synchronous run (until the next microtask checkpoint) instead of per pick.
const dateNowNs = (() => {
  const run = (k) => {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Date.now();
    return sum;
  };
  const k = batchSize(run);
  return median(Array.from({ length: PASSES }, (_, pass) => measure(run, k, pass === 0 ? FIRST_WARMUP_MS : WARMUP_MS)));
})();
const loadAfter = os.loadavg()[0];
const rebuilt = buildHash() !== hashBefore;
if (rebuilt) progress("warning: build/core.wasm or dist/index.js changed during the run; run it again");

const seconds = (performance.now() - started) / 1000;
const seedNs = (scenario, n) => main.find((r) => r.kind === "seed" && r.scenario === scenario).ns.get(n);

function spreadSummary() {
  const all = [...main, ...algorithms, ...limitRows].flatMap((r) => [...r.spread.values()]);
  const pct = (x) => `${Math.round(x * 100)}%`;
  return `${pct(median(all))} typical, ${pct(Math.max(...all))} worst`;
}

// ---- report ----

const lines = [];
if (rebuilt) lines.push("**The build changed during this run: some rows may have timed a different core. Run it again.**", "");
lines.push(
  `Machine: ${cpuModel()}, ${os.availableParallelism()} CPUs (nproc), ${os.platform()}/${os.arch()}; ` +
    `Node ${process.version} (V8 ${process.versions.v8}). Commit ${commit}, ${new Date().toISOString().slice(0, 10)}; ` +
    `the whole run took ${seconds.toFixed(0)} s; 1-minute load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after` +
    (Math.max(loadBefore, loadAfter) > os.availableParallelism() / 2
      ? " (the machine was busy: absolute figures run high, ratios within the run hold better)."
      : "."),
  "",
  `Nanoseconds per acquire+release: process CPU time (all threads, so garbage collection counts and waiting for a core does not), ` +
    `the median over ${PASSES} passes of each pass's mean; ` +
    `pass-to-pass spread (max − min) / median: ${spreadSummary()}. In brackets, the reference Map scan time ` +
    "÷ this time at the same n and scenario (higher is faster). *strict*: `const l = lb.acquire(); l.release();`. " +
    "*held*: ~n/2 leases stay open in a ring and the oldest is released after each acquire.",
  "",
  `| implementation | scenario | ${SIZES.map((n) => `n=${formatN(n)}`).join(" | ")} |`,
  `|---|---|${SIZES.map(() => "---:").join("|")}|`,
);
for (const r of main) {
  const cells = SIZES.map((n) => {
    const ns = r.ns.get(n);
    return r.kind === "seed" ? formatNs(ns) : `${formatNs(ns)} (${formatRatio(seedNs(r.scenario, n) / ns)})`;
  });
  lines.push(`| ${r.label} | ${r.scenario} | ${cells.join(" | ")} |`);
}

const lcNs = (scenario, n) => algorithms.find((r) => r.label === "least-connections" && r.scenario === scenario)?.ns.get(n);
if (algorithms.length > 0) {
  lines.push(
    "",
    "Other algorithms through the API (constant clock; backend i has weight 1 + i mod 4 in these rows, " +
      "least-connections repeated on the same backends for reference). In brackets, this time ÷ least-connections' " +
      "at the same n and scenario:",
    "",
    `| algorithm | scenario | ${ALGORITHM_SIZES.map((n) => `n=${formatN(n)}`).join(" | ")} |`,
    `|---|---|${ALGORITHM_SIZES.map(() => "---:").join("|")}|`,
  );
  for (const r of algorithms) {
    const cells = ALGORITHM_SIZES.map((n) => `${formatNs(r.ns.get(n))} (${formatRatio(r.ns.get(n) / lcNs(r.scenario, n))})`);
    lines.push(`| ${r.label} | ${r.scenario} | ${cells.join(" | ")} |`);
  }
}

const previousRow = (scenario) => limitRows.find((r) => r.kind === "previous" && r.scenario === scenario);
// A row's time ÷ the previous build's, pass by pass (the cells of a pass run
// one after the other, so both figures of a pair share the machine's state
// then), and the median of those ratios: on this VM it moves less from run
// to run than the ratio of the two medians.
const previousRatio = (r, n) => {
  const base = previousRow(r.scenario).passes.get(n);
  return median(r.passes.get(n).map((ns, pass) => ns / base[pass]));
};
if (limitRows.length > 0) {
  lines.push(
    "",
    `Limits (least-connections, constant clock): acquire+release on the build before limits, slow start and peak-ewma ` +
      `(commit 81ed5a9, built by bench/baseline.mjs; the same Balancer API) and on this build, without limits and with a limit of ${LIMIT} set on every ` +
      "backend through the core (never reached: nothing queues). In brackets, the median of the per-pass ratios to the previous build's time:",
    "",
    `| build | scenario | ${LIMIT_SIZES.map((n) => `n=${formatN(n)}`).join(" | ")} |`,
    `|---|---|${LIMIT_SIZES.map(() => "---:").join("|")}|`,
  );
  for (const r of limitRows) {
    const cells = LIMIT_SIZES.map((n) =>
      r.kind === "previous" ? formatNs(r.ns.get(n)) : `${formatNs(r.ns.get(n))} (${formatRatio(previousRatio(r, n))})`,
    );
    lines.push(`| ${r.label} | ${r.scenario} | ${cells.join(" | ")} |`);
  }
}

lines.push("", "Targets:", "", "| target | clock | scenario | measured | met |", "|---|---|---|---:|---|");
for (const [n, target] of TARGET_NS) {
  for (const row of main.filter((r) => r.kind === "api")) {
    const ns = row.ns.get(n);
    lines.push(
      `| ≤ ${target} ns at n=${formatN(n)} | ${row.options.clock} | ${row.scenario} | ${formatNs(ns)} ns | ${ns <= target ? "yes" : "**no**"} |`,
    );
  }
}
const big = ALGORITHM_SIZES.at(-1);
for (const r of algorithms.filter((r) => FACTOR_ALGORITHMS.includes(r.label))) {
  const ratio = r.ns.get(big) / lcNs(r.scenario, big);
  lines.push(
    `| ${r.label} ≤ ${ALGORITHM_FACTOR}× least-connections at n=${formatN(big)} | constant | ${r.scenario} | ${formatRatio(ratio)} | ${ratio <= ALGORITHM_FACTOR ? "yes" : "**no**"} |`,
  );
}
for (const r of limitRows.filter((r) => r.options.limit !== undefined)) {
  for (const n of LIMIT_SIZES) {
    const ratio = previousRatio(r, n);
    lines.push(
      `| limits set ≤ ${LIMITS_FACTOR}× the previous build at n=${formatN(n)} | constant | ${r.scenario} | ${ratio.toFixed(2)}× | ${ratio <= LIMITS_FACTOR ? "yes" : "**no**"} |`,
    );
  }
}
lines.push(
  `| release build/core.wasm ≤ ${formatN(WASM_BUDGET)} bytes | | | ${formatN(size.wasm)} bytes | ${size.wasm <= WASM_BUDGET ? "yes" : "**no**"} |`,
  "",
  `dist/index.min.js: ${formatN(size.min)} bytes minified, ${formatN(size.minGzip)} bytes gzipped (level 9), Wasm deflated (Zopfli) in base-91.`,
  "",
  "Notes: the default clock caches `Date.now()` until the next microtask checkpoint, and a timed batch is one synchronous run, " +
    `so its row shows the cached read; a request that is alone in its run also pays \`Date.now()\` ` +
    `(${formatNs(dateNowNs)} ns per call here) and a \`queueMicrotask\`. ` +
    "The reference Map scan and the Int32Array scan record no totals or timestamps; the API and the core do. " +
    "The Map-scan and Int32Array *held* rings are filled by setting the counts that n/2 acquires would leave " +
    "(a startup check confirms all five implementations make identical picks at n = 5, 64 and 1,000).",
);

const section = lines.join("\n");
console.log(section);
console.error(`(sink ${sink})`);

if (!args["dry-run"] && !partial) {
  writeSection(new URL("docs/BENCHMARKS.md", root), "core", section);
  progress("wrote the bench:core section of docs/BENCHMARKS.md");
}
