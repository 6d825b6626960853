// The simulator page's script (bundled with uPlot into dist/sim-page.js by
// scripts/build.mjs, so the page itself needs no build step): reads the
// controls (or the permalink's query), runs the model in a Web Worker
// (dist/sim-worker.js), shows each backend's requests live, then the table
// and two uPlot charts. The settings are the CLI's flags (bindings/sim/flags.ts).

import uPlot from "uplot";
// uPlot's stylesheet, bundled as text (scripts/build.mjs) so the page needs no second file.
import uPlotCss from "uplot/dist/uPlot.min.css";
import { ALGORITHMS } from "../../bindings/algorithms.js";
import { type Flag, type FlagValues, flagsFromQuery, flagsToArgs, flagsToQuery } from "../../bindings/sim/flags.js";
import type { AlgorithmResult, Progress } from "../../bindings/sim/model.js";

const DEFAULT_ALGORITHMS = ["least-connections", "power-of-two-choices", "round-robin", "random"];
const LISTS: readonly Flag[] = ["slow", "fail"];
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

const style = document.createElement("style");
style.textContent = uPlotCss;
document.head.append(style);

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const form = $<HTMLFormElement>("settings");
const status = $("status");
let worker: Worker | undefined;
let charts: uPlot[] = [];
let lastResults: AlgorithmResult[] = [];

for (const name of ALGORITHMS) {
  const label = document.createElement("label");
  label.style.display = "inline-flex";
  label.style.flexDirection = "row";
  label.style.marginRight = "1em";
  label.innerHTML = `<input type="checkbox" name="algorithm" value="${name}"> ${name}`;
  $("algorithms").append(label);
}

function input(name: string): HTMLInputElement | HTMLSelectElement {
  return form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;
}

/** The controls' settings as flag values (empty fields are absent: the defaults apply). */
function readControls(): FlagValues {
  const values: FlagValues = {};
  for (const el of Array.from(form.elements) as HTMLInputElement[]) {
    if (el.name === "" || el.name === "algorithm") continue;
    const text = el.value.trim();
    if (text === "") continue;
    const flag = el.name as Flag;
    values[flag] = LISTS.includes(flag) ? text.split(",").map((s) => s.trim()) : text;
  }
  const checked = Array.from(form.querySelectorAll<HTMLInputElement>('input[name="algorithm"]:checked')).map((c) => c.value);
  values.algorithms = checked.join(",");
  return values;
}

/** Shows `values` in the controls; every other control is emptied, so it takes the CLI's default. */
function writeControls(values: FlagValues): void {
  for (const el of Array.from(form.elements) as HTMLInputElement[]) {
    if (el.name !== "" && el.name !== "algorithm") el.value = el.name === "discipline" ? "fifo" : el.name === "tie-break" ? "first" : "";
  }
  for (const [flag, value] of Object.entries(values)) {
    if (flag === "algorithms") continue;
    const el = input(flag);
    if (el !== null) el.value = Array.isArray(value) ? value.join(",") : (value ?? "");
  }
  const algorithms = typeof values.algorithms === "string" ? values.algorithms.split(",") : ALGORITHMS;
  for (const box of Array.from(form.querySelectorAll<HTMLInputElement>('input[name="algorithm"]')))
    box.checked = (algorithms as readonly string[]).includes(box.value);
}

function showCommand(values: FlagValues): void {
  const query = flagsToQuery(values);
  const link = $<HTMLAnchorElement>("permalink");
  link.href = `${location.pathname}?${query}`;
  history.replaceState(null, "", `?${query}`);
  const quote = (s: string): string => (/^[\w.,:-]+$/.test(s) ? s : `'${s}'`);
  $("command").textContent = ["leastconn simulate", ...flagsToArgs(values).map(quote)].join(" ");
}

function drawQueues(inSystem: number[]): void {
  const box = $("queues");
  if (box.children.length !== inSystem.length) {
    box.replaceChildren(
      ...inSystem.map((_, i) => {
        const bar = document.createElement("div");
        bar.innerHTML = `<span>b${i}</span>`;
        return bar;
      }),
    );
  }
  const top = Math.max(10, ...inSystem);
  inSystem.forEach((n, i) => {
    const bar = box.children[i] as HTMLElement;
    bar.style.height = `${(100 * n) / top}%`;
    bar.title = `b${i}: ${n} requests`;
  });
}

