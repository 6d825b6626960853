// The kill run, runtime-neutral: 4 workers hammer one shared table with
// acquire, hold and release; the main thread terminates a random worker at a
// random moment KILLS times in a row, reclaims its thread id and starts a
// replacement. Some kills are forced inside a locked call (the worker arms
// the threads build's test-only pause, so it dies holding the lock). After
// every kill and reclaim the live workers stop between calls and publish the
// leases they hold; each backend's count must equal their sum. At the end the
// workers release everything and detach: every count must be 0.
//
// Control words (Int32Array over a SharedArrayBuffer): PAUSE (an epoch, 0 =
// run) asks workers to stop between calls, ACK + position is the epoch a
// worker stopped at (per position: a terminated Web Worker may run on for a
// moment, so a shared counter could count it), STOP ends the run, LOCK_AT
// names (position + 1) a worker that must die inside a locked call, OWNER +
// position the token of the worker now at that position (one that finds
// another token was terminated, and stops touching anything); then
// HELD + position * BACKENDS.length + b is what that worker holds on b.

import type { SharedHandle } from "../../bindings/shared.js";
import { loadLibrary } from "./library.js";

export const KILL_BACKENDS = ["k0", "k1", "k2", "k3"];
export const KILL_WORKERS = 4;
export const KILLS = 100;
/** Kills forced inside a locked call, at these iterations, with these algorithms. */
const LOCK_KILLS = new Map([
  [10, "power-of-two-choices"],
  [45, "weighted-round-robin"],
  [80, "random"],
]);
const ALGORITHMS = [
  "least-connections",
  "weighted-least-connections",
  "round-robin",
  "weighted-round-robin",
  "power-of-two-choices",
  "random",
];
const MAX_HELD = 6;
const [PAUSE, STOP, LOCK_AT, ACK, OWNER, HELD] = [0, 1, 2, 4, 4 + KILL_WORKERS, 4 + 2 * KILL_WORKERS];
const CONTROL_WORDS = HELD + KILL_WORKERS * KILL_BACKENDS.length;

export interface KillOrder {
  dist: string;
  handle: SharedHandle;
  control: Int32Array;
  position: number;
  seed: number;
  /** Unique per spawn; see OWNER. */
  token: number;
}

export type KillMessage = { ready: number } | { done: number; timeouts: number } | { error: string };

export interface KillPort {
  post(order: KillOrder): void;
  onMessage(listener: (message: KillMessage) => void): void;
  /** Resolves once the worker is gone (as far as the runtime tells). */
  terminate(): Promise<void>;
}

export interface KillOutcome {
  kills: number;
  lockKills: number;
  /** LockTimeoutError codes seen by the main thread while a worker held the lock paused. */
  mainTimeouts: string[];
  /** Leases given back by each reclaim. */
  reclaimed: number[];
  /** Every mismatch between counts and held leases, as text; empty when exact. */
  problems: string[];
  finalActive: number[];
  ms: number;
}

