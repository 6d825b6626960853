// The worker_threads worker of the shared-memory test in Node (bundled by
// esbuild, since a worker does not go through vitest's transform).

import { parentPort } from "node:worker_threads";
import { type WorkerOrder, workerMain } from "./hammer.js";

parentPort!.once("message", async (order: WorkerOrder) => {
  try {
    parentPort!.postMessage(await workerMain(order));
  } catch (err) {
    parentPort!.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
