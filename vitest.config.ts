// Two vitest projects. `unit` is the fast loop (`npm run test:unit`, under
// 10 s on this 2-core machine with both cores as workers): algorithms, API,
// misuse, the node's parts and golden transcripts. `slow` holds what starts
// other runtimes or processes, opens real sockets, fuzzes, runs property
// searches or storms, builds tables of 100,000 backends and more, hammers
// workers or measures a process's memory. `npm test` runs both.
// A new test file is a unit test unless it is listed in SLOW; keep the
// unit project under 10 s (a test that needs seconds belongs in SLOW).
import { configDefaults, defineConfig } from "vitest/config";

const SLOW = [
  "test/core/property.test.ts",
  "test/core/large-tables.test.ts",
  "test/cli/completed-ids.test.ts",
  "test/cli/resilience-storms.test.ts",
  "test/cli/fuzz.test.ts",
  "test/cli/limits.test.ts",
  "test/cli/transcripts-binary.test.ts",
  // a table of 2^24 slots; Balancers under `ulimit -v`
  "test/wasm/memory-bound.test.ts",
  "test/wasm/address-space.test.ts",
  // the node as a process: peak memory, signals, closed pipes
  "test/cli/memory.test.ts",
  "test/cli/process.test.ts",
  "test/runtimes/node.test.ts",
  "test/runtimes/deno.test.ts",
  "test/runtimes/chromium.test.ts",
  "test/runtimes/package.test.ts",
  "test/cli/main.test.ts",
  // proxy: real sockets, timeouts, 20,000 requests with faults; the CLI as processes
  "test/proxy/counting.test.ts",
  "test/proxy/cli.test.ts",
  "test/proxy/stream.test.ts",
  "test/proxy/errors.test.ts",
  "test/proxy/forward.test.ts",
  "test/proxy/resilience.test.ts",
  "test/proxy/websocket.test.ts",
  "test/proxy/faults.test.ts",
  "test/proxy/cli-faults.test.ts",
  // simulator: millions of simulated requests; Deno and Chromium runs
  "test/sim/theory.test.ts",
  "test/sim/conformance.test.ts",
  "test/sim/cli.test.ts",
  "test/sim/page-server.test.ts",
  // Balanced clients: real sockets, a 10,000-request storm, Deno and Chromium.
  "test/clients/undici.test.ts",
  "test/clients/fetch.test.ts",
  "test/clients/deno.test.ts",
  "test/clients/chromium.test.ts",
  // shared tables: workers killed mid-call (about 12 s each runtime)
  "test/runtimes/kill-node.test.ts",
  "test/runtimes/kill-deno.test.ts",
  "test/runtimes/kill-chromium.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      // `extends: true` shares the timeouts; each project names its own files
      // (a root `include` would be merged into both).
      { extends: true, test: { name: "unit", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, ...SLOW] } },
      { extends: true, test: { name: "slow", include: SLOW } },
    ],
  },
});
