// The implementations bench/core.mjs times, each behind one interface:
// subject(kind, n, scenario, options) → { run(k), trace(k) }.
//
// core.mjs imports this file once per table row under its own query string,
// and the query is passed on to the bundle and the baselines, so each row
// gets private copies of Balancer, Lease and the loops below. Every call
// site then sees a single implementation, as it would in an application;
// A call site shared by several implementations (polymorphic) measured about
// 3x the cost at n=3.
//
// Scenarios: "strict" acquires and releases at once (counts stay 0/1);
// "held" keeps ~n/2 requests open in a ring and releases the oldest after
// each acquire, so counts differ and the API's tree reorders on every call.

import { readFileSync } from "node:fs";
import { baseline } from "./baseline.mjs";

const tag = new URL(import.meta.url).search;
const sibling = (path) => new URL(path + tag, import.meta.url).href;
// The single-file browser bundle: dist/index.js re-exports a chunk shared
// with dist/shared.js, and that chunk's import carries no query string, so
// every row would share one Balancer (and its call sites) through it.
const { Balancer } = await import(sibling("../dist/index.min.js"));
// The previous build (bench/baseline.mjs, "core"), under the same query string.
const { Balancer: PreviousBalancer } = await import((await baseline("core")) + tag);
const { createArrayScan, createSeedMapScan } = await import(sibling("./baselines.mjs"));

// Read once, when core.mjs sets up its rows, so a rebuild by someone else
// mid-run cannot hand the raw row different bytes from the bundle's.
const coreBytes = readFileSync(new URL("../build/core.wasm", import.meta.url));

/** What the injected constant clock returns (ms). */
export const NOW = 1_700_000_000_000;
const constantClock = () => NOW;

export const heldCount = (n) => Math.max(1, n >> 1);
const backendName = (i) => `backend-${i}`;
const indexOf = (name) => Number(name.slice(8));

/**
 * kind: "api" | "previous" | "raw" | "array" | "seed". For "api" (today's
 * bundle) and "previous" (bench/baseline.mjs "core", the build before limits, slow
 * start and peak-ewma), options.clock is "constant" or "default",
 * options.algorithm a name (default least-connections), options.weighted
 * gives backend i weight 1 + i % 4 and options.limit (today's build only)
 * sets that limit on every backend through the core (the Balancer has no
 * option for it yet).
 */
export function subject(kind, n, scenario, options = {}) {
  if (scenario !== "strict" && scenario !== "held") throw new Error(`unknown scenario ${scenario}`);
  const make = {
    api: (n, held, options) => apiSubject(Balancer, n, held, options),
    previous: (n, held, options) => apiSubject(PreviousBalancer, n, held, options),
    raw: rawSubject,
    array: arraySubject,
    seed: seedSubject,
  }[kind];
  if (make === undefined) throw new Error(`unknown subject ${kind}`);
  return make(n, scenario === "held", options);
}

function apiSubject(Balancer, n, held, { clock = "constant", algorithm, weighted = false, limit }) {
  const backends = [];
  for (let i = 0; i < n; i++) backends.push(weighted ? { name: backendName(i), weight: 1 + (i % 4) } : backendName(i));
  const lb = new Balancer({ backends, algorithm, ...(clock === "constant" ? { clock: constantClock } : {}) });
  if (limit !== undefined) for (let i = 0; i < n; i++) lb.setMaxConnections(backendName(i), limit);
  if (!held) {
    return {
      run(k) {
        let sum = 0;
        for (let j = 0; j < k; j++) {
          const l = lb.acquire();
          sum += l.release() ? 1 : 0;
        }
        return sum;
      },
      trace(k) {
        const picks = [];
        for (let j = 0; j < k; j++) {
          const l = lb.acquire();
          picks.push(indexOf(l.backend));
          l.release();
        }
        return picks;
      },
    };
  }
  const size = heldCount(n);
  const ring = [];
  // Every weighted-round-robin pick scans all n: filling 50,000 leases that
  // way at n=100,000 would take about 30 s, so least-connections fills them.
  if (lb.algorithm === "weighted-round-robin") lb.algorithm = "least-connections";
  for (let j = 0; j < size; j++) ring.push(lb.acquire());
  if (algorithm !== undefined) lb.algorithm = algorithm;
  let at = 0;
  return {
    run(k) {
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const l = lb.acquire();
        sum += ring[at].release() ? 1 : 0;
        ring[at] = l;
        at = at + 1 === size ? 0 : at + 1;
      }
      return sum;
    },
    trace(k) {
      const picks = [];
      for (let j = 0; j < k; j++) {
        const l = lb.acquire();
        picks.push(indexOf(l.backend));
        ring[at].release();
        ring[at] = l;
        at = at + 1 === size ? 0 : at + 1;
      }
      return picks;
    },
  };
}

