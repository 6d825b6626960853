// Baselines for bench/core.mjs: the reference Map scan, the original sample
// tracker's routeRequest/requestComplete copied as written,
// and a plain JS Int32Array scan with the same pick rule (fewest active, the
// earliest backend on ties). Neither records totals or timestamps per pick:
// the reference code does not, so neither does the fairest plain-JS rival.

/** The reference tracker over `names`, in their order (a Map iterates in insertion order). */
export function createSeedMapScan(names) {
  const backendStates = new Map();
  for (const name of names) {
    backendStates.set(name, { activeConnections: 0, totalRequests: 0, lastUsed: Date.now() });
  }

  // ---- the reference code, types dropped, otherwise as written ----
  function routeRequest() {
    // Find backend with minimum active connections
    let minBackend = null;
    let minConnections = Infinity;
    for (const [backend, state] of backendStates) {
      if (state.activeConnections < minConnections) {
        minConnections = state.activeConnections;
        minBackend = backend;
      }
    }
    // Increment counter atomically
    backendStates.get(minBackend).activeConnections++;
    return minBackend;
  }
  function requestComplete(backend) {
    backendStates.get(backend).activeConnections--;
  }
  // ---- end of the reference code ----

  return { backendStates, routeRequest, requestComplete };
}

/** Counts in one Int32Array; a backend is its index. */
export function createArrayScan(n) {
  const active = new Int32Array(n);
  function acquire() {
    let best = 0;
    let min = active[0];
    for (let i = 1; i < n; i++) {
      const a = active[i];
      if (a < min) {
        min = a;
        best = i;
      }
    }
    active[best] = min + 1;
    return best;
  }
  function release(i) {
    active[i]--;
  }
  return { active, acquire, release };
}
