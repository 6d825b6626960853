// The shared-memory stress run, runtime-neutral. The main-thread half
// (runShared) creates one shared table, starts two workers through a
// runtime-specific spawner, opens a gate so both start at once, and returns
// what the workers saw plus the final snapshot; the worker half (workerMain)
// attaches and does its acquire+release pairs. checkShared() states the
// guarantee: no update lost, every count back at 0.

import type { BackendSnapshot } from "../../bindings/index.js";
import type { SharedHandle } from "../../bindings/shared.js";
import { loadLibrary } from "./library.js";

export const SHARED_BACKENDS = ["s0", "s1", "s2", "s3"];
export const PAIRS_PER_WORKER = 1_000_000;
export const WORKERS = 2;
// Every algorithm in turn, this many pairs each, so the spinlock paths
// (cursors, generator) are stressed as well as the atomic counters.
const BLOCK = 1000;
const ALGORITHMS = [
  "least-connections",
  "weighted-least-connections",
  "round-robin",
  "weighted-round-robin",
  "power-of-two-choices",
  "random",
];

export interface WorkerOrder {
  dist: string;
  handle: SharedHandle;
  pairs: number;
  /** Int32 over a SharedArrayBuffer: [0] is the start gate, [1] counts ready workers. */
  gate: Int32Array;
}

export interface WorkerReport {
  pairs: number;
  /** Picks of this worker, per backend name, in table order. */
  picks: Record<string, number>;
  /** Picks that found another thread's request on the same backend. */
  contended: number;
  nullPicks: number;
  ms: number;
}

/** The part of a worker that runShared needs; adapters wrap each runtime's Worker. */
export interface WorkerPort {
  post(message: WorkerOrder): void;
  onMessage(listener: (message: WorkerReport | { error: string }) => void): void;
  terminate(): void;
}

export interface SharedOutcome {
  reports: WorkerReport[];
  snapshot: BackendSnapshot[];
  ms: number;
}

export async function runShared(dist: string, spawn: () => WorkerPort, pairs = PAIRS_PER_WORKER): Promise<SharedOutcome> {
  const { shared } = await loadLibrary(dist);
  const { balancer, handle } = shared.createShared({ backends: SHARED_BACKENDS.map((name, i) => ({ name, weight: i + 1 })) });
  const gate = new Int32Array(new SharedArrayBuffer(8));
  const ports = Array.from({ length: WORKERS }, spawn);
  const started = Date.now();
  try {
    let failed = false;
    const reports = Promise.all(
      ports.map(
        (port) =>
          new Promise<WorkerReport>((resolve, reject) => {
            port.onMessage((message) => ("error" in message ? reject(new Error(message.error)) : resolve(message)));
            port.post({ dist, handle, pairs, gate });
          }),
      ),
    );
    reports.catch(() => (failed = true));
    // Polled, since the main thread of a page may not Atomics.wait: once
    // every worker has attached, release them together.
    while (Atomics.load(gate, 1) < WORKERS && !failed) await new Promise((r) => setTimeout(r, 1));
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    return { reports: await reports, snapshot: balancer.snapshot(), ms: Date.now() - started };
  } finally {
    for (const port of ports) port.terminate();
  }
}

export async function workerMain(order: WorkerOrder): Promise<WorkerReport> {
  const { shared } = await loadLibrary(order.dist);
  const balancer = shared.attachShared(order.handle);
  const counts = new Map<string, number>(balancer.names.map((n) => [n, 0]));
  Atomics.add(order.gate, 1, 1);
  Atomics.wait(order.gate, 0, 0);
  const started = Date.now();
  let contended = 0;
  let nullPicks = 0;
  for (let i = 0; i < order.pairs; i++) {
    const lease = balancer.acquire({ algorithm: ALGORITHMS[Math.floor(i / BLOCK) % ALGORITHMS.length] });
    if (lease === null) {
      nullPicks++;
      continue;
    }
    const name = lease.backend;
    // Ours is released after each pick, so more than 1 means another thread's.
    if (balancer.active(name) > 1) contended++;
    counts.set(name, counts.get(name)! + 1);
    lease.release();
  }
  return { pairs: order.pairs, picks: Object.fromEntries(counts), contended, nullPicks, ms: Date.now() - started };
}

/** Every way the outcome breaks the guarantee; empty when it holds. */
export function checkShared(outcome: SharedOutcome, pairs = PAIRS_PER_WORKER): string[] {
  const problems: string[] = [];
  const names = outcome.snapshot.map((b) => b.name);
  if (names.join() !== SHARED_BACKENDS.join()) problems.push(`backends ${names.join()}`);
  let sum = 0;
  for (const b of outcome.snapshot) {
    if (b.active !== 0) problems.push(`${b.name}: active ${b.active}, not 0`);
    const picked = outcome.reports.reduce((n, r) => n + (r.picks[b.name] ?? 0), 0);
    if (b.total !== picked) problems.push(`${b.name}: total ${b.total}, but the workers picked it ${picked} times`);
    sum += b.total;
  }
  if (sum !== WORKERS * pairs) problems.push(`sum of totals ${sum}, not ${WORKERS * pairs}`);
  for (const r of outcome.reports) if (r.nullPicks !== 0) problems.push(`a worker got ${r.nullPicks} null picks`);
  return problems;
}

/** A WorkerPort over a Web Worker (Deno, browsers). */
export function webWorkerPort(worker: Worker): WorkerPort {
  return {
    post: (message) => worker.postMessage(message),
    onMessage: (listener) => {
      worker.onmessage = (event) => listener(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        listener({ error: `worker error: ${event.message}` });
      };
    },
    terminate: () => worker.terminate(),
  };
}
