// The simulator's printed forms, shared by the CLI, the page and the
// conformance tests: the table (one row per algorithm, sorted by p99), the
// --json document and the digest over a whole run.

import type { AlgorithmResult } from "./model.js";
import { formatService, type ModelConfig } from "./spec.js";

/** Rows in table order: by p99, then p99.9, then mean; the configuration's order last. */
export function sortByP99(results: AlgorithmResult[]): AlgorithmResult[] {
  return results
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.p99_ms - b.r.p99_ms || a.r.p999_ms - b.r.p999_ms || a.r.mean_ms - b.r.mean_ms || a.i - b.i)
    .map((x) => x.r);
}

/** FNV-1a over every algorithm's digest, in the configuration's order. */
export function runDigest(results: AlgorithmResult[]): string {
  let h = 0x811c9dc5;
  for (const r of results) for (let i = 0; i < r.digest.length; i++) h = Math.imul(h ^ r.digest.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** One line naming the model, as the table's title. */
export function describeModel(m: ModelConfig): string {
  const parts = [
    `${m.backends} backend${m.backends === 1 ? "" : "s"} x ${m.servers} ${m.discipline === "ps" ? "processor-sharing" : "FIFO"} server${m.servers === 1 ? "" : "s"}`,
    formatService(m.service),
  ];
  for (const s of m.slow) parts.push(`b${s.index} ${s.factor}x slower`);
  for (const f of m.failures) parts.push(`b${f.index} fails ${f.startMs}-${f.endMs} ms`);
  parts.push(m.clients > 0 ? `${m.clients} clients, think ${m.thinkMs} ms` : `utilization ${m.utilization}`);
  if (m.balancers > 1) parts.push(`${m.balancers} balancers`);
  if (m.staleMs > 0) parts.push(`counts ${m.staleMs} ms stale`);
  if (m.tieBreak === "rotate") parts.push("ties rotate");
  if (m.maxConnections !== undefined) parts.push(`max ${m.maxConnections} connections`);
  if (m.queue !== undefined) parts.push(`queue ${m.queue.limit}, timeout ${m.queue.timeoutMs} ms`);
  if (m.ejection !== undefined) parts.push(`ejection ${JSON.stringify(m.ejection)}`);
  if (m.slowStart !== undefined) parts.push(`slow start ${JSON.stringify(m.slowStart)}`);
  if (m.decayMs !== undefined) parts.push(`decay ${m.decayMs} ms`);
  parts.push(`${m.requests} requests`, `seed ${m.seed}`);
  return parts.join(", ");
}

const fixed3 = (x: number): string => x.toFixed(3);
const percent = (x: number): string => (100 * x).toFixed(1);

/** The table the CLI prints and the page shows, byte for byte. */
export function formatTable(m: ModelConfig, results: AlgorithmResult[]): string {
  const header = ["algorithm", "mean ms", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "shed", "failed", "max queue", "busiest %"];
  // Columns for the Balancer's own queue and ejection, only when they are on.
  if (m.queue !== undefined) header.push("timeouts");
  if (m.ejection !== undefined) header.push("ejections");
  const rows = sortByP99(results).map((r) => [
    r.algorithm,
    fixed3(r.mean_ms),
    fixed3(r.p50_ms),
    fixed3(r.p99_ms),
    fixed3(r.p999_ms),
    fixed3(r.max_ms),
    String(r.shed),
    String(r.failed),
    String(Math.max(...r.backends.map((b) => b.max_queue))),
    percent(Math.max(...r.backends.map((b) => b.share))),
    ...(m.queue !== undefined ? [String(r.timeouts)] : []),
    ...(m.ejection !== undefined ? [String(r.ejections)] : []),
  ]);
  const lines = [describeModel(m), ""];
  lines.push(...columns([header, ...rows]));
  // Per-backend blocks only where they fit a terminal's width.
  if (m.backends <= 16) {
    lines.push("", "share % per backend:");
    const shareRows = sortByP99(results).map((r) => [r.algorithm, ...r.backends.map((b) => percent(b.share))]);
    lines.push(...columns([["algorithm", ...results[0]!.backends.map((b) => b.name)], ...shareRows]));
    lines.push("", "utilization % per backend:");
    const busyRows = sortByP99(results).map((r) => [r.algorithm, ...r.backends.map((b) => percent(b.utilization))]);
    lines.push(...columns([["algorithm", ...results[0]!.backends.map((b) => b.name)], ...busyRows]));
  }
  lines.push("", `digest ${runDigest(results)}`);
  return lines.join("\n") + "\n";
}

function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}

/** The --json document: {"results": [...]} in table order, plus the run's digest. */
export function formatJson(results: AlgorithmResult[]): string {
  const strip = (r: AlgorithmResult): AlgorithmResult => {
    const { quantiles: _q, load: _l, ...rest } = r;
    return rest;
  };
  return JSON.stringify({ results: sortByP99(results).map(strip), digest: runDigest(results) }) + "\n";
}
