// The Web Worker of the kill run, for Deno (run as is) and Chromium (bundled
// by esbuild): one order in, then it hammers until stopped or terminated.

import { type KillOrder, killWorkerMain } from "./kill.js";

self.onmessage = async (event: MessageEvent<KillOrder>) => {
  try {
    await killWorkerMain(event.data, (m) => self.postMessage(m));
  } catch (err) {
    self.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
};
