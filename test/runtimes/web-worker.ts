// The Web Worker of the shared-memory test, for Deno (run as is) and
// Chromium (bundled by esbuild): one order in, one report out.

import { type WorkerOrder, workerMain } from "./hammer.js";

self.onmessage = async (event: MessageEvent<WorkerOrder>) => {
  try {
    self.postMessage(await workerMain(event.data));
  } catch (err) {
    self.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
};
