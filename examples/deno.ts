// leastconn in Deno: a private table, then one table shared with a Web
// Worker. Run from the repository: npm run build && npx deno run --allow-read examples/deno.ts
// (with the package from npm: import from "npm:leastconn" and "npm:leastconn/shared").
// @ts-types="../dist/types/bindings/index.d.ts"
import { Balancer } from "../dist/index.js";
// @ts-types="../dist/types/bindings/shared.d.ts"
import { attachShared, createShared, type SharedHandle } from "../dist/shared.js";

if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === "undefined") {
  const lb = new Balancer({ backends: ["api-1", "api-2", "api-3"], algorithm: "p2c", seed: 7 });
  const lease = lb.acquire()!;
  console.log("picked", lease.backend, "then", lb.acquire()!.backend);
  lease.release();

  // The handle (a WebAssembly.Module and a shared Memory) is posted as is.
  const { balancer, handle } = createShared({ backends: ["a", "b"] });
  const worker = new Worker(import.meta.url, { type: "module" });
  worker.onmessage = (event: MessageEvent<string>) => {
    const totals = balancer.snapshot().map((b) => `${b.name}=${b.total}`);
    console.log("worker picked", event.data, "totals", totals.join(" "));
    worker.terminate();
  };
  worker.postMessage(handle);
} else {
  // One file plays both parts; Deno types it as a window, so the worker
  // scope is seen through the same two members a Worker has.
  const scope = self as unknown as Worker;
  scope.onmessage = (event: MessageEvent<SharedHandle>) => {
    const balancer = attachShared(event.data);
    const picks = [0, 1, 2, 3].map(() => balancer.acquire()!.backend); // held, so they spread
    scope.postMessage(picks.join(","));
  };
}