// The release core without the bindings: the same Wasm bytes the bundle
// inlines, instantiated here so its exports are called with nothing between
// (release with no duration, -1, as the bindings call it today).
function rawSubject(n, held) {
  const module = new WebAssembly.Module(coreBytes);
  const e = new WebAssembly.Instance(module, {}).exports;
  if (e.reset(n, 0, 0) < 0) throw new Error(`core cannot hold ${n} backends`);
  for (let i = 0; i < n; i++) e.add(1);
  const acquire = e.acquire;
  const release = e.release;
  const now = NOW;
  if (!held) {
    return {
      run(k) {
        let sum = 0;
        for (let j = 0; j < k; j++) sum += release(acquire(0, now), -1, now);
        return sum;
      },
      trace(k) {
        const picks = [];
        for (let j = 0; j < k; j++) {
          const i = acquire(0, now);
          picks.push(i);
          release(i, -1, now);
        }
        return picks;
      },
    };
  }
  const size = heldCount(n);
  const ring = new Int32Array(size);
  for (let j = 0; j < size; j++) ring[j] = acquire(0, now);
  let at = 0;
  return {
    run(k) {
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const i = acquire(0, now);
        sum += release(ring[at], -1, now);
        ring[at] = i;
        at = at + 1 === size ? 0 : at + 1;
      }
      return sum;
    },
    trace(k) {
      const picks = [];
      for (let j = 0; j < k; j++) {
        const i = acquire(0, now);
        picks.push(i);
        release(ring[at], -1, now);
        ring[at] = i;
        at = at + 1 === size ? 0 : at + 1;
      }
      return picks;
    },
  };
}

function arraySubject(n, held) {
  const { active, acquire, release } = createArrayScan(n);
  if (!held) {
    return {
      run(k) {
        let sum = 0;
        for (let j = 0; j < k; j++) {
          const i = acquire();
          release(i);
          sum += i;
        }
        return sum;
      },
      trace(k) {
        const picks = [];
        for (let j = 0; j < k; j++) {
          const i = acquire();
          picks.push(i);
          release(i);
        }
        return picks;
      },
    };
  }
  // Filled directly: from all-zero counts, n/2 acquires give backends
  // 0..n/2-1 one each, in order. trace() checks this against the API.
  const size = heldCount(n);
  const ring = new Int32Array(size);
  for (let j = 0; j < size; j++) {
    ring[j] = j;
    active[j] = 1;
  }
  let at = 0;
  return {
    run(k) {
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const i = acquire();
        release(ring[at]);
        ring[at] = i;
        at = at + 1 === size ? 0 : at + 1;
        sum += i;
      }
      return sum;
    },
    trace(k) {
      const picks = [];
      for (let j = 0; j < k; j++) {
        const i = acquire();
        picks.push(i);
        release(ring[at]);
        ring[at] = i;
        at = at + 1 === size ? 0 : at + 1;
      }
      return picks;
    },
  };
}

function seedSubject(n, held) {
  const names = [];
  for (let i = 0; i < n; i++) names.push(backendName(i));
  const { backendStates, routeRequest, requestComplete } = createSeedMapScan(names);
  if (!held) {
    return {
      run(k) {
        let sum = 0;
        for (let j = 0; j < k; j++) {
          const b = routeRequest();
          requestComplete(b);
          sum += b.length;
        }
        return sum;
      },
      trace(k) {
        const picks = [];
        for (let j = 0; j < k; j++) {
          const b = routeRequest();
          picks.push(indexOf(b));
          requestComplete(b);
        }
        return picks;
      },
    };
  }
  // Filled directly, as in arraySubject: routing 50,000 requests through a
  // 100,000-backend scan first would take about 20 s.
  const size = heldCount(n);
  const ring = [];
  for (let j = 0; j < size; j++) {
    ring.push(names[j]);
    backendStates.get(names[j]).activeConnections = 1;
  }
  let at = 0;
  return {
    run(k) {
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const b = routeRequest();
        requestComplete(ring[at]);
        ring[at] = b;
        at = at + 1 === size ? 0 : at + 1;
        sum += b.length;
      }
      return sum;
    },
    trace(k) {
      const picks = [];
      for (let j = 0; j < k; j++) {
        const b = routeRequest();
        picks.push(indexOf(b));
        requestComplete(ring[at]);
        ring[at] = b;
        at = at + 1 === size ? 0 : at + 1;
      }
      return picks;
    },
  };
}
