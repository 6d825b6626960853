// Two vitest projects. `unit` is the fast loop (`npm run test:unit`, a few
// seconds): algorithms, API, misuse, the node's parts and golden transcripts.
// `slow` holds what starts other runtimes, fuzzes, runs property searches,
// hammers workers or measures a process's memory. `npm test` runs both.
// A new test file is a unit test unless it is listed in SLOW.
import { configDefaults, defineConfig } from "vitest/config";

const SLOW = [
  "test/core/property.test.ts",
  "test/cli/fuzz.test.ts",
  "test/cli/limits.test.ts",
  "test/cli/transcripts-binary.test.ts",
  // the node as a process: peak memory, signals, closed pipes
  "test/cli/memory.test.ts",
  "test/cli/process.test.ts",
  "test/runtimes/node.test.ts",
  "test/runtimes/deno.test.ts",
  "test/runtimes/chromium.test.ts",
  "test/runtimes/package.test.ts",
  // proxy: 20,000 requests with faults; the CLI as processes
  "test/proxy/counting.test.ts",
  "test/proxy/cli.test.ts",
  "test/proxy/stream.test.ts",
  // simulator: millions of simulated requests; Deno and Chromium runs
  "test/sim/theory.test.ts",
  "test/sim/conformance.test.ts",
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
