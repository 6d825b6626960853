// The page side of the Chromium tests, bundled by esbuild and served by
// harness.ts: the scenario, the transcripts and the shared-memory run, each
// returning plain data for the Node side to compare.

import { runShared, type SharedOutcome, webWorkerPort } from "./hammer.js";
import { type KillOutcome, runKills, webKillPort } from "./kill.js";
import { loadLibrary } from "./library.js";
import { runScenario } from "./scenario.js";
import type { TranscriptRun } from "./session-entry.js";

const DIST = new URL("/dist/", location.href).href;
// A separate bundle, so a broken node handler fails the transcripts only.
const SESSION = new URL("/test/runtimes/session-entry.js", location.href).href;

export async function scenario(): Promise<string> {
  return runScenario(await loadLibrary(DIST)).text;
}

export async function transcripts(inputs: string[]): Promise<TranscriptRun[]> {
  const { runTranscript }: typeof import("./session-entry.js") = await import(SESSION);
  const runs: TranscriptRun[] = [];
  for (const path of inputs) {
    const response = await fetch(new URL(`/${path}`, location.href));
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    runs.push(runTranscript(new Uint8Array(await response.arrayBuffer())));
  }
  return runs;
}

export async function shared(pairs: number): Promise<SharedOutcome> {
  const spawn = () => webWorkerPort(new Worker("/test/runtimes/web-worker.js", { type: "module" }));
  return runShared(DIST, spawn, pairs);
}

export async function kills(): Promise<KillOutcome> {
  const spawn = () => webKillPort(new Worker("/test/runtimes/web-kill-worker.js", { type: "module" }));
  return runKills(DIST, spawn);
}