function drawCharts(results: AlgorithmResult[]): void {
  for (const c of charts) c.destroy();
  charts = [];
  const width = Math.max(300, $("cdf").clientWidth || 500);
  // Latency by percentile: x is the number of nines (0.9 → 1, 0.99 → 2), so the tail gets room.
  const qs = results[0]!.quantiles!.filter(([q]) => q < 1);
  const x = qs.map(([q]) => -Math.log10(1 - q));
  const cdfData: uPlot.AlignedData = [x, ...results.map((r) => r.quantiles!.filter(([q]) => q < 1).map(([, ms]) => Math.max(ms, 0.001)))];
  charts.push(
    new uPlot(
      {
        width,
        height: 300,
        scales: { x: { time: false }, y: { distr: 3 } },
        axes: [
          {
            label: "percentile",
            splits: () => [0, 1, 2, 3, 4],
            values: (_u, ticks) => ticks.map((t) => ["p0", "p90", "p99", "p99.9", "p99.99"][t] ?? ""),
          },
          { label: "ms" },
        ],
        series: [{ label: "nines" }, ...results.map((r, i) => ({ label: r.algorithm, stroke: COLORS[i % COLORS.length], width: 2 }))],
      },
      cdfData,
      $("cdf"),
    ),
  );
  const select = $<HTMLSelectElement>("load-algorithm");
  const chosen = results.find((r) => r.algorithm === select.value) ?? results[0]!;
  select.replaceChildren(...results.map((r) => new Option(r.algorithm, r.algorithm, false, r === chosen)));
  const load = chosen.load!;
  charts.push(
    new uPlot(
      {
        width,
        height: 300,
        scales: { x: { time: false } },
        axes: [{ label: "simulated ms" }, { label: "requests in backend" }],
        series: [{ label: "ms" }, ...load.n.map((_, i) => ({ label: `b${i}`, stroke: COLORS[i % COLORS.length], width: 1 }))],
      },
      [load.t, ...load.n],
      $("load"),
    ),
  );
}

function run(values: FlagValues): void {
  worker?.terminate();
  document.body.dataset.state = "running";
  status.className = "";
  status.textContent = "starting";
  $("table").textContent = "";
  showCommand(values);
  worker = new Worker(new URL("./sim-worker.js", import.meta.url), { type: "module" });
  worker.onmessage = (event: MessageEvent) => {
    const msg = event.data;
    if (msg.type === "progress") {
      const p = msg as Progress & { requests: number; algorithms: number };
      status.textContent = `running ${p.algorithm}: ${p.sent}/${p.requests} (${p.index + 1} of ${p.algorithms}), ${p.nowMs.toFixed(0)} simulated ms`;
      drawQueues(p.inSystem);
    } else if (msg.type === "done") {
      lastResults = msg.results;
      $("table").textContent = msg.table;
      status.textContent = `done, digest ${msg.digest}`;
      drawCharts(lastResults);
      document.body.dataset.state = "done";
      worker?.terminate();
    } else {
      status.className = "error";
      status.textContent = msg.message;
      document.body.dataset.state = "error";
    }
  };
  worker.onerror = (event) => {
    status.className = "error";
    status.textContent = `the worker failed: ${event.message}`;
    document.body.dataset.state = "error";
  };
  worker.postMessage({ flags: values });
}

$("load-algorithm").addEventListener("change", () => {
  if (lastResults.length > 0) drawCharts(lastResults);
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  run(readControls());
});

try {
  if (location.search.length > 1) {
    writeControls(flagsFromQuery(location.search));
    run(readControls());
  } else {
    for (const box of Array.from(form.querySelectorAll<HTMLInputElement>('input[name="algorithm"]')))
      box.checked = DEFAULT_ALGORITHMS.includes(box.value);
  }
} catch (err) {
  status.className = "error";
  status.textContent = err instanceof Error ? err.message : String(err);
}
