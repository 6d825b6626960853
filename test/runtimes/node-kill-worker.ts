// The worker_threads worker of the kill run in Node (bundled by esbuild):
// one order in, then it hammers until stopped or terminated (kill.ts).

import { parentPort } from "node:worker_threads";
import { type KillOrder, killWorkerMain } from "./kill.js";

parentPort!.once("message", async (order: KillOrder) => {
  try {
    await killWorkerMain(order, (m) => parentPort!.postMessage(m));
  } catch (err) {
    parentPort!.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
