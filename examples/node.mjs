// leastconn in Node: a private table, then one table shared with a
// worker_threads worker. Run from the repository: npm run build && node examples/node.mjs
// (in a project that installed the package, import from "leastconn" and "leastconn/shared").
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { Balancer } from "../dist/index.js";
import { attachShared, createShared } from "../dist/shared.js";

if (isMainThread) {
  const lb = new Balancer({ backends: ["api-1", "api-2", "api-3"] });
  const lease = lb.acquire(); // api-1: every count is 0, ties go to the first
  console.log("picked", lease.backend, "then", lb.acquire().backend);
  lease.release();

  // The handle (a WebAssembly.Module and a shared Memory) is posted as is.
  const { balancer, handle } = createShared({ backends: ["a", "b"] });
  const worker = new Worker(new URL(import.meta.url), { workerData: handle });
  worker.once("message", (picks) => {
    const totals = balancer.snapshot().map((b) => `${b.name}=${b.total}`);
    console.log("worker picked", picks, "totals", totals.join(" "));
    worker.terminate();
  });
} else {
  const balancer = attachShared(workerData);
  const picks = [];
  for (let i = 0; i < 4; i++) picks.push(balancer.acquire().backend); // held, so they spread
  parentPort.postMessage(picks.join(","));
}