// A small seeded generator (mulberry32), so a failure can be replayed.
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(what: string, deadline: number, test: () => boolean): Promise<void> {
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

export async function runKills(dist: string, spawn: () => KillPort, seed = 12, kills = KILLS, budgetMs = 40_000): Promise<KillOutcome> {
  const { shared } = await loadLibrary(dist);
  const deadline = Date.now() + budgetMs;
  const started = Date.now();
  const rand = random(seed);
  const { balancer } = shared.createShared({ backends: KILL_BACKENDS, maxThreads: 16 });
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  const ports: (KillPort | undefined)[] = [];
  const threads: number[] = [];
  const ready: boolean[] = [];
  const outcome: KillOutcome = { kills: 0, lockKills: 0, mainTimeouts: [], reclaimed: [], problems: [], finalActive: [], ms: 0 };
  let failure: string | undefined;
  const done: (number | undefined)[] = [];
  let spawned = 0;

  const start = (position: number): void => {
    const handle = balancer.reserveThread();
    const port = spawn();
    ports[position] = port;
    threads[position] = handle.thread;
    ready[position] = false;
    done[position] = undefined;
    port.onMessage((m) => {
      if (ports[position] !== port) return;
      if ("error" in m) failure ??= m.error;
      else if ("ready" in m) ready[position] = true;
      else done[position] = m.timeouts;
    });
    const token = ++spawned;
    Atomics.store(control, OWNER + position, token);
    port.post({ dist, handle, control, position, seed: Math.floor(rand() * 2 ** 31), token });
  };
  const check = (): void => {
    if (failure !== undefined) throw new Error(`a worker failed: ${failure}`);
  };

  // Stops the live workers between calls and compares counts with their leases.
  let epoch = 0;
  const compare = async (label: string, live: number[]): Promise<void> => {
    const e = ++epoch;
    Atomics.store(control, PAUSE, e);
    await until(
      `${live.length} workers to pause (${label})`,
      deadline,
      () => (check(), live.every((p) => Atomics.load(control, ACK + p) === e)),
    );
    // The live workers are stopped; only a terminated Web Worker still
    // finishing the call it was in (and taking its lease back) can move a
    // count now, so the counts must settle on the held leases within 200 ms.
    let wrong: string[] = [];
    for (let tries = 0; tries < 20; tries++) {
      wrong = [];
      for (const [b, name] of KILL_BACKENDS.entries()) {
        const held = live.reduce((n, p) => n + Atomics.load(control, HELD + p * KILL_BACKENDS.length + b), 0);
        const active = balancer.active(name);
        if (active !== held) wrong.push(`${label}: ${name} active ${active}, live workers hold ${held}`);
      }
      if (wrong.length === 0) break;
      await sleep(10);
    }
    outcome.problems.push(...wrong);
    Atomics.store(control, PAUSE, 0);
    Atomics.notify(control, PAUSE);
  };

  try {
    for (let p = 0; p < KILL_WORKERS; p++) start(p);
    await until("the workers to start", deadline, () => (check(), ready.every(Boolean)));
    for (let k = 0; k < kills; k++) {
      const victim = Math.floor(rand() * KILL_WORKERS);
      const lockAlgorithm = LOCK_KILLS.get(k);
      if (lockAlgorithm !== undefined) {
        // The victim arms the pause and makes a locked call: it stops inside.
        Atomics.store(control, LOCK_AT, (victim + 1) | (ALGORITHMS.indexOf(lockAlgorithm) << 8));
        await until(`worker ${victim} to hold the lock`, deadline, () => (check(), balancer._lockOwner() === threads[victim]));
        if (outcome.lockKills === 0) {
          // A live owner cannot be proven dead: the spin is bounded, with a code.
          try {
            balancer.acquire({ algorithm: "random" })?.release();
            outcome.mainTimeouts.push("no error");
          } catch (err) {
            outcome.mainTimeouts.push((err as { code?: string }).code ?? String(err));
          }
        }
        outcome.lockKills++;
      } else {
        await sleep(rand() * 6);
      }
      check();
      await ports[victim]!.terminate();
      Atomics.store(control, OWNER + victim, 0);
      ports[victim] = undefined;
      outcome.reclaimed.push(balancer.reclaim(threads[victim]!));
      if (balancer.reclaim(threads[victim]!) !== 0) outcome.problems.push(`kill ${k}: a second reclaim gave leases back`);
      outcome.kills++;
      if (lockAlgorithm !== undefined) {
        Atomics.store(control, LOCK_AT, 0);
        // The next locked call takes the dead owner's lock over.
        balancer.acquire({ algorithm: lockAlgorithm })?.release();
        if (balancer._lockOwner() === threads[victim]) outcome.problems.push(`kill ${k}: the dead worker still holds the lock`);
      }
      await compare(
        `kill ${k}`,
        [...Array(KILL_WORKERS).keys()].filter((p) => p !== victim),
      );
      start(victim);
      await until(`worker ${victim}'s replacement to start`, deadline, () => (check(), ready[victim] === true));
    }
    Atomics.store(control, STOP, 1);
    Atomics.notify(control, PAUSE);
    await until("the workers to detach", deadline, () => (check(), done.every((d) => d !== undefined)));
    for (const p of threads.keys()) if (balancer.reclaim(threads[p]!) !== 0) outcome.problems.push(`worker ${p} left leases after detach`);
    outcome.finalActive = KILL_BACKENDS.map((name) => balancer.active(name));
  } finally {
    for (const port of ports) void port?.terminate();
  }
  outcome.ms = Date.now() - started;
  return outcome;
}

/** The worker half: attach with the reserved thread id, then hammer until STOP (or death). */
export async function killWorkerMain(order: KillOrder, post: (m: KillMessage) => void): Promise<void> {
  const { shared } = await loadLibrary(order.dist);
  const balancer = shared.attachShared(order.handle);
  const { control, position } = order;
  const rand = random(order.seed);
  type Held = { backend: string; release(): boolean };
  const held: Held[] = [];
  const row = HELD + position * KILL_BACKENDS.length;
  let timeouts = 0;
  post({ ready: position });
  for (;;) {
    // Terminated but still running (a Web Worker may run on for a moment).
    if (Atomics.load(control, OWNER + position) !== order.token) return;
    const pause = Atomics.load(control, PAUSE);
    if (pause !== 0) {
      if (Atomics.load(control, ACK + position) !== pause) {
        for (const [b, name] of KILL_BACKENDS.entries()) Atomics.store(control, row + b, held.filter((l) => l.backend === name).length);
        Atomics.store(control, ACK + position, pause);
      }
      Atomics.wait(control, PAUSE, pause, 50);
      continue;
    }
    if (Atomics.load(control, STOP) === 1) break;
    const lockAt = Atomics.load(control, LOCK_AT);
    let algorithm = ALGORITHMS[Math.floor(rand() * ALGORITHMS.length)]!;
    if ((lockAt & 0xff) === position + 1) {
      balancer._pauseNextLock();
      algorithm = ALGORITHMS[lockAt >> 8]!;
    } else if (held.length >= MAX_HELD || (held.length > 0 && rand() < 0.45)) {
      const [lease] = held.splice(Math.floor(rand() * held.length), 1);
      if (!lease!.release()) throw new Error(`a live worker's lease of ${lease!.backend} did not release`);
      continue;
    }
    try {
      const lease = balancer.acquire({ algorithm });
      if (lease !== null) held.push(lease);
    } catch (err) {
      // The lock of a killed worker not yet reclaimed: bounded, then retried.
      if ((err as { code?: string }).code !== "LC_ERR_LOCK_TIMEOUT") throw err;
      timeouts++;
    }
  }
  for (const lease of held) lease.release();
  balancer.detach();
  post({ done: position, timeouts });
}

/** A KillPort over a Web Worker (Deno, browsers): terminate() stops it at once. */
export function webKillPort(worker: Worker): KillPort {
  return {
    post: (order) => worker.postMessage(order),
    onMessage: (listener) => {
      worker.onmessage = (event) => listener(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        listener({ error: `worker error: ${event.message}` });
      };
    },
    // terminate() returns before the worker has stopped: a worker the OS had
    // descheduled inside a call finishes that call first. Reclaiming it then
    // would miss the lease it was counting, so give it a moment to stop.
    terminate: async () => {
      worker.terminate();
      await new Promise((r) => setTimeout(r, 30));
    },
  };
}
