// bench:client — leastconn/undici's LeastConnDispatcher against undici's
// BalancedPool and a plain Pool per origin chosen round-robin, over three
// local origins served by a child process (so the origins' work does not
// share the clients' event loop). Two scenarios, every subject in the same
// process and the same run, passes interleaved:
//   (a) instant: every origin answers at once; time per request.
//   (b) one slow origin (+SLOW_MS per answer); p99 latency.
// Rewrites its section of docs/BENCHMARKS.md. A benchmark, not a test:
// `npm run bench:client`.

import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { BalancedPool, Pool } from "undici";
import { LeastConnDispatcher } from "../dist/undici.js";
import { writeSection } from "./section.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const PASSES = 5;
const A_REQUESTS = 10_000;
const B_REQUESTS = 2_000;
const CONCURRENCY = 32;
const SLOW_MS = 100;
const CONNECTIONS = 32; // per origin, every subject alike

// The origins: a child process running three node:http servers; the slow
// one is slow only when the request says so (?slow=1), so both scenarios
// share the same origins and connections.
const ORIGINS = `
  const { createServer } = require("node:http");
  const ports = [];
  let pending = 3;
  for (let i = 0; i < 3; i++) {
    const s = createServer((req, res) => {
      const slow = i === 2 && req.url.includes("slow=1");
      const answer = () => res.end("ok");
      if (slow) setTimeout(answer, ${SLOW_MS}); else answer();
    });
    s.keepAliveTimeout = 60000;
    s.listen(0, "127.0.0.1", () => { ports[i] = s.address().port; if (--pending === 0) console.log(ports.join(",")); });
  }`;

async function startOrigins() {
  const child = spawn(process.execPath, ["-e", ORIGINS], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise((ok) => createInterface({ input: child.stdout }).once("line", ok));
  return { child, urls: line.split(",").map((p) => `http://127.0.0.1:${p}`) };
}

class RoundRobinPools {
  constructor(urls) {
    this.pools = urls.map((u) => new Pool(u, { connections: CONNECTIONS }));
    this.next = 0;
  }
  request(opts) {
    const pool = this.pools[this.next];
    this.next = (this.next + 1) % this.pools.length;
    return pool.request(opts);
  }
  close() {
    return Promise.all(this.pools.map((p) => p.close()));
  }
}

/** `total` requests, CONCURRENCY at a time; returns wall ms and every latency. */
async function drive(subject, total, path) {
  const latencies = new Float64Array(total);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        const res = await subject.request({ path, method: "GET" });
        await res.body.dump();
        latencies[i] = performance.now() - s;
      }
    }),
  );
  return { ms: performance.now() - t0, latencies };
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const load0 = loadavg()[0];
const started = Date.now();
const { child, urls } = await startOrigins();
const subjects = {
  LeastConnDispatcher: new LeastConnDispatcher(urls, { connections: CONNECTIONS }),
  "undici BalancedPool": new BalancedPool(urls, { connections: CONNECTIONS }),
  "Pool per origin, round-robin": new RoundRobinPools(urls),
};
const names = Object.keys(subjects);
const perRequest = Object.fromEntries(names.map((n) => [n, []])); // (a) µs per request, per pass
const slowLatencies = Object.fromEntries(names.map((n) => [n, []])); // (b) every latency
const slowShare = Object.fromEntries(names.map((n) => [n, 0]));
try {
  // Warm-up: connections opened, code paths compiled.
  for (const n of names) await drive(subjects[n], 2_000, "/warm");
  for (let pass = 0; pass < PASSES; pass++) {
    // Rotate the order pass by pass, so no subject always runs first.
    const order = names.map((_, i) => names[(i + pass) % names.length]);
    for (const n of order) {
      const a = await drive(subjects[n], A_REQUESTS, "/a");
      perRequest[n].push((a.ms * 1000) / A_REQUESTS);
    }
    for (const n of order) {
      const b = await drive(subjects[n], B_REQUESTS, "/b?slow=1");
      slowLatencies[n].push(...b.latencies);
      const share = b.latencies.filter((l) => l >= SLOW_MS).length / B_REQUESTS;
      slowShare[n] += share / PASSES;
    }
  }
} finally {
  await Promise.all(Object.values(subjects).map((s) => s.close()));
  child.kill();
}

const base = "undici BalancedPool";
const aBase = median(perRequest[base]);
const p = Object.fromEntries(
  names.map((n) => {
    const sorted = Float64Array.from(slowLatencies[n]).sort();
    return [n, { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) }];
  }),
);
const rows = names.map((n) => {
  const a = median(perRequest[n]);
  return `| ${n} | ${a.toFixed(1)} µs | ${(a / aBase).toFixed(2)}× | ${p[n].p50.toFixed(1)} ms | ${p[n].p99.toFixed(1)} ms | ${(p[base].p99 / p[n].p99).toFixed(1)}× lower | ${(slowShare[n] * 100).toFixed(1)}% |`;
});
const ours = names[0];
const aRatio = median(perRequest[ours]) / aBase;
const bRatio = p[base].p99 / p[ours].p99;
const table = [
  `Machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} CPUs, ${process.platform}/${process.arch}; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}; the run took ${Math.round((Date.now() - started) / 1000)} s; 1-minute load average ${load0.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after (a machine shared with other jobs).`,
  "",
  `Three origins on 127.0.0.1 in a child process; ${CONCURRENCY} requests in flight; ${CONNECTIONS} connections per origin for every subject; ${PASSES} passes, subjects interleaved and rotated. (a) ${A_REQUESTS.toLocaleString("en-US")} requests per pass, all origins instant: median µs per request (wall ÷ requests). (b) ${B_REQUESTS.toLocaleString("en-US")} requests per pass, one origin answering ${SLOW_MS} ms late: latency quantiles over all passes, and the share of requests that took at least ${SLOW_MS} ms (those the slow origin answered).`,
  "",
  `| subject | (a) per request | (a) ÷ BalancedPool | (b) p50 | (b) p99 | (b) p99 vs BalancedPool | (b) requests ≥ ${SLOW_MS} ms |`,
  "|---|---:|---:|---:|---:|---:|---:|",
  ...rows,
  "",
  `Targets: (a) ≤ 1.1× BalancedPool: ${aRatio <= 1.1 ? "met" : "not met"} (${aRatio.toFixed(2)}×); (b) p99 ≥ 2× lower than BalancedPool's: ${bRatio >= 2 ? "met" : "not met"} (${bRatio.toFixed(1)}×).`,
].join("\n");
console.log(table);

writeSection(join(root, "docs", "BENCHMARKS.md"), "client", `\`npm run bench:client\` (bench/client.mjs).\n\n${table}`);
