// `node bench/queue.mjs`: the cost of a hand-off through the Balancer's wait
// queue, next to a plain acquire+release in the same process. One backend
// with maxConnections 1 is held; W waiters are queued through the
// synchronous _enqueue (acquireAsync's core, without promises or timers);
// each release hands the slot to the head waiter, whose grant releases it
// again at once, so one release serves the whole queue in order. The figure
// is ns per hand-off (release + pick + grant). The target: <= 2 us.
// Rewrites its own section of docs/BENCHMARKS.md (bench:queue).

import os from "node:os";
import { Balancer } from "../dist/index.js";
import { writeSection } from "./section.mjs";

const WAITERS = 100_000;
const ROUNDS = 15;
const TARGET_NS = 2000;

function handoffs() {
  let now = 0;
  const bal = new Balancer({ backends: [{ name: "a", maxConnections: 1 }], clock: () => now, queue: { limit: WAITERS } });
  const first = bal.acquire();
  let served = 0;
  const waiter = {
    // A grant releases at once, handing the slot to the next waiter (drain
    // runs the loop; the nested release does not recurse).
    grant(lease) {
      served++;
      now++;
      lease.release();
    },
    fail(err) {
      throw err;
    },
  };
  for (let i = 0; i < WAITERS; i++) bal._enqueue(waiter);
  const t0 = process.hrtime.bigint();
  first.release();
  const ns = Number(process.hrtime.bigint() - t0);
  if (served !== WAITERS || bal.snapshot().queue.length !== 0 || bal.get("a").active !== 0) throw new Error("not every waiter was served");
  return ns / WAITERS;
}

function pairs() {
  let now = 0;
  const bal = new Balancer({ backends: [{ name: "a", maxConnections: 1 }], clock: () => now });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < WAITERS; i++) {
    now++;
    bal.acquire().release();
  }
  return Number(process.hrtime.bigint() - t0) / WAITERS;
}

// The same through acquireAsync(): a promise, a timeout timer and its
// clearing per waiter; each settled lease is released from its callback.
async function asyncHandoffs(n) {
  const now = 0;
  const bal = new Balancer({ backends: [{ name: "a", maxConnections: 1 }], clock: () => now, queue: { limit: n } });
  const first = bal.acquire();
  const all = [];
  for (let i = 0; i < n; i++) all.push(bal.acquireAsync().then((lease) => lease.release()));
  const t0 = process.hrtime.bigint();
  first.release();
  await Promise.all(all);
  const ns = Number(process.hrtime.bigint() - t0);
  if (bal.get("a").active !== 0) throw new Error("a lease was left");
  return ns / n;
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const h = [];
const p = [];
for (let r = 0; r < ROUNDS; r++) {
  h.push(handoffs());
  p.push(pairs());
}
const a = [];
for (let r = 0; r < 5; r++) a.push(await asyncHandoffs(20_000));
const hand = median(h);
const pair = median(p);
const lines = [
  "| measured | ns | target |",
  "|---|---:|---|",
  `| hand-off through the queue (1 backend, limit 1, ${WAITERS.toLocaleString("en-US")} waiters; median of ${ROUNDS}) | ${hand.toFixed(0)} | <= ${TARGET_NS} ns: ${hand <= TARGET_NS ? "met" : "**not met**"} |`,
  `| acquire+release, same table, no queue | ${pair.toFixed(0)} | |`,
  `| hand-off through acquireAsync (20,000 waiters, a promise and a timer each; median of 5) | ${median(a).toFixed(0)} | |`,
];
const table = lines.join("\n");
console.log(table);
const head = `\`npm run bench:queue\` (bench/queue.mjs): ${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.cpus().length} CPUs; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`;
writeSection(new URL("../docs/BENCHMARKS.md", import.meta.url), "queue", `${head}\n\n${table}`);
